import type { DataSource } from 'typeorm';
import { createInvitationLoaders } from '../invitations/invitation.loader';
import { createMembershipLoaders } from '../memberships/membership.loader';
import { createOrganizationLoaders } from '../organizations/organization.loader';
import { createSessionLoaders } from '../sessions/session.loader';
import { createUserLoaders } from '../users/user.loader';

/**
 * Every feature's per-request DataLoaders, built once per request by the context factory
 * (and again after a mutation's transaction). Its own module, so that auth/access.ts can
 * name the type without importing the context, which imports auth/access.ts.
 */
export function createLoaders(dataSource: DataSource) {
  return {
    ...createOrganizationLoaders(dataSource),
    ...createUserLoaders(dataSource),
    ...createMembershipLoaders(dataSource),
    ...createSessionLoaders(dataSource),
    ...createInvitationLoaders(dataSource),
  };
}
export type Loaders = ReturnType<typeof createLoaders>;
