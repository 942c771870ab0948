import { randomInt } from 'node:crypto';

/**
 * Sends a request after 0 to maxDelayMs - 1 ms, so that the rounds of a race test
 * (two calls started together with Promise.all) cover different interleavings.
 */
export async function soon<T>(call: () => Promise<T>, maxDelayMs = 4): Promise<T> {
  await new Promise((resolve) => setTimeout(resolve, randomInt(maxDelayMs)));
  return call();
}
