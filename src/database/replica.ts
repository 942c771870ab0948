import { AsyncResource } from 'node:async_hooks';
import type { DocumentNode, FragmentDefinitionNode, OperationDefinitionNode, SelectionSetNode } from 'graphql';
import { Kind } from 'graphql';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { createDataSource } from '../../ormconfig';
import type { Config } from '../config';
import { isServerBusy } from '../errors';
import type { QueryCounter } from './query-counter';

/**
 * The optional read replica (issue 14, DATABASE_REPLICA_URL): where a plain query's read
 * snapshot (src/http/read-snapshot.ts) is taken. Everything else stays on the primary:
 *
 * - authentication (session tokens, API keys; the admin key needs no database), because a
 *   session terminated or a user deleted a moment ago must be refused on the very next
 *   request, and the replica would still hold them for its lag;
 * - every mutation, and the reads of its payload (ctx.transaction, then loaders on the primary);
 * - the caller's own authority in a query: the signed-in user's memberships, which decide
 *   what Access lets them see (src/http/context.ts, src/auth/access.ts), read once per
 *   request from the primary, lazily, when a check first needs them. A member removed a
 *   moment ago sees nothing more of the organization on the very next request; a member
 *   added a moment ago may see less until the replica catches up (it fails closed);
 * - the queries in PRIMARY_QUERY_FIELDS;
 * - the webhook worker, migrations and /readyz.
 *
 * A query's data all comes from the one snapshot, so it is consistent with itself but may
 * be as old as the replica's lag: a user deleted or another member's membership removed a
 * moment ago can still be read by whoever may still read it (README "Running in
 * production", "Read replica").
 *
 * Unreachable replica: reads fail over to the primary, never to an error, and the gateway
 * stays ready (the replica only spreads load). The first query that cannot connect to the
 * replica takes a primary connection instead and marks the replica down; while it is down
 * every query goes straight to the primary, and a probe (`SELECT 1` every
 * REPLICA_RETRY_MS) brings it back. A replica that cannot be reached at startup does not
 * stop the gateway: it is connected to in the background by the same probe. The change
 * is logged once each way. A replica whose pool is merely full (every connection busy)
 * also hands that query to the primary, without marking the replica down.
 */
export const REPLICA_RETRY_MS = 2_000;

/**
 * Root query fields answered from the primary even with a replica, whatever else the
 * operation selects (one snapshot per request, so the whole request reads the primary):
 * - `viewer`: who the caller is, right after signing in; its session and user were
 *   authenticated on the primary and must not read as missing from a lagging replica.
 * - `deletionReceipt`: how a client learns whether a deletion it could not see complete
 *   happened (issue 14, a gateway killed mid-request). A stale "no receipt" would tell
 *   it a completed deletion had not run.
 */
export const PRIMARY_QUERY_FIELDS: ReadonlySet<string> = new Set(['viewer', 'deletionReceipt', 'deletionJob']);

/** Whether `operation` selects one of PRIMARY_QUERY_FIELDS at its root (through fragments too). */
export function readsPrimary(operation: OperationDefinitionNode, document?: DocumentNode): boolean {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document?.definitions ?? []) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const seen = new Set<string>();
  const visit = (set: SelectionSetNode): boolean =>
    set.selections.some((selection) => {
      switch (selection.kind) {
        case Kind.FIELD:
          return PRIMARY_QUERY_FIELDS.has(selection.name.value);
        case Kind.INLINE_FRAGMENT:
          return visit(selection.selectionSet);
        case Kind.FRAGMENT_SPREAD: {
          const name = selection.name.value;
          if (seen.has(name)) return false;
          seen.add(name);
          const fragment = fragments.get(name);
          // Unknown here (no document given): the safe side.
          return fragment ? visit(fragment.selectionSet) : true;
        }
        default:
          return false;
      }
    });
  return visit(operation.selectionSet);
}

export type ReplicaState = 'in use' | 'unreachable';

type Obtain = () => Promise<[{ query(sql: string): Promise<unknown> }, (error?: unknown) => void]>;

export class ReplicaReads {
  /** The replica's DataSource, once initialized (at startup, or later by the probe). */
  private replica?: DataSource;
  /** The replica pool's own connect, before failOver() wrapped it. */
  private obtainReplica?: Obtain;
  private down = true;
  private downSince?: number;
  private closed = false;
  private timer?: NodeJS.Timeout;
  private probing = false;
  /**
   * setTimeout in the context this object was made in (startup), not in that of the request
   * that found the replica down: the probe's log lines are not that request's (src/logger.ts).
   */
  private readonly later = AsyncResource.bind((run: () => void) => setTimeout(run, REPLICA_RETRY_MS));

  constructor(
    private readonly primary: DataSource,
    private readonly url: string,
    private readonly config: Pick<Config, 'dbReplicaPoolSize' | 'dbLockTimeoutMs' | 'dbStatementTimeoutMs' | 'dbPreparedStatements'>,
    private readonly logger: Logger,
    private readonly queries?: QueryCounter,
  ) {}

  /**
   * Connects to the replica. Never throws: a replica that cannot be reached (or is
   * misconfigured) leaves reads on the primary, is logged, and is retried in the background.
   */
  async open(): Promise<void> {
    await this.connect();
  }

  /** Where the next plain query's snapshot reads: the replica while it is up, else the primary. */
  source(): DataSource {
    return this.down || !this.replica ? this.primary : this.replica;
  }

  /** For /readyz and the log: whether plain queries read the replica now. */
  get state(): ReplicaState {
    return this.down || !this.replica ? 'unreachable' : 'in use';
  }

  /** The replica's DataSource (tests, shutdown); undefined until it was first reached. */
  get dataSource(): DataSource | undefined {
    return this.replica;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.replica?.isInitialized) await this.replica.destroy();
  }

  /** Cuts off every replica connection still checked out (database.abort()). */
  abortConnections(): void {
    endCheckedOutConnections(this.replica);
  }

  private async connect(): Promise<void> {
    const candidate = createDataSource({
      url: this.url,
      poolSize: this.config.dbReplicaPoolSize,
      lockTimeoutMs: this.config.dbLockTimeoutMs,
      statementTimeoutMs: this.config.dbStatementTimeoutMs,
      preparedStatements: this.config.dbPreparedStatements,
      logger: this.queries,
      // Tells the replica's connections apart in pg_stat_activity.
      applicationName: 'identity-gateway-replica-reads',
    });
    try {
      await candidate.initialize();
      const [{ standby }] = (await candidate.query('SELECT pg_is_in_recovery() AS standby')) as Array<{ standby: boolean }>;
      if (!standby) {
        this.logger.warn('DATABASE_REPLICA_URL is not a hot standby (pg_is_in_recovery() is false); plain queries read from it all the same');
      }
      if (this.closed) {
        await candidate.destroy();
        return;
      }
      this.failOver(candidate);
      this.replica = candidate;
      this.markUp();
    } catch (error) {
      if (candidate.isInitialized) await candidate.destroy().catch(() => undefined);
      else await (candidate.driver as unknown as { master?: { end(): Promise<void> } }).master?.end().catch(() => undefined);
      this.markDown(error);
    }
  }

  /**
   * Makes the replica pool's connect fall back to a primary connection: a query's snapshot
   * that cannot get a replica connection (PostgreSQL down, refused, a connect timeout, a
   * full pool) gets a primary one, and the query is answered. The query runner stays the
   * replica DataSource's, holding a primary connection it releases to the primary pool.
   */
  private failOver(replica: DataSource): void {
    const driver = replica.driver as unknown as { obtainMasterConnection: Obtain };
    const primary = this.primary.driver as unknown as { obtainMasterConnection: Obtain };
    const own = driver.obtainMasterConnection.bind(driver);
    this.obtainReplica = own;
    driver.obtainMasterConnection = async () => {
      if (this.down) return primary.obtainMasterConnection();
      try {
        return await own();
      } catch (error) {
        if (!isServerBusy(error)) this.markDown(error);
        return primary.obtainMasterConnection();
      }
    };
  }

  private markUp(): void {
    const wasDown = this.down;
    this.down = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (wasDown) {
      const downMs = this.downSince === undefined ? undefined : Date.now() - this.downSince;
      this.logger.info({ downMs }, 'read replica in use: plain queries read from it');
    }
    this.downSince = undefined;
  }

  private markDown(cause: unknown): void {
    if (!this.down || this.downSince === undefined) {
      this.logger.warn(
        { cause: cause instanceof Error ? cause.message : String(cause) },
        'read replica unreachable: plain queries read from the primary until it answers again',
      );
      this.downSince = Date.now();
    }
    this.down = true;
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.closed || this.timer) return;
    this.timer = this.later(() => {
      this.timer = undefined;
      void this.probe();
    });
    this.timer.unref();
  }

  /** While the replica is down: connect to it (first time) or `SELECT 1` on its own pool. */
  private async probe(): Promise<void> {
    if (this.closed || this.probing) return;
    this.probing = true;
    try {
      if (!this.replica) {
        await this.connect();
        return;
      }
      try {
        const [connection, release] = await this.obtainReplica!();
        try {
          await connection.query('SELECT 1');
          release();
        } catch (error) {
          release(error);
          throw error;
        }
        this.markUp();
      } catch (error) {
        this.markDown(error);
      }
    } finally {
      this.probing = false;
    }
  }
}

/**
 * Cuts off every connection of `dataSource` that is checked out: pg's Client.end() destroys
 * the socket when a query is running, else sends Terminate; either way the client is ending
 * and the pool will not hand it out again (Database.abort, ReplicaReads.abortConnections).
 */
export function endCheckedOutConnections(dataSource: DataSource | undefined): void {
  const driver = dataSource?.driver as PostgresDriver | undefined;
  for (const runner of driver?.connectedQueryRunners ?? []) {
    const client = (runner as unknown as { databaseConnection?: { end(): Promise<void> } }).databaseConnection;
    client?.end().catch(() => undefined);
  }
}
