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
