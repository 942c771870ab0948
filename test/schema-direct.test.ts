import 'reflect-metadata';
import path from 'node:path';
import { isObjectType, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import { buildAppSchema, resolveDirectly } from '../src/http/schema';
import { Membership } from '../src/memberships/membership.entity';
import { OrganizationResolver } from '../src/organizations/organization.resolver';
import { Session, SessionStatus } from '../src/sessions/session.entity';
import { User } from '../src/users/user.entity';
import { UserResolver } from '../src/users/user.resolver';

/** type-graphql's resolver helpers, whose getParams its wrapper calls for every field it resolves (not in the package's exports). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const typeGraphqlHelpers = require(path.join(path.dirname(require.resolve('type-graphql')), 'resolvers/helpers.js')) as {
  getParams: (...args: unknown[]) => unknown;
};

/**
 * Issue 13: `User.sessions` (and `Membership.user`) is resolved by a direct call of UserResolver.sessions rather
 * than through type-graphql's wrapper, whose async argument validation made every such
 * field a promise (src/http/schema.ts resolveDirectly). What the field answers over
 * GraphQL (status filter, a session user's own sessions only) is tested against the
 * database in test/loaders.test.ts, test/sessions.test.ts and test/visibility.test.ts;
 * this tests the part those cannot see: the answer is synchronous when the sessions are
 * loaded already, and a field with something to validate or guard is refused.
 */
let schema: GraphQLSchema;
beforeAll(async () => {
  schema = await buildAppSchema();
});

function session(id: string, terminatedAt: Date | null): Session {
  return Object.assign(new Session(), { id, userId: 'usr_1', expiresAt: new Date(Date.now() + 3_600_000), terminatedAt });
}

describe('User.sessions, resolved directly', () => {
  const sessions = [session('ses_1', null), session('ses_2', new Date())];
  const context = (mayRead: boolean) => ({
    access: { canReadSessionsOf: () => mayRead },
    loaders: { sessionsByUser: { settled: () => sessions, load: () => Promise.reject(new Error('not loaded ahead')) } },
  });
  const resolve = (args: Record<string, unknown>, mayRead = true, root: object = Object.assign(new User(), { id: 'usr_1' })) => {
    const type = schema.getType('User');
    if (!isObjectType(type)) throw new Error('no User type');
    return type.getFields().sessions!.resolve!(root, args, context(mayRead), {} as GraphQLResolveInfo);
  };

  it('answers settled sessions without a promise, filtered by status', () => {
    expect(resolve({})).toBe(sessions);
    expect(resolve({ status: SessionStatus.ACTIVE })).toEqual([sessions[0]]);
    expect(resolve({ status: SessionStatus.TERMINATED })).toEqual([sessions[1]]);
  });

  it('answers [] for a caller who may not read them, without loading', () => {
    expect(resolve({}, false)).toEqual([]);
  });

  it("leaves a root that is not a User to type-graphql's own resolver (which converts it), with the same answer", async () => {
    const answer = resolve({ status: SessionStatus.ACTIVE }, true, { id: 'usr_1' });
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toEqual([sessions[0]]);
  });
});

describe('Membership.user, resolved directly', () => {
  const user = Object.assign(new User(), { id: 'usr_1' });
  const loaded = Object.assign(new User(), { id: 'usr_2' });
  const context = {
    loaders: {
      userById: {
        settled: (id: string) => (id === 'usr_1' ? user : undefined),
        load: (id: string) => (id === 'usr_2' ? Promise.resolve(loaded) : Promise.reject(new Error('unknown'))),
      },
    },
  };
  const resolve = (root: object) => {
    const type = schema.getType('Membership');
    if (!isObjectType(type)) throw new Error('no Membership type');
    return type.getFields().user!.resolve!(root, {}, context, {} as GraphQLResolveInfo);
  };

  it("answers the page's user itself, without a promise, and loads one it does not hold", async () => {
    // Not through type-graphql's wrapper, which would gather the parameters with getParams.
    const getParams = jest.spyOn(typeGraphqlHelpers, 'getParams');
    try {
      expect(resolve(Object.assign(new Membership(), { userId: 'usr_1' }))).toBe(user);
      expect(getParams).not.toHaveBeenCalled();
    } finally {
      getParams.mockRestore();
    }
    const answer = resolve(Object.assign(new Membership(), { userId: 'usr_2' }));
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toBe(loaded);
  });

  it("leaves a root that is not a Membership to type-graphql's own resolver, with the same answer", async () => {
    const getParams = jest.spyOn(typeGraphqlHelpers, 'getParams');
    try {
      expect(await resolve({ userId: 'usr_1' })).toBe(user);
      expect(getParams).toHaveBeenCalledTimes(1);
    } finally {
      getParams.mockRestore();
    }
  });
});

describe('resolveDirectly', () => {
  it('refuses a field resolver whose arguments type-graphql validates (Organization.memberships: @Args PageArgs)', () => {
    expect(() =>
      resolveDirectly(schema, [{ resolver: OrganizationResolver, method: 'memberships', type: 'Organization', field: 'memberships' }]),
    ).toThrow('Organization.memberships cannot be resolved directly');
  });

  it('refuses a field that does not exist', () => {
    expect(() => resolveDirectly(schema, [{ resolver: OrganizationResolver, method: 'nope', type: 'Organization', field: 'nope' }])).toThrow(
      'Organization.nope: no such field resolver',
    );
  });

  it('refuses a method installed on another field than its own', () => {
    expect(() => resolveDirectly(schema, [{ resolver: UserResolver, method: 'sessions', type: 'User', field: 'memberships' }])).toThrow(
      'User.memberships: no such field resolver',
    );
    expect(() => resolveDirectly(schema, [{ resolver: UserResolver, method: 'sessions', type: 'Organization', field: 'memberships' }])).toThrow(
      'Organization.memberships: no such field resolver',
    );
  });

  it('refuses when the schema has global middleware or a validateFn', () => {
    const fields = [{ resolver: UserResolver, method: 'sessions', type: 'User', field: 'sessions' }];
    expect(() => resolveDirectly(schema, fields, { globalMiddlewares: [] })).toThrow('User.sessions cannot be resolved directly');
    expect(() => resolveDirectly(schema, fields, { validateFn: () => undefined })).toThrow('User.sessions cannot be resolved directly');
  });
});
