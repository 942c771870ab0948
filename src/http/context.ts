import type { Request } from 'express';
import type { DataSource, EntityManager } from 'typeorm';
import { Access } from '../auth/access';
import type { Authenticator, Principal } from '../auth/principal';
import type { Config } from '../config';
import { inTransaction, type TransactionOptions } from '../database/transaction';
import { AppError } from '../errors';
import { createMembershipLoaders } from '../memberships/membership.loader';
import { createOrganizationLoaders } from '../organizations/organization.loader';
import { createSessionLoaders } from '../sessions/session.loader';
import { createUserLoaders } from '../users/user.loader';

export function createLoaders(dataSource: DataSource) {
  return {
    ...createOrganizationLoaders(dataSource),
    ...createUserLoaders(dataSource),
    ...createMembershipLoaders(dataSource),
    ...createSessionLoaders(dataSource),
  };
}
export type Loaders = ReturnType<typeof createLoaders>;

/** Everything a resolver may use: who is calling, this request's loaders, and the transaction opener. */
export interface Context {
  principal: Principal;
  loaders: Loaders;
  access: Access;
  /** Manager for reads outside any transaction (loaders use the same pool). */
  reader: EntityManager;
  config: Config;
  /**
   * Opens the mutation's one transaction and hands its manager down. Afterwards the
   * loaders are rebuilt, so fields of the payload read what the mutation wrote.
   */
  transaction<T>(work: (manager: EntityManager) => Promise<T>, options?: TransactionOptions): Promise<T>;
}

export function createContextFactory(deps: { dataSource: DataSource; authenticator: Authenticator; config: Config }) {
  return async ({ req }: { req: Request }): Promise<Context> => {
    let principal: Principal;
    try {
      principal = await deps.authenticator.authenticate(req.headers.authorization);
    } catch (error) {
      // Thrown from the context function, only a GraphQLError keeps its code and HTTP status.
      if (error instanceof AppError) throw error.toGraphQLError();
      throw error;
    }
    const context: Context = {
      principal,
      loaders: createLoaders(deps.dataSource),
      access: undefined as unknown as Access,
      config: deps.config,
      reader: deps.dataSource.manager,
      async transaction(work, options) {
        try {
          return await inTransaction(deps.dataSource, work, options);
        } finally {
          context.loaders = createLoaders(deps.dataSource);
          context.access = new Access(principal, context.loaders);
        }
      },
    };
    context.access = new Access(principal, context.loaders);
    return context;
  };
}
