import type { Request } from 'express';
import { GraphQLError } from 'graphql';
import type { Logger } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import { Access } from '../auth/access';
import type { Authenticator, Principal } from '../auth/principal';
import type { Config } from '../config';
import { inTransaction, type TransactionOptions } from '../database/transaction';
import { AppError, DATABASE_UNAVAILABLE, ErrorCode, isDatabaseUnavailable } from '../errors';
import { currentLogger } from '../logger';
import { createLoaders, type Loaders } from './loaders';
import type { Metrics } from './metrics';

/** Everything a resolver may use: who is calling, this request's loaders, and the transaction opener. */
export interface Context {
  principal: Principal;
  loaders: Loaders;
  access: Access;
  metrics: Metrics;
  /** Manager for reads outside any transaction (loaders use the same pool). */
  reader: EntityManager;
  config: Config;
  /**
   * Opens the mutation's one transaction and hands its manager down. Afterwards the
   * loaders are rebuilt, so fields of the payload read what the mutation wrote.
   */
  transaction<T>(work: (manager: EntityManager) => Promise<T>, options?: TransactionOptions): Promise<T>;
}

export function createContextFactory(deps: {
  dataSource: DataSource;
  authenticator: Authenticator;
  config: Config;
  metrics: Metrics;
  logger: Logger;
}) {
  return async ({ req }: { req: Request }): Promise<Context> => {
    let principal: Principal;
    try {
      principal = await deps.authenticator.authenticate(req.headers.authorization);
    } catch (error) {
      // Thrown from the context function, only a GraphQLError keeps its code and HTTP status.
      if (error instanceof AppError) throw error.toGraphQLError();
      const unavailable = isDatabaseUnavailable(error);
      currentLogger(deps.logger).error({ err: error }, 'could not authenticate the request');
      throw new GraphQLError(unavailable ? DATABASE_UNAVAILABLE : 'Internal server error', {
        extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, http: { status: unavailable ? 503 : 500 } },
      });
    }
    const loaders = createLoaders(deps.dataSource);
    const context: Context = {
      principal,
      loaders,
      access: new Access(principal, loaders),
      config: deps.config,
      metrics: deps.metrics,
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
    return context;
  };
}
