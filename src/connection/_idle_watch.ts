import type { Clock } from "../clock.ts";
import { IdleTimeoutError } from "../errors.ts";
import type { Deadline, Deadlines } from "./_deadlines.ts";

/** What an idle watch needs of its connection. */
interface Watched {
  readonly signal: AbortSignal;
  abort(reason: unknown): void;
}

/** What an idle watch needs of its connection's reader. */
interface Reading {
  readonly waitingSince: number | undefined;
}

/**
 * Aborts a connection with {@linkcode IdleTimeoutError} once its peer has
 * been silent for `timeout` while it reads. It is one entry in a heap of
 * deadlines, which traffic never touches: on expiry it looks at when bytes
 * last arrived and sleeps for the rest of the period.
 */
export class IdleWatch implements Deadline {
  at: number;
  index = -1;
  /** When bytes last arrived, by the clock. */
  last: number;
  #timeout: number;
  #conn: Watched;
  #reader: Reading;
  #deadlines: Deadlines;
  #clock: Clock;

  constructor(
    conn: Watched,
    reader: Reading,
    timeout: number,
    deadlines: Deadlines,
    clock: Clock,
  ) {
    this.#conn = conn;
    this.#reader = reader;
    this.#timeout = timeout;
    this.#deadlines = deadlines;
    this.#clock = clock;
    this.last = clock.now();
    this.at = this.last + timeout;
    deadlines.add(this);
  }

  /** Checks the silence so far; called by the heap once `at` has passed. */
  expire(): void {
    if (this.#conn.signal.aborted) return;
    const now = this.#clock.now();
    const timeout = this.#timeout;
    // Bytes left unread by a busy application are not the peer's silence.
    const since = this.#reader.waitingSince;
    const idle = since === undefined ? 0 : now - Math.max(this.last, since);
    if (idle >= timeout) {
      this.#conn.abort(new IdleTimeoutError(timeout));
    } else {
      this.at = now + timeout - idle;
      this.#deadlines.add(this);
    }
  }

  /** Stops watching for good. */
  stop(): void {
    this.#deadlines.remove(this);
  }
}
