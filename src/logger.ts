import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import pino, { type Logger } from 'pino';
import { pinoHttp } from 'pino-http';

/**
 * Structured JSON logs. Never log an email, a name, a token, an API key secret or
 * SQL parameters: the Authorization header is redacted, bodies are never logged.
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

const requestScope = new AsyncLocalStorage<{ logger: Logger; id: string }>();

/** The current request's logger (its lines carry the request id), else the base logger. */
export function currentLogger(base: Logger): Logger {
  return requestScope.getStore()?.logger ?? base;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

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
    customErrorObject: (_req: IncomingMessage, res: ServerResponse, error: Error, value: Record<string, unknown>) => {
      if (error.message !== `failed with status code ${res.statusCode}`) return value;
      const { err: _madeUp, ...rest } = value;
      return rest;
    },
    serializers: {
      req: (req: { id: unknown; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      // pino-http replaces the logger's own err serializer on its request loggers.
      err: withoutPersonalData,
    },
  });
  return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    http(req, res);
    const request = req as IncomingMessage & { log: Logger; id: unknown };
    requestScope.run({ logger: request.log, id: String(request.id) }, next);
  };
}
