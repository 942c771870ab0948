import type { EntityManager } from 'typeorm';

/**
 * The transactional outbox: facts written to `events` in the transaction that made them
 * true, so a rolled-back mutation (or a dry run) leaves none, and a reader of `events`
 * (src/deletion/deletion-log.service.ts; later a delivery worker) sees each one exactly
 * when its transaction commits.
 *
 * Events carry IDs, roles, counts and reasons only: never an email, a name or a token
 * (issue 9: invitation events name the invitation, not the address; an app that wants to
 * send the invitation email reads the invitation with its admin key).
 *
 * The deletion engine writes its events inside its one set-based statement
 * (src/deletion/deletion.sql.ts); everything else appends one at a time with appendEvent.
 */
export const EVENT_TYPES = [
  'user.deleted',
  'organization.deleted',
  'organization_membership.deleted',
  'session.terminated',
  'invitation.created',
  'invitation.accepted',
  'invitation.revoked',
  'webhook_endpoint.disabled',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export function isEventType(type: string): type is EventType {
  return (EVENT_TYPES as readonly string[]).includes(type);
}

/** What each event appended here carries (`data`): IDs and roles, nothing personal. */
export interface EventData {
  'invitation.created': { invitationId: string; organizationId: string; role: string };
  'invitation.accepted': { invitationId: string; organizationId: string; role: string; membershipId: string; userId: string };
  'invitation.revoked': { invitationId: string; organizationId: string; role: string };
  /** Issue 12: an endpoint that failed without pause for WEBHOOK_DISABLE_AFTER_MS. */
  'webhook_endpoint.disabled': { endpointId: string; failingSinceMs: number; reason: string };
}

/** Appends one event in the caller's transaction (`manager` is the mutation's). */
export async function appendEvent<T extends keyof EventData>(manager: EntityManager, type: T, data: EventData[T]): Promise<void> {
  await manager.query(`INSERT INTO events (type, data) VALUES ($1, $2::jsonb)`, [type, JSON.stringify(data)]);
}
