import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, Kind, type GraphQLFormattedError } from 'graphql';
import { ArgumentValidationError, AuthenticationError, AuthorizationError } from 'type-graphql';
import type { ValidationError } from 'class-validator';
import type { Logger } from 'pino';
import type { DatabaseOutage } from './database/outage';
import { currentLogger } from './logger';

/**
 * The one list of error codes a client can see in `extensions.code`, and the one
 * place where anything thrown becomes a GraphQL error. Apollo's own request-level
 * codes (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, BAD_REQUEST, …) pass through.
 */
export enum ErrorCode {
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  FORBIDDEN = 'FORBIDDEN',
  NOT_FOUND = 'NOT_FOUND',
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  CONFLICT = 'CONFLICT',
  /**
   * Try again shortly (issue 10): the database is unreachable, the pool or the deletion
   * queue is exhausted, or the server is shutting down. HTTP 503 with Retry-After.
   */
  SERVICE_UNAVAILABLE = 'SERVICE_UNAVAILABLE',
  /**
   * The change may or may not have been applied (issue 14): the connection to the database
   * was lost after the mutation's COMMIT, or its one autocommit statement (deleteUser), was
   * sent, so PostgreSQL may have committed it before the answer was lost. Never 503: that
   * status means "nothing ran" and HAProxy retries it on another gateway (ops/haproxy.cfg
   * `retry-on conn-failure 503`), which would answer about work that did happen as if it
   * had not. HTTP 200 like every other field error (GraphQL over HTTP: a response with a
   * `data` entry is 2xx in both media types); not 5xx, since the gateway did answer, and
   * proxies and client libraries commonly retry 502 and 504 by themselves. The same code
   * as HAProxy's own 502/504 body, which says the same for a gateway lost mid-request.
   * The client checks before sending it again: a deletion with deletionReceipt(subjectId).
   */
  OUTCOME_UNKNOWN = 'OUTCOME_UNKNOWN',
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
}

const APOLLO_REQUEST_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
  'INTROSPECTION_DISABLED',
  'MAX_RECURSIVE_SELECTIONS_EXCEEDED',
]);

/** HTTP status for errors that fail the whole request (GraphQL-over-HTTP). */
const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.SERVICE_UNAVAILABLE]: 503,
};

/**
 * The `Retry-After` (RFC 9110 §10.2.3) sent with every SERVICE_UNAVAILABLE answer, in
 * seconds: long enough for a pool connection or a deletion slot to come free, short
 * enough that a client retries soon after the database is back (issue 10).
 */
export const RETRY_AFTER_SECONDS = 2;

/** Messages of SERVICE_UNAVAILABLE: they say what happened, not only "try again" (issue 10). */
export const DATABASE_UNREACHABLE = 'The database is unreachable; try again shortly';
export const SERVER_BUSY = 'The server is busy: no database connection came free in time; try again shortly';
export const DELETIONS_BUSY = 'The server is busy with other deletions; this one was not started. Try again shortly';
/**
 * SQLSTATE 25006 (read_only_sql_transaction): a write reached a server that only reads, a
 * hot standby or a former primary, e.g. while a failover is under way and the pooler still
 * points at the old one. PostgreSQL refused the first write, so nothing of it ran.
 */
export const DATABASE_READ_ONLY = 'The database is read-only for now (a failover may be under way); nothing was written. Try again shortly';
/** The message of OUTCOME_UNKNOWN: what happened, and how the client learns which. */
export const OUTCOME_UNKNOWN_MESSAGE =
  'The connection to the database was lost after this change was sent to it, so it may or may not have been applied. ' +
  'A query can be sent again; check before sending a mutation again (a deletion: deletionReceipt(subjectId) is null while nothing was deleted)';

export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * A failure the client caused or may see: always carries one of our codes. `extensions`
 * are extra facts for a client to act on (IDs only, never input echoed back), sent
 * beside `code` in the error's extensions (e.g. deleteUser's `organizationIds`, issue 9);
 * they never replace `code`.
 */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fields: FieldProblem[] = [],
    readonly extensions: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }

  static unauthenticated(message = 'A valid bearer token is required'): AppError {
    return new AppError(ErrorCode.UNAUTHENTICATED, message);
  }
  static forbidden(message = 'You are not allowed to do this'): AppError {
    return new AppError(ErrorCode.FORBIDDEN, message);
  }
  static notFound(what: string, id: string): AppError {
    return new AppError(ErrorCode.NOT_FOUND, `${what} ${id} was not found`);
  }
  static badInput(field: string, message: string): AppError {
    return new AppError(ErrorCode.BAD_USER_INPUT, message, [{ field, message }]);
  }
  static conflict(message: string, extensions: Readonly<Record<string, unknown>> = {}): AppError {
    return new AppError(ErrorCode.CONFLICT, message, [], extensions);
  }
  /**
   * Try again shortly: answered with HTTP 503 and Retry-After (RETRY_AFTER_SECONDS) for
   * every caller and media type (graphqlResponseStatusPlugin, toGraphQLError).
   */
  static serviceUnavailable(message: string): AppError {
    return new AppError(ErrorCode.SERVICE_UNAVAILABLE, message);
  }
  /**
   * The connection was lost once the commit was sent (inTransaction): OUTCOME_UNKNOWN,
   * HTTP 200 (see ErrorCode). `cause` is the driver's error, for the log only.
   */
  static outcomeUnknown(cause: unknown): AppError {
    const error = new AppError(ErrorCode.OUTCOME_UNKNOWN, OUTCOME_UNKNOWN_MESSAGE);
    (error as { cause?: unknown }).cause = cause;
    return error;
  }

  /**
   * For errors raised outside resolvers (the context function), where Apollo needs a
   * GraphQLError: it reads `extensions.http` (status, headers) for the whole response.
   */
  toGraphQLError(): GraphQLError {
    return new GraphQLError(this.message, {
      extensions: { ...this.extensions, code: this.code, ...httpHead(this.code) },
    });
  }
}

/** The headers every SERVICE_UNAVAILABLE answer carries, for code outside Apollo (e.g. Express middleware). */
export const SERVICE_UNAVAILABLE_HEADERS: Readonly<Record<string, string>> = { 'Retry-After': String(RETRY_AFTER_SECONDS) };

function httpHead(code: ErrorCode): { http?: { status: number; headers?: Map<string, string> } } {
  const status = HTTP_STATUS[code];
  if (!status) return {};
  if (code !== ErrorCode.SERVICE_UNAVAILABLE) return { http: { status } };
  return { http: { status, headers: new Map(Object.entries(SERVICE_UNAVAILABLE_HEADERS)) } };
}

/**
 * Errors the context function raised that are not AppErrors: the GraphQLError Apollo
 * needs, remembered with its cause so that formatError classifies and logs the cause
 * itself (causeOf) rather than a wrapper.
 */
const REQUEST_LEVEL_CAUSES = new WeakMap<GraphQLError, unknown>();

/**
 * What the context function (authentication) throws for any failure: an AppError keeps
 * its code and HTTP status; the database unreachable or busy becomes SERVICE_UNAVAILABLE
 * with 503 and Retry-After; anything else is a bug (INTERNAL_SERVER_ERROR, 500). The
 * cause reaches formatError, which logs it (an outage once, not per request).
 */
export function requestLevelError(error: unknown): GraphQLError {
  const appError = toAppError(error);
  const wrapped = appError
    ? appError.toGraphQLError()
    : new GraphQLError('Internal server error', {
        extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, http: { status: 500 } },
      });
  if (appError !== error) REQUEST_LEVEL_CAUSES.set(wrapped, error);
  return wrapped;
}

/** The error to classify and log: a resolver's own error, or the cause behind requestLevelError. */
function causeOf(raw: unknown): unknown {
  const original = unwrapResolverError(raw);
  return original instanceof GraphQLError && REQUEST_LEVEL_CAUSES.has(original) ? REQUEST_LEVEL_CAUSES.get(original) : original;
}

/** Client-chosen names in messages (unknown field names, paths) are cut to this many characters (issue 11). */
const MAX_NAME_IN_MESSAGE = 64;

export const cutName = (text: string) => (text.length > MAX_NAME_IN_MESSAGE ? `${text.slice(0, MAX_NAME_IN_MESSAGE)}…` : text);

/**
 * graphql's variable coercion messages print the whole invalid value
 * (`Variable "$input" got invalid value { …every field… } at "input.x"; Field "y" is not
 * defined by type "T".`). The same message without the value: the variable, the path
 * within it, and the reason, keeping from the reason only shapes that name schema types
 * and fields (a client's unknown field name is cut to MAX_NAME_IN_MESSAGE). Undefined
 * for any other error. Applied by formatError below (issue 11).
 */
export function withoutEchoedValue(error: GraphQLError): string | undefined {
  const node = error.nodes?.length === 1 ? error.nodes[0] : undefined;
  if (node?.kind !== Kind.VARIABLE_DEFINITION) return undefined;
  const name = node.variable.name.value;
  const prefix = `Variable "$${name}" got invalid value `;
  if (!error.message.startsWith(prefix)) return undefined;
  const inner = error.originalError && error.originalError !== error ? error.originalError.message : '';
  const rest = inner && error.message.endsWith(`; ${inner}`) ? error.message.slice(0, -(inner.length + 2)) : error.message;
  // The path, when graphql gave one, ends the rest as ` at "input.field[0]"`; the paths
  // coercion reports run through defined fields and list indices only.
  const at = rest.lastIndexOf(` at "${name}`);
  const path = at >= 0 && rest.endsWith('"') ? rest.slice(at + 5, -1) : '';
  const validPath = new RegExp(`^${name}(?:\\.[_A-Za-z][_0-9A-Za-z]*|\\[\\d+\\])*$`).test(path);
  return `Variable "$${name}" got an invalid value${validPath ? ` at "${path}"` : ''}; ${reasonWithoutValue(inner)}`;
}

/**
 * Parse and validation messages quote what the document says: a literal value
 * (`Int cannot represent non-integer value: "…"`), an unknown field's name. Each quoted
 * stretch is cut to MAX_NAME_IN_MESSAGE characters, so a message's size follows from the
 * server's limits, never from how much a client wrote (issue 11).
 */
export function withoutLongQuotes(message: string): string {
  return message.replace(/"((?:[^"\\]|\\.)*)"/g, (quoted, inner: string) => (inner.length > MAX_NAME_IN_MESSAGE ? `"${cutName(inner)}"` : quoted));
}

function reasonWithoutValue(inner: string): string {
  const unknownField = /^Field "([\s\S]*)" is not defined by type "(\w+)"\./.exec(inner);
  if (unknownField) return `Field "${cutName(unknownField[1])}" is not defined by type "${unknownField[2]}".`;
  const safe = [
    /^Field "\w+" of required type "[\w[\]!]+" was not provided\.$/,
    /^Expected non-nullable type "[\w[\]!]+" not to be null\.$/,
    /^Expected type "\w+" to be an object\.$/,
  ];
  if (safe.some((pattern) => pattern.test(inner))) return inner;
  const enumType = /^Enum "(\w+)" cannot represent|does not exist in "(\w+)" enum/.exec(inner);
  if (enumType) return `Expected a value of the enum "${enumType[1] ?? enumType[2]}".`;
  const scalar = /^Expected type "(\w+)"/.exec(inner) ?? /^(\w+) cannot represent/.exec(inner);
  if (scalar) return `Expected a value of type "${scalar[1]}".`;
  return 'The value is not valid for its type.';
}

/** PostgreSQL SQLSTATEs that mean "another transaction got in the way; run it again". */
export const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

export function sqlState(error: unknown): string | undefined {
  const candidate = error as { code?: unknown; driverError?: { code?: unknown } } | null;
  const code = candidate?.driverError?.code ?? candidate?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

function flattenValidation(errors: ValidationError[], prefix = ''): FieldProblem[] {
  return errors.flatMap((error) => {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flattenValidation(error.children ?? [], field)];
  });
}

/**
 * SQLSTATE classes and driver errors that mean the database is gone for now (shutting
 * down, starting up, crashed, the connection lost). A pool that is merely full is not
 * among them (isServerBusy): PostgreSQL is up then.
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03']);
const UNAVAILABLE_MESSAGES = /ECONNREFUSED|ECONNRESET|Connection terminated|Client has encountered a connection error|Connection is not established/i;

/**
 * Every connection busy: pg-pool's wait for a free connection ran out (its message for a
 * *queued* checkout; a new connection that times out says "Connection terminated due to
 * connection timeout" instead), or PostgreSQL refused a connection for want of slots
 * (53300 too_many_connections). PostgreSQL is up; the client should try again (issue 10).
 */
export function isServerBusy(error: unknown): boolean {
  if (sqlState(error) === '53300') return true;
  const message = messageOf(error);
  return message.includes('timeout exceeded when trying to connect') || PGBOUNCER_BUSY.test(message);
}

/**
 * PgBouncer's own refusals (issue 14: the gateways reach PostgreSQL through it), in its
 * words (PgBouncer 1.18 src/objects.c, janitor.c). 1.18 sends each as an ErrorResponse
 * with SQLSTATE 08P01, which the class-08 rule below already reads as "unreachable"; later
 * versions give some their own codes (query_wait_timeout as 57014, which would read as a
 * statement timeout, CONFLICT). So they are matched by message, whatever the code. In
 * transaction pooling a client waits for a server connection only before a transaction's
 * (or an autocommit statement's) first statement, so a refusal means nothing of it ran.
 * - Busy (the pooler is up, PostgreSQL may well be): no server connection came free
 *   within query_wait_timeout; no more client connections (max_client_conn,
 *   max_db_connections, max_user_connections).
 * - Unreachable: the server connection died (a PostgreSQL crash or restart,
 *   pg_terminate_backend), the server refuses logins, or PgBouncer is shutting down.
 */
const PGBOUNCER_BUSY = /^(query_wait_timeout|no more connections allowed\b)/;
const PGBOUNCER_UNREACHABLE =
  /^(server conn crashed\?|server login has been failing|pgbouncer cannot connect to server|server shutting down)/;

/** The driver's message (a TypeORM QueryFailedError repeats it, its driverError holds it). */
function messageOf(error: unknown): string {
  const candidate = error as { message?: unknown; driverError?: { message?: unknown } } | null;
  const message = candidate?.driverError?.message ?? candidate?.message;
  return typeof message === 'string' ? message : '';
}

/**
 * TypeORM releases a query runner whose connection broke; when that happens between two
 * statements of a transaction (the database stopping, pg_terminate_backend), the next
 * statement fails with one of these instead of a connection error. The transaction
 * cannot have committed. (test/database-outage.test.ts)
 */
const RELEASED_RUNNER_ERRORS = new Set(['QueryRunnerProviderAlreadyReleasedError', 'QueryRunnerAlreadyReleasedError']);

/**
 * Failures that come before a statement reaches PostgreSQL: the pg client refusing to
 * send on a connection it already knows is broken, a runner TypeORM already released
 * (RELEASED_RUNNER_ERRORS), PgBouncer finding no server connection for it (it assigns one
 * before it forwards anything: query_wait_timeout, "no more connections allowed", "pgbouncer
 * cannot connect to server", "server login has been failing", isServerBusy), or
 * PostgreSQL refusing a login (57P03, starting up).
 */
const NOT_SENT_MESSAGES = /is not queryable|^pgbouncer cannot connect to server|^server login has been failing/;

/**
 * Whether a failure of the statement that commits (a COMMIT, or a unit's one autocommit
 * statement) leaves its outcome unknown (issue 14): the connection was lost after it was
 * sent (reset, terminated, 57P01/57P02 admin or crash shutdown, class 08, PgBouncer's
 * "server conn crashed?"), so PostgreSQL may have committed before the answer was lost,
 * e.g. a backend terminated while waiting for a synchronous standby has committed
 * locally. False for every error PostgreSQL answered the statement with (a constraint,
 * a lock timeout, 25006: the transaction rolled back) and for the failures that come
 * before anything is sent (NOT_SENT_MESSAGES): nothing ran, SERVICE_UNAVAILABLE.
 */
export function outcomeUnknownAfter(error: unknown): boolean {
  if (!isDatabaseUnavailable(error)) return false;
  if (RELEASED_RUNNER_ERRORS.has((error as { name?: unknown } | null)?.name as string)) return false;
  if (sqlState(error) === '57P03') return false;
  return !NOT_SENT_MESSAGES.test(messageOf(error));
}

export function isDatabaseUnavailable(error: unknown): boolean {
  if (isServerBusy(error)) return false;
  if (RELEASED_RUNNER_ERRORS.has((error as { name?: unknown } | null)?.name as string)) return true;
  const state = sqlState(error);
  if (state && (UNAVAILABLE_SQLSTATES.has(state) || state.startsWith('08'))) return true;
  if (PGBOUNCER_UNREACHABLE.test(messageOf(error))) return true;
  // Duck-typed, not `instanceof Error`: socket errors come from Node's own realm, which
  // differs from the application's under jest's module sandbox.
  const candidate = error as { message?: unknown; code?: unknown } | null;
  const message = typeof candidate?.message === 'string' ? `${candidate.message} ${String(candidate.code ?? '')}` : '';
  return UNAVAILABLE_MESSAGES.test(message);
}

/** Translates known non-AppError failures (validation, auth, database races) into AppErrors. */
function toAppError(error: unknown): AppError | undefined {
  if (error instanceof AppError) return error;
  if (error instanceof ArgumentValidationError) {
    // A validator can throw instead of failing: validator's isEmail runs encodeURI, which
    // throws URIError on a lone UTF-16 surrogate, and type-graphql then holds that error here.
    if (!Array.isArray(error.extensions.validationErrors)) {
      return new AppError(ErrorCode.BAD_USER_INPUT, 'Invalid input: a value could not be validated (is it well-formed Unicode text?)');
    }
    const fields = flattenValidation(error.extensions.validationErrors);
    const summary = fields.map((f) => `${f.field}: ${f.message}`).join('; ');
    return new AppError(ErrorCode.BAD_USER_INPUT, `Invalid input. ${summary}`, fields);
  }
  if (error instanceof AuthenticationError) return AppError.unauthenticated();
  if (error instanceof AuthorizationError) return AppError.forbidden();
  // Before the SQLSTATEs: a PgBouncer refusal may carry one that means something else from PostgreSQL.
  if (isServerBusy(error)) return AppError.serviceUnavailable(SERVER_BUSY);
  if (PGBOUNCER_UNREACHABLE.test(messageOf(error))) return AppError.serviceUnavailable(DATABASE_UNREACHABLE);
  switch (sqlState(error)) {
    case '23505':
      return AppError.conflict('This conflicts with an existing record');
    case '22021': // character_not_in_repertoire: PostgreSQL text cannot hold U+0000, which JSON can carry
      return new AppError(ErrorCode.BAD_USER_INPUT, 'Invalid input: text must not contain the NUL character (U+0000)');
    case '25006': // read_only_sql_transaction: refused before the first write (DATABASE_READ_ONLY)
      return AppError.serviceUnavailable(DATABASE_READ_ONLY);
    case '55P03':
    case '57014':
    case '40001': // still failing after inTransaction's retries
    case '40P01':
      return AppError.conflict('The records are busy with another operation; try again shortly');
    default:
      return isDatabaseUnavailable(error) ? AppError.serviceUnavailable(DATABASE_UNREACHABLE) : undefined;
  }
}

/**
 * A failure as a client may read it later (issue 15: DeletionJob.error): "<CODE>: <message>"
 * with the code and message it would have reached a client with, never SQL text or input.
 */
export function publicDescriptionOf(error: unknown): string {
  const known = toAppError(error);
  return known ? `${known.code}: ${known.message}` : `${ErrorCode.INTERNAL_SERVER_ERROR}: An internal error occurred; it was logged`;
}

/** The code a failure will reach the client with (for metrics). */
export function errorCodeOf(error: unknown): string {
  return toAppError(error)?.code ?? ErrorCode.INTERNAL_SERVER_ERROR;
}

/**
 * Apollo's formatError hook: every error leaves with one of our codes or one of
 * Apollo's request-level codes, and never with a stack trace or SQL text.
 */
export function createErrorFormatter(logger: Logger, outage?: DatabaseOutage) {
  // Apollo swallows an exception thrown by formatError without logging it: never throw.
  return (formatted: GraphQLFormattedError, raw: unknown): GraphQLFormattedError => {
    try {
      return formatError(logger, outage, formatted, raw);
    } catch (error) {
      currentLogger(logger).error({ err: error }, 'formatting an error failed');
      return { message: 'Internal server error', extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } };
    }
  };
}

function formatError(
  logger: Logger,
  outage: DatabaseOutage | undefined,
  formatted: GraphQLFormattedError,
  raw: unknown,
): GraphQLFormattedError {
  const original = causeOf(raw);
  const appError = toAppError(original);
  if (appError?.code === ErrorCode.SERVICE_UNAVAILABLE) {
    // An outage is logged once when it starts and once when it ends (DatabaseOutage), not
    // per request; a refusal for want of a connection or a deletion slot is one short line.
    if (isDatabaseUnavailable(original) && outage) outage.refused(original, currentLogger(logger));
    else currentLogger(logger).warn({ path: formatted.path, reason: appError.message }, 'request refused: try again');
  }
  if (appError?.code === ErrorCode.OUTCOME_UNKNOWN) {
    // One line per such answer, with the driver's error: an operator may want to know which ones.
    const cause = (appError as { cause?: unknown }).cause;
    currentLogger(logger).warn({ path: formatted.path, cause: describeCause(cause) }, 'mutation outcome unknown: the database connection was lost after its commit was sent');
  }
  if (appError) {
    return {
      message: appError.message,
      locations: formatted.locations,
      path: formatted.path,
      extensions: {
        ...appError.extensions,
        code: appError.code,
        ...(appError.fields.length ? { fields: appError.fields } : {}),
      },
    };
  }
  // Apollo's own request errors without a code (a persisted query whose hash does not
  // match, an unsupported version) carry a 4xx status: they are the client's, not ours.
  const status = (original as { extensions?: { http?: { status?: number } } } | null)?.extensions?.http?.status;
  const code =
    formatted.extensions?.code === ErrorCode.INTERNAL_SERVER_ERROR && status !== undefined && status < 500
      ? 'BAD_REQUEST'
      : formatted.extensions?.code;
  if (typeof code === 'string' && (APOLLO_REQUEST_CODES.has(code) || code in ErrorCode) && original === raw) {
    // Errors GraphQL or Apollo raised about the request itself (parse, validation, our context's 401).
    const { stacktrace: _stack, exception: _exception, ...extensions } = formatted.extensions ?? {};
    // Issue 11: no error echoes an input value back.
    const message = (original instanceof GraphQLError ? withoutEchoedValue(original) : undefined) ?? withoutLongQuotes(formatted.message);
    return { ...formatted, message, extensions: { ...extensions, code } };
  }
  currentLogger(logger).error({ err: original, path: formatted.path }, 'unexpected error while serving a GraphQL request');
  return {
    message: 'Internal server error',
    locations: formatted.locations,
    path: formatted.path,
    extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR },
  };
}

/** A cause in one short line (name, SQLSTATE or errno code, message), never a stack or SQL text. */
function describeCause(cause: unknown): string | undefined {
  if (cause === undefined) return undefined;
  const error = cause as { name?: unknown; code?: unknown; message?: unknown } | null;
  const parts = [error?.name, error?.code, error?.message].filter((part) => typeof part === 'string' && part !== '');
  return parts.length ? parts.join(': ') : String(cause);
}
