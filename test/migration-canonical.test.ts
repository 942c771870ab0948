import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource, type Logger } from 'typeorm';
import { migrations } from '../ormconfig';
import { ConsentAndCanonicalIdentity1764300300000 } from '../src/database/migrations/1764300300000-consent-and-canonical-identity';
import { newId } from '../src/ids';

/**
 * Issue 9: "A migration adds the canonical key to existing rows. If two existing rows
 * collide, it stops with a clear message that lists their IDs, and changes nothing: never
 * merge or delete." Each test builds a database migrated up to the migration before
 * ConsentAndCanonicalIdentity, writes rows as the old schema allowed them, then runs the
 * pending migrations the way the server does (src/database/database.ts: one transaction each).
 */

const NEW_MIGRATION = migrations.indexOf(ConsentAndCanonicalIdentity1764300300000);
const BEFORE = migrations.slice(0, NEW_MIGRATION);

/** TypeORM prints a failed migration to the console; the tests read the error itself. */
const silent: Logger = { logQuery() {}, logQueryError() {}, logQuerySlow() {}, logSchemaBuild() {}, logMigration() {}, log() {} };

interface OldDatabase {
  /** Runs SQL on the database. */
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs every pending migration, as the server does at start. */
  migrate(): Promise<void>;
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

const opened: OldDatabase[] = [];
afterAll(async () => {
  for (const database of opened) await database.drop();
});

/** A fresh database on TEST_DATABASE_URL's server, migrated only up to ApiKeys1764300200000. */
async function oldDatabase(): Promise<OldDatabase> {
  const baseUrl = process.env.TEST_DATABASE_URL!;
  const name = `test_migration_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = withDatabase(baseUrl, name);
  const old = new DataSource({ type: 'postgres', url, migrations: BEFORE, entities: [], logger: silent });
  await old.initialize();
  await old.runMigrations({ transaction: 'each' });
  const database: OldDatabase = {
    sql: (text, params) => old.query(text, params),
    async migrate() {
      const current = new DataSource({ type: 'postgres', url, migrations, entities: [], logger: silent });
      await current.initialize();
      try {
        await current.runMigrations({ transaction: 'each' });
      } finally {
        await current.destroy();
      }
    },
    async drop() {
      await old.destroy();
      const cleanup = new Client({ connectionString: baseUrl });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await cleanup.end();
    },
  };
  opened.push(database);
  return database;
}

/** Everything a failed migration could have touched: columns, indexes, constraints, every row, the migrations done. */
async function fingerprint(db: OldDatabase) {
  const [columns, indexes, constraints] = await Promise.all([
    db.sql(`SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
             WHERE table_schema = 'public' ORDER BY table_name, column_name`),
    db.sql(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`),
    db.sql(`SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
             WHERE connamespace = 'public'::regnamespace ORDER BY conname`),
  ]);
  const tables = (
    await db.sql<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
    )
  ).map((row) => row.table_name);
  const rows: Record<string, unknown> = {};
  for (const table of tables) {
    const [{ all }] = await db.sql<{ all: unknown }>(
      `SELECT coalesce(json_agg(row_to_json(t)::text ORDER BY row_to_json(t)::text), '[]') AS all FROM "${table}" t`,
    );
    rows[table] = all;
  }
  return { columns, indexes, constraints, rows };
}

async function insertUser(db: OldDatabase, email: string): Promise<string> {
  const id = newId('user');
  await db.sql('INSERT INTO users (id, email, name) VALUES ($1, $2, $3)', [id, email, 'Existing']);
  return id;
}

async function insertOrganization(db: OldDatabase, domains: string[]): Promise<string> {
  const id = newId('organization');
  await db.sql('INSERT INTO organizations (id, name) VALUES ($1, $2)', [id, 'Existing Org']);
  await db.sql('INSERT INTO organization_settings (organization_id) VALUES ($1)', [id]);
  for (const domain of domains) {
    await db.sql('INSERT INTO organization_domains (domain, organization_id) VALUES ($1, $2)', [domain, id]);
  }
  return id;
}

async function migrationError(db: OldDatabase): Promise<string> {
  try {
    await db.migrate();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the migration to stop');
}

describe('ConsentAndCanonicalIdentity1764300300000 on existing data', () => {
  it('stops on users whose emails are one address, listing every colliding ID, and changes nothing', async () => {
    const db = await oldDatabase();
    // The old unique index compared lower(email) only: each pair went in as two accounts.
    const precomposed = await insertUser(db, 'jürgen@example.com');
    const decomposed = await insertUser(db, 'ju\u0308rgen@example.com');
    const uLabel = await insertUser(db, 'qa@münchen.example');
    const aLabel = await insertUser(db, 'QA@xn--mnchen-3ya.example');
    const bystander = await insertUser(db, 'someone.else@example.com');
    await insertOrganization(db, ['acme.example']);
    const before = await fingerprint(db);

    const message = await migrationError(db);
    expect(message).toMatch(/Migration ConsentAndCanonicalIdentity stopped/);
    expect(message).toMatch(/nothing was changed/);
    for (const id of [precomposed, decomposed, uLabel, aLabel]) expect(message).toContain(id);
    expect(message).toContain(`[${[precomposed, decomposed].sort().join(', ')}]`);
    expect(message).toContain(`[${[uLabel, aLabel].sort().join(', ')}]`);
    expect(message).not.toContain(bystander);
    // No personal data in the message: IDs only.
    expect(message).not.toMatch(/jürgen|münchen|example/);

    const after = await fingerprint(db);
    expect(after).toEqual(before);
    expect(after.columns).not.toContainEqual(expect.objectContaining({ table_name: 'users', column_name: 'email_key' }));
    expect(after.indexes).toContainEqual(expect.objectContaining({ indexname: 'users_email_lower_key' }));
    expect(after.rows).not.toHaveProperty('invitations');
    expect(await db.sql('SELECT name FROM migrations ORDER BY id')).toEqual(BEFORE.map((m) => ({ name: m.name })));
  });

  it('stops on an organization holding one domain under two spellings, naming the organization, and changes nothing', async () => {
    const db = await oldDatabase();
    await insertUser(db, 'fine@example.com');
    const twice = await insertOrganization(db, ['münchen.example', 'xn--mnchen-3ya.example', 'other.example']);
    const unrelated = await insertOrganization(db, ['unrelated.example']);
    const before = await fingerprint(db);

    const message = await migrationError(db);
    expect(message).toMatch(/Migration ConsentAndCanonicalIdentity stopped/);
    expect(message).toContain(twice);
    expect(message).not.toContain(unrelated);
    expect(await fingerprint(db)).toEqual(before);
    expect(await db.sql('SELECT name FROM migrations ORDER BY id')).toEqual(BEFORE.map((m) => ({ name: m.name })));
  });

  it('without collisions: fills email_key (with the fallback key where UTS #46 refuses the domain) and canonicalizes domains, all unverified', async () => {
    const db = await oldDatabase();
    const users = {
      ada: await insertUser(db, 'Ada@Example.com'),
      jurgen: await insertUser(db, 'Jürgen@MÜNCHEN.example'),
      decomposed: await insertUser(db, 'Bu\u0308cher@example.com'),
      fullWidth: await insertUser(db, 'ｄｏｒａ@ｅｘａｍｐｌｅ．ｃｏｍ'),
      refusedDomain: await insertUser(db, 'Old.Timer@Bad_Domain.Example'),
      refusedPunycode: await insertUser(db, 'ÄNNE@xn--zz.example'),
    };
    const first = await insertOrganization(db, ['MÜNCHEN.example', 'Acme.COM', 'bad_domain.example']);
    // Two organizations holding one domain in two spellings (possible before): both keep it, unverified.
    const second = await insertOrganization(db, ['xn--mnchen-3ya.example', 'ｓｈｏｐ．ｅｘａｍｐｌｅ']);
    const usersBefore = await db.sql('SELECT id, email, name, external_id, created_at FROM users ORDER BY id');

    await db.migrate();

    const keys = await db.sql<{ id: string; email_key: string }>('SELECT id, email_key FROM users');
    expect(Object.fromEntries(keys.map((row) => [row.id, row.email_key]))).toEqual({
      [users.ada]: 'ada@example.com',
      [users.jurgen]: 'jürgen@xn--mnchen-3ya.example',
      [users.decomposed]: 'bücher@example.com',
      [users.fullWidth]: 'dora@example.com',
      // The fallback: the case-folded text, so the account stays unique and findable.
      [users.refusedDomain]: 'old.timer@bad_domain.example',
      [users.refusedPunycode]: 'änne@xn--zz.example',
    });
    // Display emails, names and the rest are untouched.
    expect(await db.sql('SELECT id, email, name, external_id, created_at FROM users ORDER BY id')).toEqual(usersBefore);

    const domains = await db.sql<{ organization_id: string; domain: string; verified: boolean }>(
      `SELECT organization_id, domain, verified FROM organization_domains ORDER BY organization_id, domain COLLATE "C"`,
    );
    expect(domains).toEqual(
      [
        { organization_id: first, domain: 'acme.com', verified: false },
        { organization_id: first, domain: 'bad_domain.example', verified: false },
        { organization_id: first, domain: 'xn--mnchen-3ya.example', verified: false },
        { organization_id: second, domain: 'shop.example', verified: false },
        { organization_id: second, domain: 'xn--mnchen-3ya.example', verified: false },
      ].sort((a, b) => (a.organization_id === b.organization_id ? 0 : a.organization_id < b.organization_id ? -1 : 1)),
    );

    // The new constraints are in force.
    const indexes = (await db.sql<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE schemaname = 'public'`)).map(
      (row) => row.indexname,
    );
    expect(indexes).toEqual(expect.arrayContaining(['users_email_key_key', 'organization_domains_verified_key']));
    expect(indexes).not.toContain('users_email_lower_key');
    await expect(
      db.sql(`INSERT INTO users (id, email, email_key) VALUES ($1, 'ADA@example.com', 'ada@example.com')`, [newId('user')]),
    ).rejects.toMatchObject({ code: '23505' });
    await db.sql(
      `UPDATE organization_domains SET verified = true WHERE organization_id = $1 AND domain = 'xn--mnchen-3ya.example'`,
      [first],
    );
    await expect(
      db.sql(`UPDATE organization_domains SET verified = true WHERE organization_id = $1 AND domain = 'xn--mnchen-3ya.example'`, [
        second,
      ]),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await db.sql('SELECT name FROM migrations ORDER BY id')).toEqual(migrations.map((m) => ({ name: m.name })));
  });
});
