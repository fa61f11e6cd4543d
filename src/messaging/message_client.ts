import { checkDuration } from "../_options.ts";
import { ClientCore } from "../client/_client_core.ts";
import type { ClientState } from "../client/lifecycle.ts";
import { SendQueue } from "../client/send_queue.ts";
import { type ClientStatus, StatusTracker } from "../client/status_tracker.ts";
import { systemClock } from "../clock.ts";
import type { Connection } from "../connection/connection.ts";
import { ConnectionClosedError } from "../errors.ts";
import type { Framing } from "../framing/framing.ts";
import { rejected } from "../_promises.ts";
import { DONE, pullStream } from "../_pull.ts";
import { toBytes } from "../_values.ts";
import { PendingCalls } from "./_pending_calls.ts";
import type { Session } from "./_session.ts";
import { Sessions } from "./_sessions.ts";
import { encodeEnvelope } from "./envelope.ts";
import { TooManyRequestsError } from "./errors.ts";
import { handshake } from "./handshake.ts";
import {
  type MessageClientOptions,
  type MessageSession,
  type RequestOptions,
  type RequestPolicy,
  resolveMessageOptions,
} from "./message_client_options.ts";

const ACTION = "create message client";

/**
 * A client of the tether messaging protocol: request/reply with many
 * requests in flight on one connection, one-way messages both ways, and a
 * server that can send goaway before it shuts down. It reconnects, finds
 * dead links and reports its state as {@linkcode Client} does, on the same
 * machinery.
 *
 * Create one with {@linkcode createMessageClient}. Iterate it to receive the
 * messages the server pushes.
 *
 * ## What happens to a request
 *
 * - While no connection is ready, a request waits in the queue (bounded by
 *   `queue`), and goes out once the handshake with the next server is done
 *   and `onConnect` has finished.
 * - On a connection, it gets the next id of that connection and waits for
 *   the reply with that id; replies may come in any order.
 * - If its `timeout` passes or its `signal` aborts, it rejects at once; a
 *   reply that comes later is dropped.
 * - If the connection ends before the reply, it rejects at once with
 *   {@linkcode RequestInterruptedError}: the server may or may not have
 *   handled it. It is never sent twice, unless `retryOnReconnect` is on.
 * - If the server sends goaway, the requests it did not accept go out again
 *   on the next connection (they were never handled), the others get their
 *   replies, new ones wait for the next connection, and the client
 *   reconnects with backoff once nothing is left in flight.
 *
 * ## Pushes hold back replies when nobody reads them
 *
 * Pushes and replies share the connection, in the order the server sent
 * them. Up to 1024 pushes wait for the application; past that the client
 * stops reading the connection, so that a server pushing faster than the
 * application reads cannot make it hold unbounded memory, and TCP slows the
 * server down. Replies behind those pushes wait too: requests then end with
 * their timeouts. (Heartbeats are suspended meanwhile: the silence is the
 * application's, not the link's.) So keep a loop over the pushes running for
 * the client's life, and hand slow work off to a queue of your own rather
 * than holding the loop. A client that has no use for pushes from a server
 * that sends them should still read and drop them.
 *
 * @example Requests, pushes and a shutdown
 * ```ts
 * import { createMessageClient, listenMessages } from "@tether/tcp/messaging";
 * import assert from "node:assert/strict";
 *
 * const text = new TextDecoder();
 * await using server = await listenMessages({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   onRequest: (payload, peer) => {
 *     peer.push("you asked something");
 *     return text.decode(payload).toUpperCase();
 *   },
 * });
 * await using client = createMessageClient({ port: server.addr.port });
 * const replies = await Promise.all(
 *   ["a", "b", "c"].map((name) => client.request(name)),
 * );
 * assert.deepEqual(replies.map((r) => text.decode(r)), ["A", "B", "C"]);
 * for await (const message of client) {
 *   assert.equal(text.decode(message), "you asked something");
 *   break;
 * }
 * ```
 */
export class MessageClient extends EventTarget
  implements AsyncIterable<Uint8Array>, AsyncDisposable {
  /**
   * The messages the server pushes, from every connection, in order. Keep
   * reading it: past 1024 unread pushes the client stops reading the
   * connection, and replies wait behind them (see {@linkcode MessageClient}).
   */
  readonly readable: ReadableStream<Uint8Array>;
  /** Settles with the final status once the client is closed. */
  readonly closed: Promise<ClientStatus>;

  #status = new StatusTracker(this);
  #core: ClientCore;
  #framing: Framing;
  #policy: RequestPolicy;
  #queue: SendQueue<Session>;
  #calls: PendingCalls;
  #sessions: Sessions;
  #closing = false;
  #shutdown: Promise<void> | undefined;
  #onConnect: ((session: MessageSession) => void | Promise<void>) | undefined;

  /**
   * Creates a client and starts connecting; {@linkcode createMessageClient}
   * is the usual way.
   *
   * @param options Where to connect and the request policy.
   */
  constructor(options: MessageClientOptions) {
    super();
    const resolved = resolveMessageOptions(ACTION, options);
    const { framing, policy, core } = resolved;
    this.#framing = framing;
    this.#policy = policy;
    this.#queue = new SendQueue(resolved.queue, ACTION);
    this.#onConnect = options.onConnect;
    const clock = options.clock ?? systemClock;
    this.#calls = new PendingCalls(clock, this.#queue);
    this.#sessions = new Sessions(
      this.#calls,
      clock,
      policy.retryOnReconnect,
      () => this.#closing,
    );
    this.#core = new ClientCore(
      {
        ...core,
        onConnect: async (conn) => {
          await handshake(conn, "client", policy.handshakeTimeout, clock);
          this.#sessions.attach(conn);
        },
      },
      this.#status,
      {
        filter: (frame, conn) => this.#sessions.route(frame, conn),
        opening: (conn) => this.#opening(conn),
      },
    );
    this.closed = this.#core.closed.then((status) => {
      this.#closing = true;
      this.#queue.clear(
        new ConnectionClosedError("send", { cause: status.error }),
      );
      return status;
    });
    const inbox = this.#core.inbox;
    this.readable = pullStream(async () => {
      const result = await inbox.next();
      // Data envelopes reach the client's stream as they came: the kind
      // byte goes here.
      return result.done
        ? DONE
        : { done: false, value: result.value.subarray(1) };
    });
    this.#core.start();
  }

  /** The current state. */
  get state(): ClientState {
    return this.#status.current.state;
  }

  /** The current status. */
  get status(): ClientStatus {
    return this.#status.current;
  }

  /** Requests awaiting their replies, queued ones included. */
  get inFlight(): number {
    return this.#calls.size;
  }

  /**
   * Sends a request and waits for its reply. Strings are sent as UTF-8.
   *
   * @param payload The request.
   * @param options A `timeout` and a `signal` for this request.
   * @returns The reply's payload.
   * @throws {RemoteError} If the server's handler failed.
   * @throws {RequestTimeoutError} If no reply came within the timeout.
   * @throws {RequestInterruptedError} If the connection ended before the
   * reply.
   * @throws {TooManyRequestsError} If `maxInFlight` requests are pending.
   * @throws {QueueFullError} If no connection is ready and the queue is full.
   * @throws {ConnectionClosedError} If the client is closed.
   * @throws {FrameTooLargeError} If the request exceeds the framing's limit.
   */
  request(
    payload: Uint8Array | string,
    options: RequestOptions = {},
  ): Promise<Uint8Array> {
    return this.#request(payload, options, undefined);
  }

  /** Sends a request on the ready session, or queues it, or on `pinned`. */
  #request(
    payload: Uint8Array | string,
    options: RequestOptions,
    pinned: Session | undefined,
  ): Promise<Uint8Array> {
    const { signal, timeout = this.#policy.timeout } = options;
    if (signal?.aborted) return rejected(signal.reason);
    try {
      checkDuration("send request", "timeout", timeout);
      if (this.#closing) throw new ConnectionClosedError("send a request");
      pinned?.checkOpen("send a request");
      const { maxInFlight } = this.#policy;
      if (this.#calls.size >= maxInFlight) {
        throw new TooManyRequestsError(maxInFlight);
      }
      const frame = encodeEnvelope({
        kind: "request",
        id: 0,
        payload: toBytes(payload),
      });
      this.#framing.check(frame);
      const session = pinned ?? this.#ready();
      if (!session) this.#queue.checkRoom(frame.byteLength);
      return this.#calls.start(
        frame,
        { timeout, signal },
        pinned !== undefined,
        (call) => session ? session.write(call) : this.#queue.add(call),
      );
    } catch (error) {
      return rejected(error);
    }
  }

  /**
   * Sends a one-way message, for the server's `onMessage`. It goes out now
   * if a connection is ready, or waits in the queue. Strings are sent as
   * UTF-8.
   *
   * @param payload The message.
   * @param options `signal` withdraws a queued message: it is then never
   * sent.
   * @returns A promise that settles once the message is written: the
   * guarantees of {@linkcode Client.send} apply. Use a request to know it
   * was handled.
   * @throws {QueueFullError} If no connection is ready and the queue is full.
   * @throws {ConnectionClosedError} If the client is closed.
   * @throws {FrameTooLargeError} If the message exceeds the framing's limit.
   */
  send(
    payload: Uint8Array | string,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const { signal } = options;
    if (signal?.aborted) return rejected(signal.reason);
    try {
      const frame = this.#dataFrame(payload);
      const session = this.#ready();
      if (session) return session.send(frame);
      return this.#queue.push(frame, signal, true);
    } catch (error) {
      return rejected(error);
    }
  }

  /**
   * Iterates status records, as {@linkcode Client.statuses}.
   *
   * @returns An iterator of status records.
   */
  statuses(): AsyncIterableIterator<ClientStatus> {
    return this.#status.statuses();
  }

  /**
   * Waits until the client reaches `state`, as {@linkcode Client.waitFor}.
   *
   * @param state The state to wait for.
   * @param options `signal` stops waiting, rejecting with its reason.
   * @returns The status that has `state`.
   * @throws {unknown} The client's final error if it closes first (unless
   * waiting for `closed`).
   */
  waitFor(
    state: ClientState,
    options: { signal?: AbortSignal } = {},
  ): Promise<ClientStatus> {
    return this.#status.waitFor(state, options);
  }

  /**
   * Closes the client gracefully: refuses new requests, rejects what is
   * queued (it was never sent), waits for the replies to the requests in
   * flight (each within its timeout), then closes the connection. To stop
   * at once, abort the client's `signal` instead. Calling it again returns
   * the same promise.
   *
   * @returns A promise that settles once everything is closed.
   */
  close(): Promise<void> {
    return this.#shutdown ??= this.#drain();
  }

  async #drain(): Promise<void> {
    this.#closing = true;
    this.#queue.clear(new ConnectionClosedError("send"));
    if (this.#calls.size > 0) await this.#calls.idle();
    await this.#core.close();
    await this.closed;
  }

  /**
   * Iterates the messages the server pushes. Leaving a loop early does not
   * close the client. Keep iterating: past 1024 unread pushes the client
   * stops reading the connection, and replies wait behind them (see
   * {@linkcode MessageClient}).
   *
   * @returns An iterator over the messages.
   *
   * @example Reading pushes for the client's life, and dropping them
   * ```ts
   * import { createMessageClient, listenMessages } from "@tether/tcp/messaging";
   * import assert from "node:assert/strict";
   *
   * await using server = await listenMessages({
   *   hostname: "127.0.0.1",
   *   port: 0,
   *   onRequest: async (_payload, peer) => {
   *     for (let i = 0; i < 2000; i++) await peer.push(`tick ${i}`);
   *     return "done";
   *   },
   * });
   * await using client = createMessageClient({ port: server.addr.port });
   * // Not interested in ticks: read and drop them, or this reply would wait
   * // behind the 1024th.
   * void (async () => {
   *   for await (const _tick of client) {
   *     // dropped
   *   }
   * })();
   * assert.equal(new TextDecoder().decode(await client.request("go")), "done");
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return this.readable.values({ preventCancel: true });
  }

  /**
   * Closes the client, for `await using`.
   *
   * @returns A promise that settles once everything is closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** A one-way message, refused if it cannot be sent now. */
  #dataFrame(payload: Uint8Array | string): Uint8Array {
    if (this.#closing) throw new ConnectionClosedError("send");
    const frame = encodeEnvelope({ kind: "data", payload: toBytes(payload) });
    this.#framing.check(frame);
    return frame;
  }

  /** The session new requests may be written to now, if any. */
  #ready(): Session | undefined {
    return this.#queue.length === 0 ? this.#sessions.ready : undefined;
  }

  /** Runs `onConnect`, then lets the connection take what is queued. */
  async #opening(conn: Connection): Promise<void> {
    const session = this.#sessions.get(conn);
    if (!session) return;
    const onConnect = this.#onConnect;
    if (onConnect) {
      try {
        await onConnect({
          localAddr: conn.localAddr,
          remoteAddr: conn.remoteAddr,
          signal: conn.signal,
          request: (payload, options = {}) =>
            this.#request(payload, options, session),
          send: (payload) => {
            try {
              session.checkOpen("send");
              return session.send(this.#dataFrame(payload));
            } catch (error) {
              return rejected(error);
            }
          },
        });
      } catch (error) {
        // What broke the connection failed the attempt, not what the hook
        // made of its interrupted requests.
        throw conn.signal.aborted ? conn.signal.reason : error;
      }
    }
    // Gone, or told to go away, while `onConnect` ran: the queue waits.
    if (session.goingAway || conn.signal.aborted) return;
    const sessions = this.#sessions;
    sessions.ready = session;
    this.#queue.flush(session, () => sessions.ready === session);
  }
}

/**
 * Creates a client of the tether messaging protocol and starts connecting.
 * It never throws for connection problems: requests wait in its queue until
 * a connection is ready, or until their timeouts.
 *
 * @param options Where to connect, and the reconnection, heartbeat and
 * request policies.
 * @returns The client.
 * @throws {RangeError} If an option is out of range.
 * @throws {TypeError} If the framing cannot carry envelopes.
 *
 * @example Calling a server
 * ```ts
 * import {
 *   createMessageClient,
 *   listenMessages,
 *   RemoteError,
 * } from "@tether/tcp/messaging";
 * import assert from "node:assert/strict";
 *
 * await using server = await listenMessages({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   onRequest: (payload) => {
 *     const n = Number(new TextDecoder().decode(payload));
 *     if (Number.isNaN(n)) throw new Error("not a number");
 *     return String(n * 2);
 *   },
 * });
 * await using client = createMessageClient({ port: server.addr.port });
 * assert.equal(new TextDecoder().decode(await client.request("21")), "42");
 * await assert.rejects(client.request("x"), RemoteError);
 * ```
 */
export function createMessageClient(
  options: MessageClientOptions,
): MessageClient {
  return new MessageClient(options);
}
