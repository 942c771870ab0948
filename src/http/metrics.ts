import type { ApolloServerPlugin, GraphQLRequestContextWillSendResponse } from '@apollo/server';
import { Kind, type FragmentDefinitionNode } from 'graphql';
import { collectFields } from 'graphql/execution/collectFields';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { noteOperation } from '../logger';
import type { Context } from './context';

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/** Recognises the trusted documents Apollo ran (src/http/persisted-queries.ts TrustedDocuments.ranTrusted). */
export interface TrustedSource {
  ranTrusted(queryHash: string | undefined, source: string | undefined): boolean;
}

/** More distinct root fields than this in one operation are labelled "multiple". */
export const MAX_ROOT_FIELDS_IN_LABEL = 2;

/**
 * What an operation ran, as a metric label and the request log's `operation` (issue 11):
 * the trusted operation's name when a trusted document ran (its name is ours, from
 * schema/operations), else the root fields it executed — after @skip/@include and
 * fragments, by field name (not alias), sorted and joined with "+", e.g. "deleteUser" or
 * "organization+viewer"; more than MAX_ROOT_FIELDS_IN_LABEL distinct fields are
 * "multiple". "other" when no operation was resolved (a parse or validation error, a
 * refusal before that). Never the client's operationName: `query DeleteUser { __typename }`
 * is "__typename". Root field names come from the schema (validated), so the set of
 * labels is bounded: the trusted names, and one or two of the schema's root fields.
 */
export function operationLabel(
  trusted: TrustedSource,
  requestContext: Pick<GraphQLRequestContextWillSendResponse<Context>, 'operation' | 'document' | 'source' | 'queryHash' | 'schema' | 'request'>,
): string {
  const { operation, document, source, queryHash, schema, request } = requestContext;
  if (!operation || !document) return 'other';
  // By Apollo's hash of the text, not a second SHA-256 of it per request (issue 13).
  if (operation.name && trusted.ranTrusted(queryHash, source)) return operation.name.value;
  const rootType = schema.getRootType(operation.operation);
  if (!rootType) return 'other';
  const fragments: Record<string, FragmentDefinitionNode> = {};
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments[definition.name.value] = definition;
  }
  let fields: Map<string, ReadonlyArray<{ name: { value: string } }>>;
  try {
    fields = collectFields(schema, fragments, request.variables ?? {}, rootType, operation.selectionSet);
  } catch {
    return 'other'; // a @skip/@include variable missing: the operation did not run
  }
  const names = [...new Set([...fields.values()].map((nodes) => nodes[0].name.value))].sort();
  if (names.length === 0) return 'other';
  return names.length > MAX_ROOT_FIELDS_IN_LABEL ? 'multiple' : names.join('+');
}

/**
 * Prometheus metrics (GET /metrics). One registry per server instance. Labels are
 * bounded: the operation is what ran (operationLabel), never a name the client chose;
 * outcomes are "success" or one of the error codes.
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

  constructor(options: { trusted: TrustedSource; pool: () => PoolStats }) {
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
    this.trusted = options.trusted;
  }

  private readonly trusted: TrustedSource;

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
          async willSendResponse(requestContext) {
            const { response } = requestContext;
            const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
            const outcome = errors?.length ? String(errors[0].extensions?.code ?? 'INTERNAL_SERVER_ERROR') : 'success';
            const operation = operationLabel(metrics.trusted, requestContext);
            noteOperation(operation);
            metrics.requests.inc({ operation, outcome });
            metrics.duration.observe({ operation, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
          },
        };
      },
    };
  }
}
