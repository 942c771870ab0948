import type { Request } from 'express';
import type { DocumentNode, OperationDefinitionNode } from 'graphql';
import type { Logger } from 'pino';
import type { DataSource, EntityManager } from 'typeorm';
import { Access } from '../auth/access';
import type { Authenticator, Principal } from '../auth/principal';
import type { Config } from '../config';
import type { DeletionBulkhead } from '../deletion/deletion-bulkhead';
import { readsPrimary, type ReplicaReads } from '../database/replica';
import { inTransaction, type TransactionOptions } from '../database/transaction';
import { requestLevelError } from '../errors';
import { withBearerChallenge } from './http-conventions';
import { createLoaders, type Loaders } from './loaders';
import type { Metrics } from './metrics';
import { ReadSnapshot } from './read-snapshot';

/** Everything a resolver may use: who is calling, this request's loaders, and the transaction opener. */
export interface Context {
  principal: Principal;
  loaders: Loaders;
  access: Access;
  metrics: Metrics;
  /** The server's one deletion bulkhead (issue 10): what deletions pass as their transaction's admission. */
  deletionBulkhead: DeletionBulkhead;
  /**
   * Manager for reads outside a mutation's transaction: in a query, the request's one
   * snapshot (src/http/read-snapshot.ts), which the loaders read through too; taken on the
   * read replica when one is configured (src/database/replica.ts), else on the primary.
   * In a mutation, the primary.
   */
  reader: EntityManager;
  config: Config;
  /**
   * Opens the mutation's one transaction and hands its manager down. Afterwards the
   * loaders are rebuilt, so fields of the payload read what the mutation wrote.
   */
  transaction<T>(work: (manager: EntityManager) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * Whether a transaction of this request committed (set by `transaction`): a mutation
   * answer is then never a 503 that invites doing it again (graphqlResponseStatusPlugin).
   */
  committed: boolean;
  /**
   * Rebinds the request's reads (reader, loaders, access) to one ReadSnapshot and returns
   * it, for its owner to end. Called by readSnapshotPlugin for queries only; not for resolvers.
   * With a replica, the snapshot is taken there unless `query` selects a root field of
   * PRIMARY_QUERY_FIELDS (or is not given).
   */
  readFromSnapshot(query?: { operation: OperationDefinitionNode; document?: DocumentNode }): ReadSnapshot;
}

export function createContextFactory(deps: {
  /** The primary: authentication, mutations, their payloads. */
  dataSource: DataSource;
  /** Where plain queries read when DATABASE_REPLICA_URL is set (issue 14); absent: the primary. */
  replica?: ReplicaReads;
  authenticator: Authenticator;
  config: Config;
  metrics: Metrics;
  logger: Logger;
  deletionBulkhead: DeletionBulkhead;
  /**
   * Judges the raw request once the caller is known, before Apollo parses anything
   * (issue 11: keys refused before parsing, variables bounded); throws the GraphQLError to answer.
   */
  admit?: (req: Request, principal: Principal) => void;
}) {
  return async ({ req }: { req: Request }): Promise<Context> => {
    let principal: Principal;
    try {
      principal = await deps.authenticator.authenticate(req.headers.authorization);
    } catch (error) {
      // Thrown from the context function, only a GraphQLError keeps its code and HTTP status:
      // 401, 503 with Retry-After when the database is unreachable or busy, 500 for a bug.
      // formatError logs the cause (an outage once, not per request). A 401 carries the
      // RFC 6750 challenge (WWW-Authenticate), with error="invalid_token" if a token was sent.
      throw withBearerChallenge(requestLevelError(error), req.headers.authorization);
    }
    deps.admit?.(req, principal);
    const loaders = createLoaders(deps.dataSource.manager);
    // Apollo runs each operation on a shallow copy of this object (cloneObject in
    // ApolloServer.ts): the methods below rebind the copy they are called on, `this`,
    // which is the one resolvers see, not `context`.
    const context: Context = {
      principal,
      loaders,
      access: new Access(principal, loaders),
      config: deps.config,
      metrics: deps.metrics,
      deletionBulkhead: deps.deletionBulkhead,
      reader: deps.dataSource.manager,
      committed: false,
      async transaction(work, options) {
        try {
          const result = await inTransaction(deps.dataSource, work, options);
          this.committed = true;
          return result;
        } finally {
          this.loaders = createLoaders(deps.dataSource.manager);
          this.access = new Access(principal, this.loaders);
        }
      },
      readFromSnapshot(query) {
        const source =
          deps.replica && query && !readsPrimary(query.operation, query.document) ? deps.replica.source() : deps.dataSource;
        const snapshot = new ReadSnapshot(source);
        this.reader = snapshot.manager;
        this.loaders = createLoaders(snapshot.manager);
        // The caller's own memberships (what Access grants) are read from the primary when the
        // data comes from the replica: a member removed a moment ago must not keep reading the
        // organization for the replica's lag (issue 14; fails closed, a member added a moment ago
        // sees less until the replica catches up). Lazy: one statement on the primary, outside
        // the snapshot, only if a check needs it. On the primary, the snapshot itself is used.
        const authority = source === deps.dataSource ? this.loaders : createLoaders(deps.dataSource.manager);
        this.access = new Access(principal, this.loaders, authority);
        // A safety net only: the plugin's willSendResponse has ended it before the response is written.
        req.res?.once('close', () => void snapshot.end());
        return snapshot;
      },
    };
    return context;
  };
}
