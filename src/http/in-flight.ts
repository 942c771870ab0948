import { performance } from 'node:perf_hooks';
import type { ApolloServerPlugin } from '@apollo/server';
import type { NextFunction, Request, Response } from 'express';
import { currentRequest } from '../logger';

/** A GraphQL request still being worked on, as shutdown reports it (issue 10). */
export interface InFlightRequest {
  /** The request id of the log lines and of the X-Request-Id response header. */
  requestId: string;
  /** The operation's name once Apollo resolved it (else the body's `operationName`); null when anonymous. */
  operationName: string | null;
  /** `query`, `mutation` or `subscription`; null when the document was not resolved yet. */
  operationType: string | null;
  /** Milliseconds since the request reached the GraphQL handler. */
  runningMs: number;
}

interface Entry {
  requestId: string;
  startedAt: number;
  operationName: string | null;
  operationType: string | null;
}

/**
 * The GraphQL requests being worked on, from the moment they reach the handler until
 * the handler is done (the response written, or the work failed). It tracks work, not
 * sockets: a request whose connection was cut at the end of the shutdown grace period
 * stays here while its resolvers still run, which is exactly what shutdown must report
 * as abandoned (issue 10, "Honest shutdown").
 *
 * The plugin finds the request's entry through the request logging's scope
 * (src/logger.ts currentRequest), not an AsyncLocalStorage of its own: every extra one
 * costs every promise of every request (issue 13, bench/profile-2026-11-30.md).
 */
export class InFlightRequests {
  private readonly entries = new Set<Entry>();
  /** The entry of each request being tracked, by the request (which the logging scope holds). */
  private readonly byRequest = new WeakMap<object, Entry>();

  get size(): number {
    return this.entries.size;
  }

  /**
   * Wraps the GraphQL handler: the request counts as in flight until the handler settles.
   * Mounted behind requestLogging (src/logger.ts), whose scope tells the plugin which request it serves.
   */
  track(handler: (req: Request, res: Response, next: NextFunction) => unknown) {
    return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
      const body = req.body as { operationName?: unknown } | undefined;
      const entry: Entry = {
        requestId: String((req as Request & { id?: unknown }).id ?? res.getHeader('x-request-id') ?? ''),
        startedAt: performance.now(),
        operationName: typeof body?.operationName === 'string' ? body.operationName : null,
        operationType: null,
      };
      this.entries.add(entry);
      this.byRequest.set(req, entry);
      try {
        await handler(req, res, next);
      } finally {
        this.entries.delete(entry);
        this.byRequest.delete(req);
      }
    };
  }

  /** Fills in the operation's name and type once Apollo has resolved the document. */
  plugin<TContext extends object>(): ApolloServerPlugin<TContext> {
    const byRequest = this.byRequest;
    return {
      async requestDidStart() {
        return {
          async didResolveOperation({ operationName, operation }) {
            const req = currentRequest();
            const entry = req && byRequest.get(req);
            if (!entry) return;
            entry.operationName = operationName ?? entry.operationName;
            entry.operationType = operation?.operation ?? null;
          },
        };
      },
    };
  }

  /** The requests in flight now, longest-running first. */
  list(): InFlightRequest[] {
    const now = performance.now();
    return [...this.entries]
      .sort((a, b) => a.startedAt - b.startedAt)
      .map((entry) => ({
        requestId: entry.requestId,
        operationName: entry.operationName,
        operationType: entry.operationType,
        runningMs: Math.round(now - entry.startedAt),
      }));
  }
}
