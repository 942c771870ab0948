import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../src/database/embedded';

/**
 * startEmbeddedPostgres's `settings` (the bench's shared_buffers and max_wal_size,
 * bench/harness.ts BENCH_POSTGRES_SETTINGS): each reaches the server as `-c name=value`, and a
 * server started without them keeps PostgreSQL's defaults, as `npm start` and the tests do.
 */
describe('embedded PostgreSQL settings', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'identity-gateway-settings-'));
  let embedded: EmbeddedDatabase | undefined;

  beforeAll(() => fs.chmodSync(dir, 0o755));
  afterAll(async () => {
    await embedded?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function show(url: string, names: string[]): Promise<Record<string, string>> {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const shown: Record<string, string> = {};
      for (const name of names) shown[name] = (await client.query(`SHOW ${name}`)).rows[0][name];
      return shown;
    } finally {
      await client.end();
    }
  }

  it('passes each setting to the server and leaves the others at their defaults', async () => {
    embedded = await startEmbeddedPostgres({ dir, persistent: false, settings: { work_mem: '7MB', max_wal_size: '2GB' } });
    expect(await show(embedded.url(), ['work_mem', 'max_wal_size', 'shared_buffers', 'max_connections'])).toEqual({
      work_mem: '7MB',
      max_wal_size: '2GB',
      shared_buffers: '128MB',
      max_connections: '200',
    });
  }, 120_000);

  it('starts with PostgreSQL defaults when no settings are given', async () => {
    await embedded!.stop();
    embedded = await startEmbeddedPostgres({ dir, persistent: false });
    expect(await show(embedded.url(), ['work_mem', 'max_wal_size'])).toEqual({ work_mem: '4MB', max_wal_size: '1GB' });
  }, 120_000);
});
