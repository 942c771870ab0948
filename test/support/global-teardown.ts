import fs from 'node:fs';
import type { EmbeddedDatabase } from '../../src/database/embedded';

export default async function globalTeardown(): Promise<void> {
  const state = (globalThis as Record<string, unknown>).__embeddedPostgres as
    | { embedded: EmbeddedDatabase; dir: string }
    | undefined;
  if (!state) return;
  await state.embedded.stop();
  fs.rmSync(state.dir, { recursive: true, force: true });
}
