import { unrefTimer } from "./runtime/timers.ts";

/**
 * The time source of the client's timers, replaceable in tests by a fake
 * clock that advances on demand.
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
