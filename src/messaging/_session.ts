import type { Clock } from "../clock.ts";
import type { Connection } from "../connection/connection.ts";
import { ConnectionClosedError } from "../errors.ts";
import { writeId } from "./envelope.ts";
import type { Call } from "./_pending_calls.ts";

// How long a server may take to close after the client's FIN that follows
// its goaway; pushes keep arriving meanwhile.
const GOAWAY_LINGER = 2000;

/**
 * One connection of a message client, once its handshake is done: the ids
 * of its requests, the calls written to it that await their replies, and
 * its goaway.
 */
export class Session {
  /** The connection. */
  readonly conn: Connection;
  /** Whether the server sent a goaway: nothing new is written to it. */
  goingAway = false;
  // The id of the next request written to it.
  #nextId = 0;
  // Requests written to it, awaiting their replies, in id order.
  #pending = new Map<number, Call>();
  // Whether its FIN is sent, after a goaway.
  #finishing = false;
  #clock: Clock;

  /**
   * @param conn The connection.
   * @param clock The clock of the wait for the server to close after a
   * goaway.
   */
  constructor(conn: Connection, clock: Clock) {
    this.conn = conn;
    this.#clock = clock;
  }

  /** Writes a frame that awaits no reply. */
  send(frame: Uint8Array): Promise<void> {
    return this.conn.send(frame);
  }

  /** Writes `call` with the next free id. */
  write(call: Call): void {
    let id = this.#nextId;
    // After 2^32 requests ids come round again: one still awaiting its
    // reply keeps its id.
    while (this.#pending.has(id)) id = (id + 1) >>> 0;
    this.#nextId = (id + 1) >>> 0;
    writeId(call.frame, id);
    call.id = id;
    call.session = this;
    call.sent = true;
    this.#pending.set(id, call);
    void this.conn.send(call.frame);
  }

  /** The call that awaits the reply with `id`, if any. */
  call(id: number): Call | undefined {
    return this.#pending.get(id);
  }

  /** `call` has its outcome: no reply is awaited for it any more. */
  forget(call: Call): void {
    this.#pending.delete(call.id);
    this.finishIfIdle();
  }

  /**
   * Refuses to write to a connection that is gone or going away.
   *
   * @throws {ConnectionClosedError} If it is.
   */
  checkOpen(action: string): void {
    if (this.goingAway || this.conn.signal.aborted) {
      throw new ConnectionClosedError(action, {
        cause: this.conn.signal.reason ??
          new Error("The server sent goaway"),
      });
    }
  }

  /**
   * Takes the goaway of the server, which read the requests before
   * `nextId` and will answer them.
   *
   * @returns The calls it never read, now unsent and of no session.
   */
  goAway(nextId: number): Call[] {
    this.goingAway = true;
    const window = (this.#nextId - nextId) >>> 0;
    const refused: Call[] = [];
    for (const [id, call] of this.#pending) {
      if (((id - nextId) >>> 0) < window) refused.push(call);
    }
    for (const call of refused) {
      this.#pending.delete(call.id);
      call.sent = false;
      call.session = undefined;
    }
    return refused;
  }

  /**
   * The connection ended: no call written to it will get its reply.
   *
   * @returns Those calls, now of no session.
   */
  interrupt(): Call[] {
    const calls = [...this.#pending.values()];
    this.#pending.clear();
    for (const call of calls) call.session = undefined;
    return calls;
  }

  /**
   * Ends a session that got a goaway once nothing is pending on it: sends a
   * FIN but reads on, so the pushes the server sent until it saw the FIN
   * still arrive; the server then closes, and the client reconnects. A
   * server that does not close is cut off after `GOAWAY_LINGER` ms.
   */
  finishIfIdle(): void {
    if (!this.goingAway || this.#pending.size > 0 || this.#finishing) return;
    this.#finishing = true;
    const conn = this.conn;
    conn.closeWrite().catch(() => {});
    const timer = this.#clock.setTimeout(
      () => conn.abort(new ConnectionClosedError("finish after a goaway")),
      GOAWAY_LINGER,
      false,
    );
    void conn.closed.then(() => this.#clock.clearTimeout(timer));
  }
}
