import type { Conn } from "./types.ts";

/**
 * The accepted connections of a listener whose runtime pushes them (Bun,
 * Node), until someone calls `accept()`, and the calls waiting for one.
 */
export class AcceptQueue {
  #accepted: Conn[] = [];
  #waiting: ((conn: Conn | null) => void)[] = [];
  #closed = false;

  /** Hands a new connection over, or closes it once the queue is closed. */
  push(conn: Conn): void {
    if (this.#closed) {
      conn.close();
      return;
    }
    const waiter = this.#waiting.shift();
    if (waiter) waiter(conn);
    else this.#accepted.push(conn);
  }

  /** The next connection, or `null` once the queue is closed. */
  next(): Promise<Conn | null> {
    const conn = this.#accepted.shift();
    if (conn) return Promise.resolve(conn);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /**
   * Closes the connections nobody took, and ends the waiting calls with
   * `null`. Returns whether this call closed the queue.
   */
  close(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    for (const conn of this.#accepted.splice(0)) conn.close();
    for (const waiter of this.#waiting.splice(0)) waiter(null);
    return true;
  }
}
