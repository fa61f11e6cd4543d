import type { Clock } from "../clock.ts";
import { sleep } from "../_promises.ts";
import type { Conn, Listener } from "../runtime/types.ts";

/** The wait after an accept fails, in milliseconds: doubled while it fails. */
const ACCEPT_RETRY_DELAY = 5;
/** The longest wait between failing accepts, in milliseconds. */
const MAX_ACCEPT_RETRY_DELAY = 1000;

/**
 * Hands each connection `listener` accepts to `serve`, until the listener
 * ends or `signal` aborts.
 *
 * Accept fails for passing reasons too (out of file descriptors): the error
 * goes to `report` and the loop waits on `clock` before it tries again,
 * rather than spin or give up.
 */
export async function acceptLoop(
  listener: Listener,
  signal: AbortSignal,
  clock: Clock,
  serve: (conn: Conn) => void,
  report: (error: unknown) => void,
): Promise<void> {
  let retryDelay = 0;
  while (!signal.aborted) {
    let conn: Conn | null;
    try {
      conn = await listener.accept();
      retryDelay = 0;
    } catch (error) {
      if (signal.aborted) return;
      report(error);
      retryDelay = Math.min(
        Math.max(retryDelay * 2, ACCEPT_RETRY_DELAY),
        MAX_ACCEPT_RETRY_DELAY,
      );
      await sleep(clock, retryDelay, signal);
      continue;
    }
    if (conn === null) return;
    serve(conn);
  }
}
