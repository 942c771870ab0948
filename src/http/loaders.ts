import type { EntityManager } from 'typeorm';
import { createInvitationLoaders } from '../invitations/invitation.loader';
import { createMembershipLoaders } from '../memberships/membership.loader';
import { createOrganizationLoaders } from '../organizations/organization.loader';
import { createSessionLoaders } from '../sessions/session.loader';
import { createUserLoaders } from '../users/user.loader';
import { createWebhookLoaders } from '../webhooks/webhook-endpoint.loader';

/**
 * One feature's loader factory, with the names of the loaders it returns: every name,
 * and only those (the mapped type makes the compiler check both), so that each name can
 * get its getter before the factory runs. The factory gets the request's loaders too,
 * for a loader that primes another feature's (the membership page primes userById).
 */
function feature<L extends object>(create: (manager: EntityManager, loaders: Loaders) => L, names: { [K in keyof L]: true }) {
  return { create, names: Object.keys(names) };
}

const FEATURES = [
  feature(createOrganizationLoaders, { organizationById: true, domainsByOrganization: true, settingsByOrganization: true }),
  feature(createUserLoaders, { userById: true }),
  feature(
    (manager, loaders) => createMembershipLoaders(manager, (user) => loaders.userById.prime(user.id, user)),
    { membershipsByUser: true, membershipCountByOrganization: true, membershipPage: true },
  ),
  feature(createSessionLoaders, { sessionById: true, sessionsByUser: true }),
  feature(createInvitationLoaders, { invitationPage: true, invitationCount: true }),
  feature(createWebhookLoaders, { webhookDeliveryPage: true, webhookDeliveryCount: true }),
];

export type Loaders = ReturnType<typeof createOrganizationLoaders> &
  ReturnType<typeof createUserLoaders> &
  ReturnType<typeof createMembershipLoaders> &
  ReturnType<typeof createSessionLoaders> &
  ReturnType<typeof createInvitationLoaders> &
  ReturnType<typeof createWebhookLoaders>;

const MANAGER = Symbol('manager');

/**
 * The loaders' object: a getter per loader on its prototype. The first read of any
 * loader of a feature runs that feature's factory and stores its loaders on the object
 * itself, where later reads find them as plain properties.
 */
class LazyLoaders {
  readonly [MANAGER]: EntityManager;

  constructor(manager: EntityManager) {
    this[MANAGER] = manager;
  }
}

for (const { create, names } of FEATURES) {
  for (const name of names) {
    Object.defineProperty(LazyLoaders.prototype, name, {
      configurable: true,
      get(this: LazyLoaders) {
        const built = create(this[MANAGER], this as unknown as Loaders) as Record<string, unknown>;
        for (const [key, loader] of Object.entries(built)) {
          Object.defineProperty(this, key, { value: loader, enumerable: true, configurable: true });
        }
        return built[name];
      },
    });
  }
}

/**
 * Every feature's per-request DataLoaders, for the context factory to make once per request
 * (again for a query, on its read snapshot, and after a mutation's transaction). They
 * read through `manager`: the DataSource's own outside a snapshot, the snapshot's runner
 * in a query (src/http/read-snapshot.ts). Each feature's loaders are built when one of
 * them is first read: a deleteUser reads none, and a read only those of the fields it
 * selects (about 15 DataLoaders were built per request, twice per mutation: issue 13,
 * bench/profile-2026-11-30.md candidate K). Its own module, so that auth/access.ts can
 * name the type without importing the context, which imports auth/access.ts.
 */
export function createLoaders(manager: EntityManager): Loaders {
  return new LazyLoaders(manager) as unknown as Loaders;
}
