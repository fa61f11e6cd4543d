import type { Clock } from "../clock.ts";
import type { SendQueue, Waiting } from "../client/send_queue.ts";
import { type Deadline, Deadlines } from "../connection/_deadlines.ts";
import { handledPromise } from "../_promises.ts";
import { ConnectionClosedError } from "../errors.ts";
import { RequestInterruptedError, RequestTimeoutError } from "./errors.ts";
import type { Session } from "./_session.ts";

/** A request awaiting its reply, queued or written to a session. */
export class Call implements Deadline, Waiting<Session> {
  /** The request envelope; its id is written when it goes out. */
  readonly frame: Uint8Array;
  // Made in `onConnect`: it belongs to its connection, never to another.
  readonly pinned: boolean;
  /** Its id on its session, once written. */
  id = 0;
  /** The session it was written to, if any. */
  session: Session | undefined;
  /** Whether the server may have read it. */
  sent = false;
  /** Whether it has its outcome. */
  settled = false;
  at = 0;
  index = -1;
  readonly #calls: PendingCalls;
  readonly #resolve: (reply: Uint8Array) => void;
  readonly #reject: (reason: unknown) => void;
  readonly #timeout: number;
  #signal: AbortSignal | undefined;
  #onAbort: (() => void) | undefined;

  constructor(
    calls: PendingCalls,
    frame: Uint8Array,
    pinned: boolean,
    timeout: number,
    settlers: {
      resolve: (reply: Uint8Array) => void;
      reject: (reason: unknown) => void;
    },
  ) {
    this.#calls = calls;
    this.frame = frame;
    this.pinned = pinned;
    this.#timeout = timeout;
    this.#resolve = settlers.resolve;
    this.#reject = settlers.reject;
  }

  /** Rejects the call once `signal` aborts. */
  listen(signal: AbortSignal): void {
    this.#signal = signal;
    this.#onAbort = () => this.#calls.settle(this, signal.reason);
    signal.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** Its timeout passed. */
  expire(): void {
    this.#calls.settle(
      this,
      new RequestTimeoutError(this.#timeout, this.sent),
    );
  }

  /** Goes out on `session`, the connection that takes the queue. */
  deliver(session: Session): void {
    if (!this.settled) session.write(this);
  }

  /** Rejects the call: it will never go out. */
  drop(reason: unknown): void {
    this.#calls.settle(this, reason);
  }

  /** Settles the promise, and stops listening; once only. */
  finish(error: unknown, reply: Uint8Array | undefined): void {
    if (this.#onAbort) {
      this.#signal!.removeEventListener("abort", this.#onAbort);
    }
    if (error === undefined) this.#resolve(reply!);
    else this.#reject(error);
  }
}

/**
 * Every request of a message client awaiting its reply, queued ones
 * included: their count, their timeouts on one timer, and how each settles,
 * once, wherever it waits.
 */
export class PendingCalls {
  #deadlines: Deadlines;
  #clock: Clock;
  #queue: SendQueue<Session>;
  #count = 0;
  #idle: (() => void) | undefined;

  /**
   * @param clock The clock of the timeouts.
   * @param queue Where calls wait for a connection.
   */
  constructor(clock: Clock, queue: SendQueue<Session>) {
    this.#clock = clock;
    this.#deadlines = new Deadlines(clock);
    this.#queue = queue;
  }

  /** Requests awaiting their replies. */
  get size(): number {
    return this.#count;
  }

  /**
   * Starts a call: its timeout and `signal` run from now, and `place` writes
   * or queues it.
   *
   * @returns The reply's payload.
   */
  start(
    frame: Uint8Array,
    options: { timeout: number; signal: AbortSignal | undefined },
    pinned: boolean,
    place: (call: Call) => void,
  ): Promise<Uint8Array> {
    return handledPromise<Uint8Array>((settlers) => {
      const { timeout, signal } = options;
      const call = new Call(this, frame, pinned, timeout, settlers);
      this.#count++;
      if (timeout > 0) {
        call.at = this.#clock.now() + timeout;
        this.#deadlines.add(call);
      }
      if (signal) call.listen(signal);
      place(call);
    });
  }

  /** Settles `call` with `reply`, or with `error` if one is given. */
  settle(call: Call, error: unknown, reply?: Uint8Array): void {
    if (call.settled) return;
    call.settled = true;
    this.#deadlines.remove(call);
    if (call.session) call.session.forget(call);
    else this.#queue.remove(call);
    call.finish(error, reply);
    if (--this.#count === 0 && this.#idle) {
      this.#idle();
      this.#idle = undefined;
    }
  }

  /**
   * The connection of `calls` ended before their replies: with `retry` they
   * go out again on the next connection, unless pinned to theirs; the
   * others fail with {@linkcode RequestInterruptedError}.
   */
  interrupted(calls: Call[], cause: unknown, retry: boolean): void {
    if (retry) this.#queue.putFirst(calls.filter((call) => !call.pinned));
    for (const call of calls) {
      if (retry && !call.pinned) continue;
      this.settle(call, new RequestInterruptedError({ cause }));
    }
  }

  /**
   * The server refused `calls` unread with a goaway: they go out again on
   * the next connection, as they were never handled, unless pinned to
   * theirs or the client is `closing`.
   */
  refused(calls: Call[], closing: boolean): void {
    const resent: Call[] = [];
    for (const call of calls) {
      if (!closing && !call.pinned) {
        resent.push(call);
        continue;
      }
      this.settle(
        call,
        new ConnectionClosedError("send a request", {
          cause: new Error("The server went away before reading it"),
        }),
      );
    }
    this.#queue.putFirst(resent);
  }

  /** Waits until no call is pending; there must be one. */
  idle(): Promise<void> {
    return new Promise<void>((resolve) => this.#idle = resolve);
  }
}
