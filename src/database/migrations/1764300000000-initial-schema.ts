import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Organizations, users, memberships and sessions.
 *
 * Foreign keys have no ON DELETE CASCADE: the deletion engine removes rows in
 * dependency order with explicit statements that a reader can follow and count.
 * Every foreign-key column has a plain index (for memberships.organization_id it is
 * the leading column of the unique pair): PostgreSQL checks a foreign key on delete by
 * looking up the referencing rows, and without an index a large delete turns quadratic.
 */
export class InitialSchema1764300000000 implements MigrationInterface {
  name = 'InitialSchema1764300000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE organizations (
        id          varchar(30)  PRIMARY KEY,
        name        varchar(200) NOT NULL,
        external_id varchar(255),
        created_at  timestamptz  NOT NULL DEFAULT now()
      );
      CREATE TABLE organization_domains (
        domain          varchar(253) PRIMARY KEY,
        organization_id varchar(30)  NOT NULL REFERENCES organizations (id),
        created_at      timestamptz  NOT NULL DEFAULT now()
      );
      CREATE INDEX organization_domains_organization_id_idx ON organization_domains (organization_id);
      CREATE TABLE organization_settings (
        organization_id varchar(30) PRIMARY KEY REFERENCES organizations (id),
        data            jsonb       NOT NULL DEFAULT '{}'::jsonb,
        updated_at      timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE users (
        id          varchar(30)  PRIMARY KEY,
        email       varchar(320) NOT NULL,
        name        varchar(200),
        external_id varchar(255),
        created_at  timestamptz  NOT NULL DEFAULT now()
      );
      CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

      CREATE TABLE memberships (
        id              varchar(30) PRIMARY KEY,
        organization_id varchar(30) NOT NULL REFERENCES organizations (id),
        user_id         varchar(30) NOT NULL REFERENCES users (id),
        role            varchar(10) NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER')),
        created_at      timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT memberships_organization_user_key UNIQUE (organization_id, user_id)
      );
      CREATE INDEX memberships_user_id_idx ON memberships (user_id);

      CREATE TABLE sessions (
        id                 varchar(30) PRIMARY KEY,
        user_id            varchar(30) NOT NULL REFERENCES users (id),
        organization_id    varchar(30) REFERENCES organizations (id),
        token_hash         bytea       NOT NULL UNIQUE,
        created_at         timestamptz NOT NULL DEFAULT now(),
        expires_at         timestamptz NOT NULL,
        terminated_at      timestamptz,
        termination_reason varchar(64),
        CHECK ((terminated_at IS NULL) = (termination_reason IS NULL))
      );
      CREATE INDEX sessions_user_id_idx ON sessions (user_id);
      CREATE INDEX sessions_organization_id_idx ON sessions (organization_id);
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      DROP TABLE sessions;
      DROP TABLE memberships;
      DROP TABLE users;
      DROP TABLE organization_settings;
      DROP TABLE organization_domains;
      DROP TABLE organizations;
    `);
  }
}
