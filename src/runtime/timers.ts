/**
 * Lets the process exit while `timer` is pending. Deno unrefs timers by id,
 * Bun (like Node) through the timer object.
 */
export function unrefTimer(timer: ReturnType<typeof setTimeout>): void {
  if (typeof timer === "object" && timer !== null && "unref" in timer) {
    (timer as { unref(): void }).unref();
    return;
  }
  const deno = (globalThis as { Deno?: { unrefTimer?(id: number): void } })
    .Deno;
  deno?.unrefTimer?.(timer as unknown as number);
}

type Immediate = (callback: () => void) => unknown;

/**
 * Runs `callback` once the current task and every microtask it queued are
 * over, ahead of timers. Deno, Bun and Node all have `setImmediate`; it costs
 * a fraction of a 0 ms timeout, which is the fallback.
 */
export const afterTask: (callback: () => void) => void =
  (globalThis as { setImmediate?: Immediate }).setImmediate ??
    ((callback) => setTimeout(callback, 0));
