// Every promise tether hands out that may reject without the caller awaiting
// it is made here, marked handled: sending without awaiting is supported, and
// an unhandled rejection would end a Deno or Node process and every
// connection with it. The one sleep of timed retries, and the promise helpers
// the adapters and the reader share, are here too.
import type { Clock } from "./clock.ts";
import type { ChunkSink } from "./runtime/types.ts";

function ignore(): void {}

/** A rejected promise that is already marked as handled. */
export function rejected(error: unknown): Promise<never> {
  const promise = Promise.reject(error);
  promise.catch(ignore);
  return promise;
}

/** What settles a {@linkcode handledPromise}. */
export interface Settlers<T> {
  resolve(value: T | PromiseLike<T>): void;
  reject(reason: unknown): void;
}

/**
 * A new promise, marked as handled, settled through what `start` is given;
 * resolving it with a promise that rejects is handled too.
 */
export function handledPromise<T>(
  start: (settlers: Settlers<T>) => void,
): Promise<T> {
  const promise = new Promise<T>((resolve, reject) =>
    start({ resolve, reject })
  );
  promise.catch(ignore);
  return promise;
}

/**
 * Waits `ms` milliseconds on `clock`, or less if `signal` aborts: it always
 * resolves. The pending timer keeps the process alive, as work in progress.
 */
export function sleep(
  clock: Clock,
  ms: number,
  signal: AbortSignal,
): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = clock.setTimeout(done, ms, true);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clock.clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/**
 * A settled promise: what an adapter returns for work already done, and the
 * cheapest way to queue a microtask.
 */
export const RESOLVED: Promise<void> = Promise.resolve();

/**
 * `read()` for a connection that has `pull()`: the outcome of one pull as a
 * promise.
 */
export function pulled(
  pull: (sink: ChunkSink) => void,
): Promise<Uint8Array | null> {
  return new Promise((chunk, fail) => pull({ chunk, fail }));
}
