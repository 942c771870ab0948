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

/**
 * What the request logging keeps for one request, current (AsyncLocalStorage) for
 * everything that runs on its behalf. The server's one AsyncLocalStorage for requests
 * (issue 13): the in-flight registry finds its entry by `req` too (currentRequest).
 */
class RequestScope {
  /** What ran, as the metrics label it (noteOperation); logged with the request's last line. */
  operation?: string;
  private child?: Logger;

  constructor(
    private readonly makeLogger: () => Logger,
    readonly req: IncomingMessage,
    readonly id: string,
  ) {}

  /**
   * The request's child logger (every line carries `req: { id, method, path }`), built on
   * first use: at LOG_LEVEL=warn most requests never log anything (issue 13).
   */
  get logger(): Logger {
    return (this.child ??= this.makeLogger());
  }
}

const requestScope = new AsyncLocalStorage<RequestScope>();

/** The HTTP request being served in the current async context, if any. */
export function currentRequest(): IncomingMessage | undefined {
  return requestScope.getStore()?.req;
}

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

/** The path only, never the query string (issue 11). Express keeps the full URL in originalUrl; `url` loses its mount path. */
function requestPath(req: IncomingMessage & { originalUrl?: string }): string | undefined {
  return pathOf(req.originalUrl || req.url);
}

/**
 * Gives every request an id (a caller's well-formed X-Request-Id, or a new UUID),
 * echoes it in the response's X-Request-Id, logs the request once it ends, and makes
 * the request's child logger current for everything that runs on its behalf.
 *
 * The request's last line is pino-http's (issue 11's tests read it), written at `info`:
 * `req: { id, method, path }`, `res: { statusCode }`, `responseTime` (ms), `operation`
 * once known. Below `info` (LOG_LEVEL=warn) that line is never written, so pino-http is
 * not mounted at all: it would build a child logger, serialize the request and listen for
 * the response's end on every request for nothing (bench/profile-2026-11-30.md, candidate
 * M). The request id, the header and the lazily built child logger stay at every level.
 */
export function requestLogging(logger: Logger) {
  const serializers = {
    req: (req: IncomingMessage & { id?: unknown }) => ({ id: req.id, method: req.method, path: requestPath(req) }),
    res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
  };
  const genReqId = (req: IncomingMessage, res: ServerResponse): string => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', id);
    return id;
  };
  if (!logger.isLevelEnabled('info')) {
    // A child with serializers of its own replaces the logger's err serializer: the same one again.
    const requestLogger = logger.child(
      {},
      { serializers: { ...serializers, err: (error: Error) => withoutPersonalData(pino.stdSerializers.err(error)) } },
    );
    return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
      const id = genReqId(req, res);
      (req as IncomingMessage & { id: string }).id = id;
      // pino-http listened for the response's 'error' (Node emits one for a write after
      // end); without any listener that would crash the process: keep one.
      res.once('error', ignore);
      requestScope.run(new RequestScope(() => requestLogger.child({ req }), req, id), next);
    };
  }
  const scopeOfRequest = new WeakMap<IncomingMessage, RequestScope>();
  const withOperation = (req: IncomingMessage, value: Record<string, unknown>): Record<string, unknown> => {
    const operation = scopeOfRequest.get(req)?.operation;
    return operation === undefined ? value : { ...value, operation };
  };
  const http = pinoHttp({
    logger,
    genReqId,
    // For a 5xx answered on purpose (503 SERVICE_UNAVAILABLE, issue 10) pino-http makes up
    // an Error, stack trace and all, for every request: keep the status, drop that error.
    // A real error (res.err, or one the response emitted) is logged as before.
    customErrorObject: (req: IncomingMessage, res: ServerResponse, error: Error, value: Record<string, unknown>) => {
      if (error.message !== `failed with status code ${res.statusCode}`) return withOperation(req, value);
      const { err: _madeUp, ...rest } = value;
      return withOperation(req, rest);
    },
    customSuccessObject: (req: IncomingMessage, _res: ServerResponse, value: Record<string, unknown>) => withOperation(req, value),
    // pino-http applies pino's err serializer first, then this one, on its request loggers.
    serializers: { ...serializers, err: withoutPersonalData },
  });
  return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    http(req, res);
    const request = req as IncomingMessage & { log: Logger; id: unknown };
    const scope = new RequestScope(() => request.log, req, String(request.id));
    scopeOfRequest.set(req, scope);
    requestScope.run(scope, next);
  };
}

const ignore = () => undefined;
