import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 12, "find people": partners know a person or an organization by their own ID.
 * users(filter: { externalId }) and organizations(filter: { externalId }) compare it
 * exactly, on these indexes (not unique: a partner's IDs are theirs to keep unique, and two
 * partners may use the same one). Emails and domains need none here: users_email_key_key
 * and organization_domains_verified_key serve their filters already. Rows without an
 * externalId are left out of the indexes (partial), since no filter looks for null.
 */
export class LookupIndexes1764300500000 implements MigrationInterface {
  name = 'LookupIndexes1764300500000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE INDEX users_external_id_idx ON users (external_id) WHERE external_id IS NOT NULL;
      CREATE INDEX organizations_external_id_idx ON organizations (external_id) WHERE external_id IS NOT NULL;
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX organizations_external_id_idx; DROP INDEX users_external_id_idx;`);
  }
}
