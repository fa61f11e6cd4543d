import { unrefTimer } from "./runtime/timers.ts";

/**
 * The time source of the client's timers, replaceable in tests by a fake
 * clock that advances on demand.
 *
 * @example A clock that moves only when told to
 * ```ts
 * import type { Clock } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * class ManualClock implements Clock {
 *   #now = 0;
 *   #timers = new Map<object, { at: number; callback: () => void }>();
 *   now(): number {
 *     return this.#now;
 *   }
 *   setTimeout(callback: () => void, ms: number): unknown {
 *     const handle = {};
 *     this.#timers.set(handle, { at: this.#now + ms, callback });
 *     return handle;
 *   }
 *   clearTimeout(handle: unknown): void {
 *     this.#timers.delete(handle as object);
 *   }
 *   advance(ms: number): void {
 *     this.#now += ms;
 *     for (const [handle, timer] of this.#timers) {
 *       if (timer.at > this.#now) continue;
 *       this.#timers.delete(handle);
 *       timer.callback();
 *     }
 *   }
 * }
 *
 * // Pass it as `createClient({ port, clock })` to drive backoff and
 * // heartbeats from a test.
 * const clock = new ManualClock();
 * let fired = false;
 * clock.setTimeout(() => fired = true, 1000);
 * clock.advance(999);
 * assert.equal(fired, false);
 * clock.advance(1);
 * assert.equal(fired, true);
 * ```
 */
export interface Clock {
  /** Milliseconds from an arbitrary origin; never goes backwards. */
  now(): number;
  /**
   * Calls `callback` after `ms` milliseconds.
   *
   * @param callback What to call.
   * @param ms The delay in milliseconds.
   * @param persistent Whether the pending timer keeps the process alive.
   * @returns A handle for {@linkcode Clock.clearTimeout}.
   */
  setTimeout(callback: () => void, ms: number, persistent: boolean): unknown;
  /**
   * Cancels a timer.
   *
   * @param handle The handle `setTimeout` returned.
   */
  clearTimeout(handle: unknown): void;
}

/** The real clock: `performance.now()` and the runtime's timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(callback, ms, persistent) {
    const timer = setTimeout(callback, ms);
    if (!persistent) unrefTimer(timer);
    return timer;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};
