import { randomInt } from 'node:crypto';
import type { TestApp } from './app';

/**
 * Set-based seeding for the deletion tests that need many rows or many rounds:
 * building them through the API one call at a time would take minutes. IDs have the
 * application's shape (`usr_` + 26 Crockford base32 characters): a random 6-character
 * tag per call followed by a 20-digit ordinal, so every call's IDs are new and sort
 * by ordinal. Sessions get a random token hash (their tokens are never used).
 */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

function newTag(): string {
  return Array.from({ length: 6 }, () => CROCKFORD[randomInt(CROCKFORD.length)]).join('');
}

/** `prefix_<tag><20-digit ordinal>` as SQL, for generate_series ordinals. */
const idSql = (prefix: string, tagParam: string, ordinal: string) =>
  `'${prefix}_' || ${tagParam} || lpad((${ordinal})::text, 20, '0')`;

export async function seedUsers(app: TestApp, count: number): Promise<string[]> {
  const rows = await app.sql<{ id: string }>(
    `INSERT INTO users (id, email, email_key, name)
     SELECT id, email, email, name FROM (
       SELECT ${idSql('usr', '$1::text', 'i')} AS id, 'seed-' || lower($1) || '-' || i || '@example.com' AS email,
              'Seed User ' || $1 || ' ' || i AS name
         FROM generate_series(1, $2::int) i) seeded
     RETURNING id`,
    [newTag(), count],
  );
  return rows.map((r) => r.id).sort();
}

/** Organizations with their settings record, as createOrganization makes them. */
export async function seedOrganizations(app: TestApp, count: number): Promise<string[]> {
  const rows = await app.sql<{ id: string }>(
    `WITH orgs AS (
       INSERT INTO organizations (id, name)
       SELECT ${idSql('org', '$1::text', 'i')}, 'Seed Org ' || $1 || ' ' || i FROM generate_series(1, $2::int) i
       RETURNING id
     ), settings AS (
       INSERT INTO organization_settings (organization_id) SELECT id FROM orgs
     )
     SELECT id FROM orgs`,
    [newTag(), count],
  );
  return rows.map((r) => r.id).sort();
}

/** One membership per (organization, user) pair. */
export async function seedMemberships(
  app: TestApp,
  pairs: Array<[organizationId: string, userId: string]>,
  role: 'OWNER' | 'ADMIN' | 'MEMBER' = 'MEMBER',
): Promise<void> {
  await app.sql(
    `INSERT INTO memberships (id, organization_id, user_id, role)
     SELECT ${idSql('mem', '$1::text', 'p.n')}, p.organization_id, p.user_id, $4
       FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS p(organization_id, user_id, n)`,
    [newTag(), pairs.map((p) => p[0]), pairs.map((p) => p[1]), role],
  );
}

/** `perUser` ACTIVE sessions for each user, the first of them in `organizationId`'s context when given. */
export async function seedSessions(
  app: TestApp,
  userIds: string[],
  perUser: number,
  organizationId: string | null = null,
): Promise<void> {
  await app.sql(
    `INSERT INTO sessions (id, user_id, organization_id, token_hash, expires_at)
     SELECT ${idSql('ses', '$1::text', '(u.n - 1) * $3::int + k')}, u.id,
            CASE WHEN k = 1 THEN $4::varchar END,
            sha256(convert_to(gen_random_uuid()::text, 'UTF8')), now() + interval '1 day'
       FROM unnest($2::text[]) WITH ORDINALITY AS u(id, n), generate_series(1, $3::int) k`,
    [newTag(), userIds, perUser, organizationId],
  );
}

/**
 * An organization of `members` users (the first an OWNER), each with
 * `sessionsPerMember` active sessions (one in the organization's context); every
 * second member (the "shared" half) is also a member of a second organization.
 * Entirely set-based: a fixed handful of statements whatever the size.
 */
export async function seedLargeOrganization(app: TestApp, members: number, sessionsPerMember = 3) {
  const tag = newTag();
  const [organizationId, otherOrganizationId] = await seedOrganizations(app, 2);
  await app.sql(
    `INSERT INTO users (id, email, email_key, name)
     SELECT id, email, email, name FROM (
       SELECT ${idSql('usr', '$1::text', 'i')} AS id, 'big-' || lower($1) || '-' || i || '@example.com' AS email,
              'Big User ' || i AS name
         FROM generate_series(1, $2::int) i) seeded`,
    [tag, members],
  );
  await app.sql(
    `INSERT INTO memberships (id, organization_id, user_id, role)
     SELECT ${idSql('mem', '$1::text', 'i')}, $3, ${idSql('usr', '$1::text', 'i')},
            CASE WHEN i = 1 THEN 'OWNER' ELSE 'MEMBER' END
       FROM generate_series(1, $2::int) i
     UNION ALL
     SELECT ${idSql('mem', '$1::text', '$2::int + i')}, $4, ${idSql('usr', '$1::text', 'i')}, 'MEMBER'
       FROM generate_series(2, $2::int, 2) i`,
    [tag, members, organizationId, otherOrganizationId],
  );
  await app.sql(
    `INSERT INTO sessions (id, user_id, organization_id, token_hash, expires_at)
     SELECT ${idSql('ses', '$1::text', '(i - 1) * $3::int + k')}, ${idSql('usr', '$1::text', 'i')},
            CASE WHEN k = 1 THEN $4::varchar END,
            sha256(convert_to(gen_random_uuid()::text, 'UTF8')), now() + interval '1 day'
       FROM generate_series(1, $2::int) i, generate_series(1, $3::int) k`,
    [tag, members, sessionsPerMember, organizationId],
  );
  const userSql = (where: string) =>
    app
      .sql<{ id: string }>(
        `SELECT ${idSql('usr', '$1::text', 'i')} AS id FROM generate_series(1, $2::int) i WHERE ${where} ORDER BY i`,
        [tag, members],
      )
      .then((rows) => rows.map((r) => r.id));
  return {
    organizationId,
    otherOrganizationId,
    /** Members of this organization only: a deletion of it deletes them. */
    soloUserIds: await userSql('i % 2 = 1'),
    /** Also members of otherOrganizationId: they keep their accounts. */
    sharedUserIds: await userSql('i % 2 = 0'),
  };
}
