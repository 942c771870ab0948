import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { MembershipRole } from '../memberships/membership.entity';
import { Connection } from '../pagination';

/** Stored as PENDING, ACCEPTED, DECLINED, REVOKED or EXPIRED; a PENDING one past expiresAt reads as EXPIRED. */
export enum InvitationStatus {
  PENDING = 'PENDING',
  ACCEPTED = 'ACCEPTED',
  DECLINED = 'DECLINED',
  REVOKED = 'REVOKED',
  EXPIRED = 'EXPIRED',
}
registerEnumType(InvitationStatus, { name: 'InvitationStatus' });

/**
 * An invitation to join an organization (issue 9: people join organizations by consent).
 * Addressed to a canonical email key; the invitee is the signed-in user whose account has
 * that key. `email` is personal data: its field resolver shows it only to the inviting
 * organization's OWNERs and ADMINs and to the platform admin. `organization` is resolved
 * by a loader.
 */
@ObjectType()
@Entity({ name: 'invitations' })
export class Invitation {
  @Field(() => ID)
  @PrimaryColumn({ type: 'varchar', length: 30 })
  id: string;

  @Column({ name: 'organization_id', type: 'varchar', length: 30 })
  organizationId: string;

  /** As typed by the inviter, in NFC. Public only through the resolver's access check. */
  @Column({ type: 'varchar', length: 320 })
  email: string;

  @Column({ name: 'email_key', type: 'varchar', length: 320 })
  emailKey: string;

  @Field(() => MembershipRole)
  @Column({ type: 'varchar', length: 10 })
  role: MembershipRole;

  @Column({ name: 'status', type: 'varchar', length: 10 })
  storedStatus: InvitationStatus;

  /** "admin", "user:<id>" or "api_key:<id>", as deletion receipts name actors. */
  @Column({ name: 'invited_by', type: 'varchar', length: 100 })
  invitedBy: string;

  @Field()
  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  @Field()
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Field(() => Date, {
    nullable: true,
    description: 'When it was accepted, declined or revoked; for one marked EXPIRED, when it expired.',
  })
  @Column({ name: 'decided_at', type: 'timestamptz', nullable: true })
  decidedAt: Date | null;

  @Field(() => InvitationStatus)
  get status(): InvitationStatus {
    // Number(), not getTime(): pg reads `infinity` as the number Infinity.
    if (this.storedStatus === InvitationStatus.PENDING && Number(this.expiresAt) <= Date.now()) {
      return InvitationStatus.EXPIRED;
    }
    return this.storedStatus;
  }
}

@ObjectType()
export class InvitationConnection extends Connection(Invitation) {}

/** The columns of `invitations` under the entity's property names, for raw SQL that builds entities. */
export const INVITATION_COLUMNS = `id, organization_id AS "organizationId", email, email_key AS "emailKey", role,
  status AS "storedStatus", invited_by AS "invitedBy", expires_at AS "expiresAt", created_at AS "createdAt",
  decided_at AS "decidedAt"`;

/**
 * The SQL twin of the `status` getter: the condition under which an invitation (table
 * alias `alias`) reads as `status`. PENDING means stored PENDING and not yet expired;
 * EXPIRED means stored EXPIRED, or stored PENDING past its expiry.
 */
export function invitationStatusCondition(status: InvitationStatus, alias: string): string {
  switch (status) {
    case InvitationStatus.PENDING:
      return `(${alias}.status = 'PENDING' AND ${alias}.expires_at > now())`;
    case InvitationStatus.EXPIRED:
      return `(${alias}.status = 'EXPIRED' OR (${alias}.status = 'PENDING' AND ${alias}.expires_at <= now()))`;
    case InvitationStatus.ACCEPTED:
    case InvitationStatus.DECLINED:
    case InvitationStatus.REVOKED:
      return `(${alias}.status = '${status}')`;
  }
}
