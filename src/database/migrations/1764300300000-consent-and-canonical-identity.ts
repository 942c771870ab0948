import type { MigrationInterface, QueryRunner } from 'typeorm';
import { canonicalDomainOrNull, canonicalEmailOrNull, foldCase } from '../../identity/canonical';

/** Rows canonicalized per statement: bounded memory and statement size at a million rows. */
const BATCH = 5_000;

/**
 * Issue 9: one person, one account; domains claimed versus verified; invitations.
 *
 * - `users.email_key`: the canonical key of src/identity/canonical.ts, unique, replacing the
 *   unique index on lower(email). An address that no longer parses (UTS #46 refuses its
 *   domain) keeps a key of its case-folded text, so it stays unique and findable.
 * - `organization_domains`: stored in canonical A-label form, with `verified`. Only verified
 *   domains are unique across organizations; an organization holds a domain once. Existing
 *   domains become unverified: nothing recorded who claimed them, and verification is a
 *   statement the platform admin or a provisioning key makes (verifyOrganizationDomain).
 * - `invitations`: pending, accepted, declined, revoked or expired invitations to join an
 *   organization, addressed to a canonical email key. The deletion engine removes them with
 *   their organization and with the user their address belongs to.
 *
 * If two existing rows have the same canonical key (two accounts, or one organization
 * holding one domain twice), the migration stops with a message that lists their IDs, and
 * its transaction leaves everything as it was: rows are never merged or deleted here.
 */
export class ConsentAndCanonicalIdentity1764300300000 implements MigrationInterface {
  name = 'ConsentAndCanonicalIdentity1764300300000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE users ADD COLUMN email_key varchar(320)`);
    await this.canonicalizeEmails(db);
    const userCollisions: Array<{ email_key: string; ids: string[] }> = await db.query(
      `SELECT email_key, array_agg(id ORDER BY id) AS ids FROM users GROUP BY email_key HAVING count(*) > 1 ORDER BY email_key`,
    );
    if (userCollisions.length > 0) {
      throw new Error(
        'Migration ConsentAndCanonicalIdentity stopped: these users have emails that are one address under the ' +
          'canonical comparison (NFC, case folding, UTS #46), and nothing was changed. Resolve each group (change or ' +
          'delete all but one account), then start again: ' +
          userCollisions.map((group) => `[${group.ids.join(', ')}]`).join('; '),
      );
    }
    await db.query(`
      ALTER TABLE users ALTER COLUMN email_key SET NOT NULL;
      DROP INDEX users_email_lower_key;
      CREATE UNIQUE INDEX users_email_key_key ON users (email_key);
    `);

    await db.query(`
      ALTER TABLE organization_domains ADD COLUMN verified boolean NOT NULL DEFAULT false;
      ALTER TABLE organization_domains ADD COLUMN canonical varchar(253);
      ALTER TABLE organization_domains DROP CONSTRAINT organization_domains_pkey;
    `);
    await this.canonicalizeDomains(db);
    const domainCollisions: Array<{ organization_id: string; canonical: string; domains: string[] }> = await db.query(
      `SELECT organization_id, canonical, array_agg(domain ORDER BY domain) AS domains FROM organization_domains
        GROUP BY organization_id, canonical HAVING count(*) > 1 ORDER BY organization_id, canonical`,
    );
    if (domainCollisions.length > 0) {
      throw new Error(
        'Migration ConsentAndCanonicalIdentity stopped: these organizations hold one domain under two spellings ' +
          '(UTS #46), and nothing was changed. Remove all but one spelling of each, then start again: ' +
          domainCollisions.map((row) => `${row.organization_id}: [${row.domains.join(', ')}]`).join('; '),
      );
    }
    await db.query(`
      UPDATE organization_domains SET domain = canonical WHERE domain IS DISTINCT FROM canonical;
      ALTER TABLE organization_domains DROP COLUMN canonical;
      ALTER TABLE organization_domains ADD PRIMARY KEY (organization_id, domain);
      DROP INDEX organization_domains_organization_id_idx;
      CREATE UNIQUE INDEX organization_domains_verified_key ON organization_domains (domain) WHERE verified;
      CREATE INDEX organization_domains_domain_idx ON organization_domains (domain);
    `);

    await db.query(`
      CREATE TABLE invitations (
        id              varchar(30)  PRIMARY KEY,
        organization_id varchar(30)  NOT NULL REFERENCES organizations (id),
        email           varchar(320) NOT NULL,
        email_key       varchar(320) NOT NULL,
        role            varchar(10)  NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER')),
        status          varchar(10)  NOT NULL DEFAULT 'PENDING'
                                     CHECK (status IN ('PENDING', 'ACCEPTED', 'DECLINED', 'REVOKED', 'EXPIRED')),
        invited_by      varchar(100) NOT NULL,
        expires_at      timestamptz  NOT NULL,
        created_at      timestamptz  NOT NULL DEFAULT now(),
        decided_at      timestamptz,
        CHECK ((status = 'PENDING') = (decided_at IS NULL))
      );
      CREATE INDEX invitations_organization_id_idx ON invitations (organization_id, id);
      CREATE INDEX invitations_email_key_idx ON invitations (email_key);
      CREATE UNIQUE INDEX invitations_pending_key ON invitations (organization_id, email_key) WHERE status = 'PENDING';
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      DROP TABLE invitations;
      DROP INDEX organization_domains_domain_idx;
      DROP INDEX organization_domains_verified_key;
      ALTER TABLE organization_domains DROP CONSTRAINT organization_domains_pkey;
      ALTER TABLE organization_domains ADD PRIMARY KEY (domain);
      CREATE INDEX organization_domains_organization_id_idx ON organization_domains (organization_id);
      ALTER TABLE organization_domains DROP COLUMN verified;
      DROP INDEX users_email_key_key;
      CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
      ALTER TABLE users DROP COLUMN email_key;
    `);
  }

  /** Keyset batches in ID order: each computes keys in JavaScript (the one canonical function) and writes them back in one statement. */
  private async canonicalizeEmails(db: QueryRunner): Promise<void> {
    for (let after = ''; ; ) {
      const rows: Array<{ id: string; email: string }> = await db.query(
        `SELECT id, email FROM users WHERE id > $1 ORDER BY id LIMIT ${BATCH}`,
        [after],
      );
      if (rows.length === 0) return;
      const keys = rows.map((row) => canonicalEmailOrNull(row.email)?.key ?? foldCase(row.email.trim()));
      await db.query(
        `UPDATE users u SET email_key = v.key FROM unnest($1::varchar[], $2::varchar[]) AS v (id, key) WHERE u.id = v.id`,
        [rows.map((row) => row.id), keys],
      );
      after = rows[rows.length - 1].id;
    }
  }

  private async canonicalizeDomains(db: QueryRunner): Promise<void> {
    for (let after = { organizationId: '', domain: '' }; ; ) {
      const rows: Array<{ organization_id: string; domain: string }> = await db.query(
        `SELECT organization_id, domain FROM organization_domains
          WHERE (organization_id, domain) > ($1, $2) ORDER BY organization_id, domain LIMIT ${BATCH}`,
        [after.organizationId, after.domain],
      );
      if (rows.length === 0) return;
      await db.query(
        `UPDATE organization_domains d SET canonical = v.canonical
           FROM unnest($1::varchar[], $2::varchar[], $3::varchar[]) AS v (organization_id, domain, canonical)
          WHERE d.organization_id = v.organization_id AND d.domain = v.domain`,
        [
          rows.map((row) => row.organization_id),
          rows.map((row) => row.domain),
          rows.map((row) => canonicalDomainOrNull(row.domain) ?? row.domain.trim().toLowerCase()),
        ],
      );
      const last = rows[rows.length - 1];
      after = { organizationId: last.organization_id, domain: last.domain };
    }
  }
}
