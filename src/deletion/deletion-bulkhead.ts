import { E_TIMEOUT, Semaphore, withTimeout, type SemaphoreInterface } from 'async-mutex';
import type { Admission } from '../database/transaction';
import { AppError, DELETIONS_BUSY } from '../errors';

/**
 * The bulkhead for deletions (issue 10): at most DB_DELETION_CONCURRENCY deletions
 * (deleteUser, deleteOrganization, dry runs included) hold a pool connection at once, so
 * a burst of large deletions can never take the connections other traffic needs. Further
 * deletions wait in arrival order, holding no connection, for at most
 * DB_DELETION_QUEUE_TIMEOUT_MS; then they are refused with SERVICE_UNAVAILABLE ("busy"),
 * before their transaction has begun, so nothing was changed.
 *
 * The permit is taken before the transaction asks for a connection and given back after
 * the connection is released (inTransaction's `admission`), and kept across its retries.
 * One per running server, built by startServer and handed to resolvers in the context.
 *
 * Why async-mutex rather than a queue of our own: its Semaphore queues waiters first in,
 * first out (a newcomer never overtakes a queued waiter: it is admitted at once only when
 * the queue is empty), `withTimeout` bounds the wait and hands a late permit straight
 * back, and it ships CommonJS with its own types (our build and ts-jest load it as is),
 * with tslib as its only dependency. A hand-rolled queue would be one more piece of
 * concurrency code whose fairness and leaks we would have to prove ourselves.
 */
export class DeletionBulkhead implements Admission {
  private readonly semaphore: SemaphoreInterface;

  constructor(
    readonly concurrency: number,
    readonly queueTimeoutMs: number,
  ) {
    this.semaphore = withTimeout(new Semaphore(concurrency), queueTimeoutMs);
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    const [, release] = await this.semaphore.acquire().catch((error: unknown) => {
      throw error === E_TIMEOUT ? AppError.serviceUnavailable(DELETIONS_BUSY) : error;
    });
    try {
      return await work();
    } finally {
      release();
    }
  }
}
