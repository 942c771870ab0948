import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { type Logger } from 'pino';
import { pinoHttp } from 'pino-http';

/**
 * Structured JSON logs. Never log an email, a name, a token, an API key secret or
 * SQL parameters: the Authorization header is redacted, bodies and query strings are
 * never logged.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'identity-gateway' },
      serializers: { err: (error: Error) => withoutPersonalData(pino.stdSerializers.err(error)) },
      // Lines logged on a request's behalf through the base logger (SQL traces, typeorm
      // warnings) carry its id too, not only those of the request's child logger.
      mixin: () => {
        const scope = requestScope.getStore();
        return scope ? { reqId: scope.id } : {};
      },
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'], censor: '[redacted]' },
    },
    destination,
  );
}

/**
 * Error properties that carry row values: TypeORM's QueryFailedError keeps the
 * statement's `parameters` (an INSERT's email and name), PostgreSQL's `detail` quotes
 * keys and failing rows. Dropped at any depth (driverError, cause); the message, code
 * and statement text (placeholders only) stay for diagnosis.
 */
const PERSONAL_ERROR_PROPERTIES = ['parameters', 'detail'];

function withoutPersonalData<T>(serialized: T, depth = 0): T {
  if (!serialized || typeof serialized !== 'object' || depth > 5) return serialized;
  const record = serialized as Record<string, unknown>;
  for (const key of PERSONAL_ERROR_PROPERTIES) delete record[key];
  for (const value of Object.values(record)) withoutPersonalData(value, depth + 1);
  return serialized;
}

interface RequestScope {
  logger: Logger;
  id: string;
  /** What ran, as the metrics label it (noteOperation); logged with the request's last line. */
  operation?: string;
}

const requestScope = new AsyncLocalStorage<RequestScope>();
const scopeOfRequest = new WeakMap<IncomingMessage, RequestScope>();

/**
 * Records what the current request ran, for its "request completed" line: the trusted
 * operation's name or its root fields (src/http/metrics.ts operationLabel), never the
 * client's own operationName, which is free text a client may fill with anything.
 */
export function noteOperation(operation: string): void {
  const scope = requestScope.getStore();
  if (scope) scope.operation = operation;
}

/**
 * The request line's path: the URL without its query part. A query string carries
 * values (a GET query's variables with an email, `?access_token=…`), and no log
 * line holds them (issue 11).
 */
export function pathOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const end = url.search(/[?#]/);
  return end < 0 ? url : url.slice(0, end);
}

/** The current request's logger (its lines carry the request id), else the base logger. */
export function currentLogger(base: Logger): Logger {
  return requestScope.getStore()?.logger ?? base;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The request's last line: what ran, once the GraphQL layer knew it (noteOperation). */
function withOperation(req: IncomingMessage, value: Record<string, unknown>): Record<string, unknown> {
  const operation = scopeOfRequest.get(req)?.operation;
  return operation === undefined ? value : { ...value, operation };
}

/**
 * Gives every request an id (a caller's well-formed X-Request-Id, or a new UUID),
 * echoes it in the response's X-Request-Id, logs the request once it ends, and makes
 * the request's child logger current for everything that runs on its behalf.
 */
export function requestLogging(logger: Logger) {
  const http = pinoHttp({
    logger,
    genReqId: (req: IncomingMessage, res: ServerResponse) => {
      const given = req.headers['x-request-id'];
      const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
      res.setHeader('X-Request-Id', id);
      return id;
    },
    // For a 5xx answered on purpose (503 SERVICE_UNAVAILABLE, issue 10) pino-http makes up
    // an Error, stack trace and all, for every request: keep the status, drop that error.
    // A real error (res.err, or one the response emitted) is logged as before.
    customErrorObject: (req: IncomingMessage, res: ServerResponse, error: Error, value: Record<string, unknown>) => {
      if (error.message !== `failed with status code ${res.statusCode}`) return withOperation(req, value);
      const { err: _madeUp, ...rest } = value;
      return withOperation(req, rest);
    },
    customSuccessObject: (req: IncomingMessage, _res: ServerResponse, value: Record<string, unknown>) => withOperation(req, value),
    serializers: {
      // The path only, never the query string (issue 11): pino's request serializer
      // hands over originalUrl, query and all.
      req: (req: { id: unknown; method: string; url: string }) => ({ id: req.id, method: req.method, path: pathOf(req.url) }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      // pino-http replaces the logger's own err serializer on its request loggers.
      err: withoutPersonalData,
    },
  });
  return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    http(req, res);
    const request = req as IncomingMessage & { log: Logger; id: unknown };
    const scope: RequestScope = { logger: request.log, id: String(request.id) };
    scopeOfRequest.set(req, scope);
    requestScope.run(scope, next);
  };
}
