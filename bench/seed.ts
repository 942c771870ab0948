import { createHash } from 'node:crypto';
import type { ClientBase } from 'pg';

/**
 * Set-based seeding for the benchmark: generate_series and INSERT … SELECT, never API
 * calls. Every ID is derived from a tag and a row number, so seeding the same tag twice
 * gives byte-identical data: the server and the SQL floor each delete a fresh copy of
 * the very same rows.
 *
 * IDs have the API's shape, a prefix and 26 characters of Crockford base32: md5 hex,
 * upper-cased, is a subset of that alphabet.
 */

const TABLES = [
  'events',
  'deletion_receipts',
  'sessions',
  'memberships',
  'organization_domains',
  'organization_settings',
  'users',
  'organizations',
];

/** The tables the API owns that exist in this database (other features may add more). */
async function existingTables(client: ClientBase): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'migrations'`,
  );
  return rows.map((row) => row.name);
}

/** Empties every table (fresh files, no bloat carried from one run to the next). */
export async function resetData(client: ClientBase): Promise<void> {
  const tables = await existingTables(client);
  const known = TABLES.filter((table) => tables.includes(table));
  const others = tables.filter((table) => !TABLES.includes(table));
  // The server's background work (the deletion-job and webhook workers' polls) can hold one of
  // these tables while TRUNCATE waits for the next: PostgreSQL then aborts one side with a
  // deadlock (40P01, seen once in case 2). Nothing was truncated; try again.
  for (let attempt = 1; ; attempt += 1) {
    try {
      await client.query(`TRUNCATE ${[...others, ...known].map((t) => `"${t}"`).join(', ')} RESTART IDENTITY CASCADE`);
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== '40P01' || attempt >= 5) throw error;
    }
  }
}

/** Makes the seeded tables look like a settled production database: statistics, visibility map, no pending checkpoint. */
export async function settle(client: ClientBase): Promise<void> {
  await client.query('VACUUM ANALYZE');
  await client.query('CHECKPOINT');
}

export function idSql(prefix: 'usr' | 'org' | 'mem' | 'ses', seed: string): string {
  return `'${prefix}_' || upper(substr(md5(${seed}), 1, 26))`;
}

export function organizationId(tag: string): string {
  return `org_${createHash('md5').update(`org:${tag}`).digest('hex').slice(0, 26).toUpperCase()}`;
}

export interface OrganizationCase {
  organizationId: string;
  otherOrganizationId: string;
  members: number;
}

/**
 * An organization of `members` members, 3 active sessions each; the even-numbered half
 * also belong to a second organization (they are retained, the other half cascade).
 * The second organization also has `background` members of its own, untouched by the
 * deletion. Both organizations have a settings row and domains. Sessions: the first
 * names the organization being deleted, the second none, the third the other
 * organization for retained members.
 */
export async function seedOrganizationCase(
  client: ClientBase,
  tag: string,
  members: number,
  background = 5_000,
): Promise<OrganizationCase> {
  const target = organizationId(tag);
  const other = organizationId(`${tag}:other`);
  const user = (i: string) => idSql('usr', `'u:${tag}:' || ${i}`);
  const total = members + background;
  await client.query('BEGIN');
  await client.query(
    `INSERT INTO organizations (id, name, external_id) VALUES ($1, $3, $4), ($2, $5, NULL)`,
    [target, other, `Bench ${tag}`, `ext-${tag}`, `Bench ${tag} (other)`],
  );
  await client.query(
    `INSERT INTO organization_settings (organization_id, data)
     VALUES ($1, '{"sso": true, "mfaRequired": true}'), ($2, '{}')`,
    [target, other],
  );
  await client.query(
    `INSERT INTO organization_domains (domain, organization_id)
     VALUES ($1, $3), ($2, $3), ($4, $5)`,
    [`${tag}.example.com`, `${tag}.example.org`, target, `${tag}-other.example.com`, other],
  );
  // Users 1..members are the organization's members; members+1..total are background.
  await client.query(
    `INSERT INTO users (id, email, email_key, name)
     SELECT id, email, lower(email), name FROM (
       SELECT ${user('i')} AS id, 'user' || i || '@' || $1 || '.example.com' AS email, 'Bench User ' || i AS name
         FROM generate_series(1, $2::int) i) seeded`,
    [tag, total],
  );
  await client.query(
    `INSERT INTO memberships (id, organization_id, user_id, role)
     SELECT ${idSql('mem', `'m:${tag}:' || i`)}, $1, ${user('i')},
            CASE WHEN i = 1 THEN 'OWNER' WHEN i % 100 = 0 THEN 'ADMIN' ELSE 'MEMBER' END
       FROM generate_series(1, $2::int) i`,
    [target, members],
  );
  await client.query(
    `INSERT INTO memberships (id, organization_id, user_id, role)
     SELECT ${idSql('mem', `'o:${tag}:' || i`)}, $1, ${user('i')}, CASE WHEN i = $3 + 1 THEN 'OWNER' ELSE 'MEMBER' END
       FROM generate_series(1, $2::int) i
      WHERE i % 2 = 0 OR i > $3`,
    [other, total, members],
  );
  await client.query(
    `INSERT INTO sessions (id, user_id, organization_id, token_hash, created_at, expires_at)
     SELECT ${idSql('ses', `'s:${tag}:' || i || ':' || k`)}, ${user('i')},
            CASE k WHEN 1 THEN CASE WHEN i <= $3 THEN $1 ELSE $2 END
                   WHEN 2 THEN NULL
                   ELSE CASE WHEN i % 2 = 0 OR i > $3 THEN $2 END END,
            sha256(convert_to('bench-session:${tag}:' || i || ':' || k, 'UTF8')),
            now() - interval '1 hour', now() + interval '7 days'
       FROM generate_series(1, $4::int) i, generate_series(1, 3) k`,
    [target, other, members, total],
  );
  await client.query('COMMIT');
  return { organizationId: target, otherOrganizationId: other, members };
}

/**
 * `count` users for deleteUser, each with 2 memberships (spread over 100 organizations)
 * and 3 active sessions. Returns their IDs in a deterministic order.
 */
export async function seedUserPool(client: ClientBase, tag: string, count: number): Promise<string[]> {
  const user = (i: string) => idSql('usr', `'p:${tag}:' || ${i}`);
  const org = (i: string) => idSql('org', `'po:${tag}:' || ${i}`);
  await client.query('BEGIN');
  await client.query(
    `INSERT INTO organizations (id, name) SELECT ${org('g')}, 'Pool org ' || g FROM generate_series(0, 99) g`,
  );
  await client.query(
    `INSERT INTO organization_settings (organization_id) SELECT ${org('g')} FROM generate_series(0, 99) g`,
  );
  await client.query(
    `INSERT INTO organization_domains (domain, organization_id)
     SELECT 'pool' || g || '-' || d || '.${tag}.example.com', ${org('g')} FROM generate_series(0, 99) g, generate_series(1, 2) d`,
  );
  await client.query(
    `INSERT INTO users (id, email, email_key, name)
     SELECT id, email, lower(email), name FROM (
       SELECT ${user('i')} AS id, 'pool' || i || '@${tag}.example.com' AS email, 'Pool User ' || i AS name
         FROM generate_series(1, $1::int) i) seeded`,
    [count],
  );
  await client.query(
    `INSERT INTO memberships (id, organization_id, user_id, role)
     SELECT ${idSql('mem', `'pm:${tag}:' || i || ':' || k`)}, ${org(`((i + k * 37) % 100)`)}, ${user('i')}, 'MEMBER'
       FROM generate_series(1, $1::int) i, generate_series(0, 1) k`,
    [count],
  );
  await client.query(
    `INSERT INTO sessions (id, user_id, organization_id, token_hash, expires_at)
     SELECT ${idSql('ses', `'ps:${tag}:' || i || ':' || k`)}, ${user('i')},
            CASE WHEN k = 1 THEN ${org('(i % 100)')} END,
            sha256(convert_to('pool-session:${tag}:' || i || ':' || k, 'UTF8')), now() + interval '7 days'
       FROM generate_series(1, $1::int) i, generate_series(1, 3) k`,
    [count],
  );
  const { rows } = await client.query<{ id: string }>(
    `SELECT ${user('i')} AS id FROM generate_series(1, $1::int) i`,
    [count],
  );
  await client.query('COMMIT');
  return rows.map((row) => row.id);
}
