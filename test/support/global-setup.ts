import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../../src/database/embedded';

/**
 * One PostgreSQL for the whole run: TEST_DATABASE_URL when set (CI sets it to its
 * PostgreSQL service for a second pass), else an embedded server in a temporary
 * directory. Every test file then creates its own fresh database on it.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.TEST_DATABASE_URL) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'identity-gateway-test-'));
  fs.chmodSync(dir, 0o755);
  const embedded = await startEmbeddedPostgres({ dir, persistent: false });
  process.env.TEST_DATABASE_URL = embedded.url();
  process.env.TEST_EMBEDDED_PG = '1';
  (globalThis as Record<string, unknown>).__embeddedPostgres = { embedded, dir };
}
