import type { Clock } from "../clock.ts";
import {
  CloseTimeoutError,
  formatAddress,
  HeartbeatTimeoutError,
  IdleTimeoutError,
  NetError,
  TetherError,
} from "../errors.ts";
import type { NetAddr } from "../runtime/types.ts";

// Peers that vanish are part of a server's life, not errors worth a log line.
const ROUTINE_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "EPIPE",
  "ECONNABORTED",
  "ECLOSED",
  // A client whose TLS handshake failed never became a connection.
  "ETLS",
]);

/** Lines an error log writes per window before it only counts. */
export const LOG_LINES_PER_WINDOW = 10;
/** The window of an error log, in milliseconds. */
export const LOG_WINDOW = 10_000;

/**
 * A server's default `onError`: a peer decides how many errors it causes, so
 * what peers cause costs one line without a stack, at most
 * {@linkcode LOG_LINES_PER_WINDOW} lines in each window, and a summary of the
 * rest at the window's end. Only errors that are not tether's own (a bug in a
 * handler) carry their stack.
 */
export class ErrorLog {
  #write: (...data: unknown[]) => void;
  #clock: Clock;
  #lines = 0;
  #suppressed = new Map<string, number>();
  #timer: unknown;

  /**
   * @param write Where lines go.
   * @param clock The clock of the windows.
   */
  constructor(write: (...data: unknown[]) => void, clock: Clock) {
    this.#write = write;
    this.#clock = clock;
  }

  /** Logs `error` of the connection with the peer at `peer`, if any. */
  report(error: unknown, peer?: NetAddr): void {
    if (error instanceof NetError && ROUTINE_CODES.has(error.code)) return;
    if (error instanceof IdleTimeoutError) return;
    if (error instanceof CloseTimeoutError) return;
    if (error instanceof HeartbeatTimeoutError) return;
    if (this.#timer === undefined) {
      // A log that waits must not keep a process alive.
      this.#timer = this.#clock.setTimeout(
        () => this.#endWindow(),
        LOG_WINDOW,
        false,
      );
    }
    if (this.#lines >= LOG_LINES_PER_WINDOW) {
      const kind = kindOf(error);
      this.#suppressed.set(kind, (this.#suppressed.get(kind) ?? 0) + 1);
      return;
    }
    this.#lines++;
    const from = peer ? ` from ${formatAddress(peer)}` : "";
    if (error instanceof TetherError) {
      this.#write(
        `tether: connection${from} failed: ${error.code}: ${error.message}`,
      );
    } else {
      this.#write(`tether: connection${from} failed:`, error);
    }
  }

  /** Writes the summary of the window so far, and stops its timer. */
  flush(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#endWindow();
  }

  #endWindow(): void {
    this.#timer = undefined;
    this.#lines = 0;
    if (this.#suppressed.size === 0) return;
    let total = 0;
    const kinds: string[] = [];
    for (const [kind, count] of this.#suppressed) {
      total += count;
      kinds.push(`${kind} ×${count}`);
    }
    this.#suppressed.clear();
    this.#write(
      `tether: ${total} more connection errors not logged: ${kinds.join(", ")}`,
    );
  }
}

function kindOf(error: unknown): string {
  if (error instanceof TetherError) return error.code;
  return error instanceof Error ? error.name : typeof error;
}
