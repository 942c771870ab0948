import type { EntityManager } from 'typeorm';
import { createInvitationLoaders } from '../invitations/invitation.loader';
import { createMembershipLoaders } from '../memberships/membership.loader';
import { createOrganizationLoaders } from '../organizations/organization.loader';
import { createSessionLoaders } from '../sessions/session.loader';
import { createUserLoaders } from '../users/user.loader';
import { createWebhookLoaders } from '../webhooks/webhook-endpoint.loader';

/**
 * Every feature's per-request DataLoaders, built once per request by the context factory
 * (again for a query, on its read snapshot, and after a mutation's transaction). They
 * read through `manager`: the DataSource's own outside a snapshot, the snapshot's runner
 * in a query (src/http/read-snapshot.ts). Its own module, so that auth/access.ts can
 * name the type without importing the context, which imports auth/access.ts.
 */
export function createLoaders(manager: EntityManager) {
  return {
    ...createOrganizationLoaders(manager),
    ...createUserLoaders(manager),
    ...createMembershipLoaders(manager),
    ...createSessionLoaders(manager),
    ...createInvitationLoaders(manager),
    ...createWebhookLoaders(manager),
  };
}
export type Loaders = ReturnType<typeof createLoaders>;
