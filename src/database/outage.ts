import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';

/**
 * Whether the database is away, for the log (issue 10): one warning when the first
 * request is refused because PostgreSQL cannot be reached, one info line when it answers
 * again, with the number of requests refused in between, instead of a stack trace for
 * each refused request.
 *
 * Fed by formatError (every refusal, from a resolver or from authentication) and ended
 * by the first sign of life from PostgreSQL itself: a successful /readyz, or its own
 * probe, a `SELECT 1` every PROBE_INTERVAL_MS while the outage lasts. The probe ends it
 * even when only one connection was lost, so that the next real outage is logged when
 * it starts.
 *
 * Not a sign of life: the pool opening a new connection. Behind PgBouncer (issue 14) a
 * client connection is accepted and authenticated by the pooler while PostgreSQL is
 * down, so every connection the pool opened during an outage would end it and the next
 * refusal would start another: a warning per connection instead of one per outage. A
 * statement that PostgreSQL answered is the only proof, on either path.
 *
 * PgBouncer's own refusals arrive as errors like any other (src/errors.ts): those that
 * mean the server is gone ("server conn crashed?", "server login has been failing") are
 * an outage here; those that mean it is busy (query_wait_timeout, "no more connections
 * allowed") are not, and are logged per request as a pool that is full is.
 */
const PROBE_INTERVAL_MS = 1_000;

export class DatabaseOutage {
  private startedAt: number | undefined;
  private refusedRequests = 0;
  /** Requests already counted, by their request logger (one per request, see logger.ts). */
  private counted = new WeakSet<Logger>();

  private probe: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly dataSource?: DataSource,
  ) {}

  /** Stops the probe (server shutdown). */
  close(): void {
    clearInterval(this.probe);
    this.probe = undefined;
  }

  private startProbe(): void {
    if (this.probe || !this.dataSource) return;
    const dataSource = this.dataSource;
    let running = false;
    this.probe = setInterval(() => {
      if (running || !dataSource.isInitialized) return;
      running = true;
      dataSource
        .query('SELECT 1')
        .then(() => this.reachable())
        .catch(() => undefined)
        .finally(() => {
          running = false;
        });
    }, PROBE_INTERVAL_MS);
    this.probe.unref();
  }

  /**
   * A request was refused because the database could not be reached. `requestLogger` is
   * the request's own logger (currentLogger): a request with several failed fields counts once.
   */
  refused(cause: unknown, requestLogger: Logger = this.logger): void {
    if (this.startedAt === undefined) {
      this.startedAt = Date.now();
      this.refusedRequests = 0;
      this.counted = new WeakSet();
      requestLogger.warn(
        { cause: describe(cause) },
        'database unreachable: refusing requests with SERVICE_UNAVAILABLE until it answers again',
      );
      this.startProbe();
    }
    if (requestLogger !== this.logger) {
      if (this.counted.has(requestLogger)) return;
      this.counted.add(requestLogger);
    }
    this.refusedRequests += 1;
  }

  /** The database answered: ends an outage, if one is ongoing. */
  reachable(): void {
    if (this.startedAt === undefined) return;
    const outageMs = Date.now() - this.startedAt;
    this.startedAt = undefined;
    this.close();
    this.logger.info({ refusedRequests: this.refusedRequests, outageMs }, 'database reachable again');
  }
}

/** The cause in one short line: its name, SQLSTATE or errno code, and message; never a stack. */
function describe(cause: unknown): string {
  const error = cause as { name?: unknown; code?: unknown; message?: unknown } | null;
  const parts = [error?.name, error?.code, error?.message].filter((part) => typeof part === 'string' && part !== '');
  return parts.length ? parts.join(': ') : String(cause);
}
