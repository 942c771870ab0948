import { AsyncLocalStorage } from 'node:async_hooks';
import { performance } from 'node:perf_hooks';
import type { ApolloServerPlugin } from '@apollo/server';
import type { NextFunction, Request, Response } from 'express';

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
 */
export class InFlightRequests {
  private readonly entries = new Set<Entry>();
  private readonly scope = new AsyncLocalStorage<Entry>();

  get size(): number {
    return this.entries.size;
  }

  /** Wraps the GraphQL handler: the request counts as in flight until the handler settles. */
  track(handler: (req: Request, res: Response, next: NextFunction) => unknown) {
    return (req: Request, res: Response, next: NextFunction): Promise<void> => {
      const body = req.body as { operationName?: unknown } | undefined;
      const entry: Entry = {
        requestId: String((req as Request & { id?: unknown }).id ?? res.getHeader('x-request-id') ?? ''),
        startedAt: performance.now(),
        operationName: typeof body?.operationName === 'string' ? body.operationName : null,
        operationType: null,
      };
      this.entries.add(entry);
      return this.scope.run(entry, async () => {
        try {
          await handler(req, res, next);
        } finally {
          this.entries.delete(entry);
        }
      });
    };
  }

  /** Fills in the operation's name and type once Apollo has resolved the document. */
  plugin<TContext extends object>(): ApolloServerPlugin<TContext> {
    const scope = this.scope;
    return {
      async requestDidStart() {
        return {
          async didResolveOperation({ operationName, operation }) {
            const entry = scope.getStore();
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
