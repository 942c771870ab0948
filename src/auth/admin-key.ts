import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The admin credential (like Hasura's admin secret): ADMIN_API_KEY when set, else
 * one generated at first start and kept in the data directory with mode 0600. It is
 * printed once, when generated, and never logged.
 */
export function resolveAdminKey(configured: string | undefined, dataDir: string): { key: string; generated: boolean } {
  if (configured) return { key: configured, generated: false };
  const file = path.join(dataDir, 'admin-api-key');
  if (fs.existsSync(file)) return { key: fs.readFileSync(file, 'utf8').trim(), generated: false };
  fs.mkdirSync(dataDir, { recursive: true });
  const key = `adm_${randomBytes(32).toString('base64url')}`;
  fs.writeFileSync(file, key + '\n', { mode: 0o600 });
  return { key, generated: true };
}
