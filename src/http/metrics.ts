import type { ApolloServerPlugin } from '@apollo/server';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Context } from './context';

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/**
 * Prometheus metrics (GET /metrics). One registry per server instance. Labels are
 * bounded: operation names outside the trusted documents count as "other", outcomes
 * are "success" or one of the error codes.
 */
export class Metrics {
  readonly registry = new Registry();

  private readonly requests = new Counter({
    name: 'graphql_requests_total',
    help: 'GraphQL requests by operation name and outcome',
    labelNames: ['operation', 'outcome'],
    registers: [this.registry],
  });

  private readonly duration = new Histogram({
    name: 'graphql_request_duration_seconds',
    help: 'GraphQL request latency by operation name and outcome',
    labelNames: ['operation', 'outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  private readonly deletions = new Counter({
    name: 'deletions_total',
    help: 'deleteUser and deleteOrganization calls by kind and outcome',
    labelNames: ['kind', 'outcome'],
    registers: [this.registry],
  });

  private readonly rowsRemoved = new Histogram({
    name: 'deletion_rows_removed',
    help: 'Rows one committed deletion removed or terminated, by kind and what they were',
    labelNames: ['kind', 'what'],
    buckets: [0, 1, 10, 100, 1_000, 10_000, 100_000, 1_000_000],
    registers: [this.registry],
  });

  constructor(options: { operationNames: ReadonlySet<string>; pool: () => PoolStats }) {
    collectDefaultMetrics({ register: this.registry });
    const { pool } = options;
    new Gauge({
      name: 'db_pool_connections_in_use',
      help: 'Database connections checked out of the pool',
      registers: [this.registry],
      collect() {
        const stats = pool();
        this.set(stats.total - stats.idle);
      },
    });
    new Gauge({
      name: 'db_pool_waiting_requests',
      help: 'Requests waiting for a database connection',
      registers: [this.registry],
      collect() {
        this.set(pool().waiting);
      },
    });
    this.operationNames = options.operationNames;
  }

  private readonly operationNames: ReadonlySet<string>;

  recordDeletion(
    kind: 'USER' | 'ORGANIZATION',
    outcome: string,
    counts?: { sessions: number; memberships: number; users: number },
  ): void {
    this.deletions.inc({ kind, outcome });
    if (!counts) return;
    this.rowsRemoved.observe({ kind, what: 'sessions' }, counts.sessions);
    this.rowsRemoved.observe({ kind, what: 'memberships' }, counts.memberships);
    this.rowsRemoved.observe({ kind, what: 'users' }, counts.users);
  }

  plugin(): ApolloServerPlugin<Context> {
    const metrics = this;
    return {
      // A request refused while building its context (401, or 503 when the database is
      // down) never reaches requestDidStart; count it before its operation is known.
      async contextCreationDidFail({ error }) {
        const code = (error as { extensions?: { code?: unknown } }).extensions?.code;
        metrics.requests.inc({ operation: 'other', outcome: String(code ?? 'INTERNAL_SERVER_ERROR') });
      },
      async requestDidStart() {
        const started = process.hrtime.bigint();
        return {
          async willSendResponse({ operationName, response }) {
            const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
            const outcome = errors?.length ? String(errors[0].extensions?.code ?? 'INTERNAL_SERVER_ERROR') : 'success';
            const operation = operationName && metrics.operationNames.has(operationName) ? operationName : 'other';
            metrics.requests.inc({ operation, outcome });
            metrics.duration.observe({ operation, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
          },
        };
      },
    };
  }
}
