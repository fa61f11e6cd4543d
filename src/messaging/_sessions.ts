import type { Clock } from "../clock.ts";
import type { Connection } from "../connection/connection.ts";
import { handleControl } from "./_control.ts";
import type { PendingCalls } from "./_pending_calls.ts";
import { Session } from "./_session.ts";
import { decodeEnvelope } from "./envelope.ts";
import { RemoteError } from "./errors.ts";

/**
 * The sessions of a message client, one a connection once its handshake is
 * done: each routes the envelopes of its connection to its calls, and hands
 * its calls back when it ends or the server sends goaway.
 */
export class Sessions {
  /** The session new requests go to; none while connecting or going away. */
  ready: Session | undefined;
  #sessions = new Map<Connection, Session>();
  #calls: PendingCalls;
  #clock: Clock;
  #retryOnReconnect: boolean;
  #closing: () => boolean;

  /**
   * @param calls The client's calls.
   * @param clock The clock of the wait after a goaway.
   * @param retryOnReconnect Whether interrupted calls go out again.
   * @param closing Whether the client is closing: nothing goes out again.
   */
  constructor(
    calls: PendingCalls,
    clock: Clock,
    retryOnReconnect: boolean,
    closing: () => boolean,
  ) {
    this.#calls = calls;
    this.#clock = clock;
    this.#retryOnReconnect = retryOnReconnect;
    this.#closing = closing;
  }

  /** The session of `conn`, if it has one. */
  get(conn: Connection): Session | undefined {
    return this.#sessions.get(conn);
  }

  /** A connection finished its handshake: its frames are routed. */
  attach(conn: Connection): void {
    const session = new Session(conn, this.#clock);
    this.#sessions.set(conn, session);
    if (conn.signal.aborted) {
      this.#ended(session);
      return;
    }
    conn.signal.addEventListener("abort", () => this.#ended(session), {
      once: true,
    });
  }

  /** Takes the frames of the protocol; data goes on to the stream. */
  route(frame: Uint8Array, conn: Connection): boolean {
    const session = this.#sessions.get(conn);
    if (!session) return true;
    try {
      const envelope = decodeEnvelope(frame);
      switch (envelope.kind) {
        case "data":
          return false;
        case "response": {
          const call = session.call(envelope.id);
          // No such request: it timed out or was aborted, and its late reply
          // is dropped.
          if (call) this.#calls.settle(call, undefined, envelope.payload);
          break;
        }
        case "error": {
          const call = session.call(envelope.id);
          if (call) {
            this.#calls.settle(
              call,
              new RemoteError(envelope.message, envelope.code || undefined),
            );
          }
          break;
        }
        case "goaway":
          this.#goAway(session, envelope.nextId);
          break;
        default:
          handleControl(envelope, conn, "server");
      }
    } catch (error) {
      conn.abort(error);
    }
    return true;
  }

  /** The connection of `session` ended: its requests cannot be answered. */
  #ended(session: Session): void {
    this.#sessions.delete(session.conn);
    if (this.ready === session) this.ready = undefined;
    this.#calls.interrupted(
      session.interrupt(),
      session.conn.signal.reason,
      this.#retryOnReconnect && !this.#closing(),
    );
  }

  #goAway(session: Session, nextId: number): void {
    if (session.goingAway) return;
    if (this.ready === session) this.ready = undefined;
    this.#calls.refused(session.goAway(nextId), this.#closing());
    session.finishIfIdle();
  }
}
