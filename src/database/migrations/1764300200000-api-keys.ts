import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Partner API keys: the secret is kept only as its SHA-256 hash. */
export class ApiKeys1764300200000 implements MigrationInterface {
  name = 'ApiKeys1764300200000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE api_keys (
        id          varchar(30)  PRIMARY KEY,
        name        varchar(100) NOT NULL,
        scopes      text[]       NOT NULL,
        secret_hash bytea        NOT NULL UNIQUE,
        created_at  timestamptz  NOT NULL DEFAULT now(),
        revoked_at  timestamptz
      );
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE api_keys;`);
  }
}
