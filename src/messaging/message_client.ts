import { checkDuration, checkLimit } from "../_options.ts";
import {
  Client,
  type ClientOptions,
  type ClientState,
  type ClientStatus,
  layerProtocol,
  StatusEvent,
} from "../client/client.ts";
import { type Clock, systemClock } from "../clock.ts";
import type { Connection } from "../connection/connection.ts";
import { handledPromise, rejected } from "../_promises.ts";
import {
  ConnectionClosedError,
  QueueFullError,
  RemoteError,
  RequestInterruptedError,
  RequestTimeoutError,
  TooManyRequestsError,
} from "../errors.ts";
import type { Framing } from "../framing/framing.ts";
import type { HeartbeatOptions } from "../connection/heartbeat.ts";
import type { NetAddr } from "../runtime/types.ts";
import { DEFAULT_QUEUE_BYTES, type QueueOptions } from "../client/send_queue.ts";
import { handleControl } from "./_control.ts";
import { type Deadline, Deadlines } from "../connection/_deadlines.ts";
import {
  decodeEnvelope,
  encodeEnvelope,
  envelopeFraming,
  PING,
  PONG,
  writeId,
} from "./envelope.ts";
import { DEFAULT_HANDSHAKE_TIMEOUT, handshake } from "./handshake.ts";
import { toBytes } from "../_values.ts";

/**
 * The default of {@linkcode MessageClientOptions.timeout}: 30 seconds.
 *
 * @example A client whose requests wait a minute
 * ```ts
 * import { createMessageClient, DEFAULT_REQUEST_TIMEOUT } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_REQUEST_TIMEOUT, 30_000);
 * const client = createMessageClient({
 *   port: 8080,
 *   timeout: 2 * DEFAULT_REQUEST_TIMEOUT,
 * });
 * await client.close();
 * ```
 */
export const DEFAULT_REQUEST_TIMEOUT = 30_000;

/**
 * The default of {@linkcode MessageClientOptions.maxInFlight}.
 *
 * @example Allowing fewer requests at once
 * ```ts
 * import { createMessageClient, DEFAULT_MAX_IN_FLIGHT } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_MAX_IN_FLIGHT, 10_000);
 * const client = createMessageClient({
 *   port: 8080,
 *   maxInFlight: DEFAULT_MAX_IN_FLIGHT / 10,
 * });
 * await client.close();
 * ```
 */
export const DEFAULT_MAX_IN_FLIGHT = 10_000;

// Ids are compared in a window of half the id space: a larger limit would
// make "sent before" and "sent after" ambiguous.
const MAX_IN_FLIGHT_LIMIT = 2 ** 31;
// How long a server may take to close after the client's FIN that follows
// its goaway; pushes keep arriving meanwhile.
const GOAWAY_LINGER = 2000;

/**
 * Options for {@linkcode createMessageClient}: those of
 * {@linkcode createClient}, less the raw frame hooks, plus the request
 * policy.
 *
 * @example A client for a busy service
 * ```ts
 * import {
 *   createMessageClient,
 *   listenMessages,
 *   type MessageClientOptions,
 * } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * await using server = await listenMessages({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   onRequest: (payload) => payload,
 * });
 * const options: MessageClientOptions = {
 *   port: server.addr.port,
 *   timeout: 5000,
 *   maxInFlight: 1000,
 *   retryOnReconnect: false,
 *   heartbeat: { interval: 10_000, timeout: 3000 },
 *   reconnect: { minTimeout: 200, maxTimeout: 10_000 },
 * };
 * await using client = createMessageClient(options);
 * const reply = await client.request("echo");
 * assert.equal(new TextDecoder().decode(reply), "echo");
 * ```
 */
export interface MessageClientOptions
  extends Omit<ClientOptions, "framing" | "heartbeat" | "queue" | "onConnect"> {
  /**
   * The wire format of the frames that carry the envelopes. It must carry
   * any bytes: `"length"` or a {@linkcode lengthPrefixed} framing, not lines.
   *
   * @default {"length"}
   */
  framing?: "length" | Framing;
  /**
   * Heartbeats with the protocol's ping and pong envelopes, or `false` for
   * none. Every protocol server answers them.
   *
   * @default {{}}
   */
  heartbeat?: Omit<HeartbeatOptions, "ping" | "pong"> | false;
  /**
   * Limits of the queue that holds requests and messages while no
   * connection is ready (connecting, reconnecting, or after a goaway). A
   * request or message that does not fit fails at once with
   * {@linkcode QueueFullError}.
   *
   * @default {{ maxLength: 10000, maxBytes: 1048576 }}
   */
  queue?: QueueOptions;
  /**
   * Milliseconds a request may wait for its reply, queued time included,
   * before it fails with {@linkcode RequestTimeoutError}; `0` for no limit.
   * Each request can set its own.
   *
   * @default {30000}
   */
  timeout?: number;
  /**
   * Requests that may await their replies at once, queued ones included. A
   * request beyond it fails at once with {@linkcode TooManyRequestsError}.
   *
   * @default {10000}
   */
  maxInFlight?: number;
  /**
   * Whether requests whose connection broke before the reply are sent again
   * on the next connection instead of failing with
   * {@linkcode RequestInterruptedError}. The server may then handle such a
   * request twice: turn it on only if your requests are safe to repeat.
   * Requests the server refused unread with a goaway are always sent again:
   * they were never handled.
   *
   * @default {false}
   */
  retryOnReconnect?: boolean;
  /**
   * Milliseconds the server has to send its hello after the connection
   * opens, before the attempt fails with a {@linkcode ProtocolError}.
   *
   * @default {10000}
   */
  handshakeTimeout?: number;
  /**
   * Runs after each (re)connection's handshake, before queued requests and
   * messages go out and before the state becomes `open`: authenticate,
   * resubscribe. Make its requests through the {@linkcode MessageSession}
   * it gets: they go out on this connection at once, ahead of the queue,
   * and their replies arrive while it runs. The client's own `request()`
   * and `send()` wait in the queue until it returns, so awaiting one of
   * them inside it only ends with the request's timeout. Pushes that arrive
   * meanwhile are delivered as usual.
   *
   * If it throws, the connection is dropped and the error is handled like
   * a failed attempt, as with {@linkcode ClientOptions.onConnect}: retried
   * if `reconnect.isRetriable` says so (by default only connection
   * failures), otherwise the client closes with reason `failed`: a
   * {@linkcode RemoteError} from a refused login does that. If the
   * connection ends while it runs, the attempt fails with the connection's
   * error, whatever it throws, and it runs again on the next connection.
   */
  onConnect?: (session: MessageSession) => void | Promise<void>;
}

/**
 * One connection of a {@linkcode MessageClient}, as its
 * {@linkcode MessageClientOptions.onConnect} sees it: requests and messages
 * sent through it go out on this connection at once, ahead of the client's
 * queue. They are never sent on another connection: if this one ends
 * first, a request fails with {@linkcode RequestInterruptedError} (even with
 * `retryOnReconnect`), and after a goaway with
 * {@linkcode ConnectionClosedError}. Request timeouts and `maxInFlight`
 * apply as to the client's own requests.
 *
 * @example Logging in on every connection
 * ```ts
 * import {
 *   createMessageClient,
 *   listenMessages,
 *   type MessagePeer,
 *   type MessageSession,
 * } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const text = new TextDecoder();
 * const users = new WeakMap<MessagePeer, string>();
 * await using server = await listenMessages({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   onRequest: (payload, peer) => {
 *     const [verb, arg] = text.decode(payload).split(" ");
 *     if (verb === "LOGIN") {
 *       if (arg !== "s3cret") {
 *         throw Object.assign(new Error("bad token"), { code: "AUTH" });
 *       }
 *       users.set(peer, "ada");
 *       return "welcome";
 *     }
 *     const user = users.get(peer);
 *     if (!user) throw Object.assign(new Error("log in first"), { code: "AUTH" });
 *     return `${user}: ${verb}`;
 *   },
 * });
 * await using client = createMessageClient({
 *   port: server.addr.port,
 *   onConnect: async (session: MessageSession) => {
 *     // The queued request below waits until this login is answered.
 *     await session.request("LOGIN s3cret");
 *   },
 * });
 * assert.equal(text.decode(await client.request("HELLO")), "ada: HELLO");
 * ```
 */
export interface MessageSession {
  /** The client's end of the connection. */
  readonly localAddr: NetAddr;
  /** The server's end of the connection. */
  readonly remoteAddr: NetAddr;
  /** Aborted once the connection is closed, with the reason. */
  readonly signal: AbortSignal;
  /**
   * Sends a request on this connection and waits for its reply, as
   * {@linkcode MessageClient.request} does.
   *
   * @param payload The request.
   * @param options A `timeout` and a `signal` for this request.
   * @returns The reply's payload.
   * @throws {RemoteError} If the server's handler failed.
   * @throws {RequestTimeoutError} If no reply came within the timeout.
   * @throws {RequestInterruptedError} If the connection ended before the
   * reply.
   * @throws {TooManyRequestsError} If `maxInFlight` requests are pending.
   * @throws {ConnectionClosedError} If the connection or the client is
   * closed, or the server sent goaway.
   * @throws {FrameTooLargeError} If the request exceeds the framing's limit.
   */
  request(
    payload: Uint8Array | string,
    options?: RequestOptions,
  ): Promise<Uint8Array>;
  /**
   * Sends a one-way message on this connection, as
   * {@linkcode MessageClient.send} does.
   *
   * @param payload The message.
   * @returns A promise that settles once the message is written.
   * @throws {ConnectionClosedError} If the connection or the client is
   * closed, or the server sent goaway.
   * @throws {FrameTooLargeError} If the message exceeds the framing's limit.
   */
  send(payload: Uint8Array | string): Promise<void>;
}

/**
 * Options of one {@linkcode MessageClient.request}.
 *
 * @example Giving up after 100 ms or when the user leaves
 * ```ts
 * import {
 *   createMessageClient,
 *   listenMessages,
 *   type RequestOptions,
 * } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * await using server = await listenMessages({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   onRequest: () => "pong",
 * });
 * await using client = createMessageClient({ port: server.addr.port });
 * const leave = new AbortController();
 * const options: RequestOptions = { timeout: 100, signal: leave.signal };
 * assert.equal(
 *   new TextDecoder().decode(await client.request("ping", options)),
 *   "pong",
 * );
 * ```
 */
export interface RequestOptions {
  /**
   * Withdraws the request: it rejects with the signal's reason at once. A
   * request already sent is not recalled; its reply is dropped.
   */
  signal?: AbortSignal;
  /**
   * Milliseconds to wait for the reply, queued time included; `0` for no
   * limit.
   *
   * @default {the client's `timeout`}
   */
  timeout?: number;
}

/** One connection's protocol state. */
interface Session {
  readonly conn: Connection;
  /** The id of the next request written to it. */
  nextId: number;
  /** Requests written to it, awaiting their replies, in id order. */
  readonly pending: Map<number, Call>;
  /** Whether the server sent a goaway: nothing new is written to it. */
  goingAway: boolean;
  /** Whether its FIN is sent, after a goaway. */
  finishing: boolean;
}

/** A request awaiting its reply. */
interface Call extends Deadline {
  readonly frame: Uint8Array;
  // Made in `onConnect`: it belongs to its connection, never to another.
  readonly pinned: boolean;
  readonly timeout: number;
  readonly resolve: (reply: Uint8Array) => void;
  readonly reject: (reason: unknown) => void;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  id: number;
  session: Session | undefined;
  sent: boolean;
  settled: boolean;
}

/** A request or a message waiting for a connection. */
interface Queued {
  readonly frame: Uint8Array;
  readonly call: Call | undefined;
  readonly resolve: ((written: Promise<void>) => void) | undefined;
  readonly reject: ((reason: unknown) => void) | undefined;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * A client of the tether messaging protocol: request/reply with many
 * requests in flight on one connection, one-way messages both ways, and a
 * server that can send goaway before it shuts down. It reconnects, finds
 * dead links and reports its state as {@linkcode Client} does, which it is
 * built on.
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
 * import { createMessageClient, listenMessages } from "@tether/tcp";
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

  #client: Client;
  #framing: Framing;
  #timeout: number;
  #maxInFlight: number;
  #maxQueueLength: number;
  #maxQueueBytes: number;
  #retryOnReconnect: boolean;
  #clock: Clock;
  #deadlines: Deadlines;
  #sessions = new Map<Connection, Session>();
  // The session new requests go to; none while connecting or going away.
  #session: Session | undefined;
  #queue: Queued[] = [];
  #queueBytes = 0;
  #inFlight = 0;
  #closing = false;
  #shutdown: Promise<void> | undefined;
  #idle: (() => void) | undefined;
  #onConnect: ((session: MessageSession) => void | Promise<void>) | undefined;

  /**
   * Creates a client and starts connecting; {@linkcode createMessageClient}
   * is the usual way.
   *
   * @param options Where to connect and the request policy.
   */
  constructor(options: MessageClientOptions) {
    super();
    const {
      framing,
      heartbeat = {},
      queue = {},
      timeout = DEFAULT_REQUEST_TIMEOUT,
      maxInFlight = DEFAULT_MAX_IN_FLIGHT,
      retryOnReconnect = false,
      handshakeTimeout = DEFAULT_HANDSHAKE_TIMEOUT,
      onConnect,
      ...rest
    } = options;
    const action = "create message client";
    this.#framing = envelopeFraming(action, framing);
    checkDuration(action, "timeout", timeout);
    checkDuration(action, "handshakeTimeout", handshakeTimeout);
    if (
      !Number.isInteger(maxInFlight) || maxInFlight < 1 ||
      maxInFlight > MAX_IN_FLIGHT_LIMIT
    ) {
      throw new RangeError(
        `Cannot ${action} as 'maxInFlight' must be an integer between 1 and ${MAX_IN_FLIGHT_LIMIT}: current value is ${maxInFlight}`,
      );
    }
    // As many as may be in flight: a burst of requests at start-up fits.
    this.#maxQueueLength = queue.maxLength ?? DEFAULT_MAX_IN_FLIGHT;
    this.#maxQueueBytes = queue.maxBytes ?? DEFAULT_QUEUE_BYTES;
    checkLimit(action, "maxLength", this.#maxQueueLength);
    checkLimit(action, "maxBytes", this.#maxQueueBytes);
    this.#timeout = timeout;
    this.#maxInFlight = maxInFlight;
    this.#retryOnReconnect = retryOnReconnect;
    this.#onConnect = onConnect;
    const clock = options.clock ?? systemClock;
    this.#clock = clock;
    this.#deadlines = new Deadlines(clock);
    this.#client = new Client({
      ...rest,
      framing: this.#framing,
      heartbeat: heartbeat && { ...heartbeat, ping: PING, pong: PONG },
      onConnect: async (conn) => {
        await handshake(conn, "client", handshakeTimeout, clock);
        this.#attach(conn);
      },
    });
    layerProtocol(this.#client, {
      filter: (frame, conn) => this.#route(frame, conn),
      opening: (conn) => this.#opening(conn),
    });
    this.#client.addEventListener("status", (event) => {
      this.dispatchEvent(new StatusEvent((event as StatusEvent).status));
    });
    this.closed = this.#client.closed.then((status) => {
      this.#closing = true;
      this.#clearQueue(
        new ConnectionClosedError("send", { cause: status.error }),
      );
      return status;
    });
    const messages = this.#client[Symbol.asyncIterator]();
    this.readable = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          const { done, value } = await messages.next();
          if (done) controller.close();
          // Data envelopes reach the client's stream as they came: the kind
          // byte goes here.
          else controller.enqueue(value.subarray(1));
        } catch (error) {
          controller.error(error);
        }
      },
    }, { highWaterMark: 0 });
  }

  /** The current state. */
  get state(): ClientState {
    return this.#client.state;
  }

  /** The current status. */
  get status(): ClientStatus {
    return this.#client.status;
  }

  /** Requests awaiting their replies, queued ones included. */
  get inFlight(): number {
    return this.#inFlight;
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
    const { signal, timeout = this.#timeout } = options;
    if (signal?.aborted) return rejected(signal.reason);
    try {
      checkDuration("send request", "timeout", timeout);
      if (this.#closing) throw new ConnectionClosedError("send a request");
      if (pinned) checkOpen(pinned, "send a request");
      if (this.#inFlight >= this.#maxInFlight) {
        throw new TooManyRequestsError(this.#maxInFlight);
      }
      const frame = encodeEnvelope({
        kind: "request",
        id: 0,
        payload: toBytes(payload),
      });
      this.#framing.check(frame);
      const session = pinned ?? this.#ready();
      if (!session) this.#checkRoom(frame);
      return this.#call(frame, timeout, signal, session, pinned !== undefined);
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
      if (session) return session.conn.send(frame);
      this.#checkRoom(frame);
      return handledPromise<void>(({ resolve, reject }) => {
        const entry: Queued = {
          frame,
          call: undefined,
          resolve,
          reject,
          signal,
          onAbort: undefined,
        };
        if (signal) {
          entry.onAbort = () => {
            this.#unqueue(entry);
            reject(signal.reason);
          };
          signal.addEventListener("abort", entry.onAbort, { once: true });
        }
        this.#enqueue(entry);
      });
    } catch (error) {
      return rejected(error);
    }
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
    options?: { signal?: AbortSignal },
  ): Promise<ClientStatus> {
    return this.#client.waitFor(state, options);
  }

  /**
   * Iterates status records, as {@linkcode Client.statuses}.
   *
   * @returns An iterator of status records.
   */
  statuses(): AsyncIterableIterator<ClientStatus> {
    return this.#client.statuses();
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
    this.#clearQueue(new ConnectionClosedError("send"));
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => this.#idle = resolve);
    }
    await this.#client.close();
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
   * import { createMessageClient, listenMessages } from "@tether/tcp";
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
    return this.#queue.length === 0 ? this.#session : undefined;
  }

  #checkRoom(frame: Uint8Array): void {
    if (
      this.#queue.length >= this.#maxQueueLength ||
      this.#queueBytes + frame.byteLength > this.#maxQueueBytes
    ) {
      throw new QueueFullError(
        frame.byteLength,
        this.#queue.length,
        this.#maxQueueBytes,
        this.#maxQueueLength,
      );
    }
  }

  #call(
    frame: Uint8Array,
    timeout: number,
    signal: AbortSignal | undefined,
    session: Session | undefined,
    pinned: boolean,
  ): Promise<Uint8Array> {
    return handledPromise<Uint8Array>(({ resolve, reject }) => {
      const call: Call = {
        frame,
        pinned,
        timeout,
        resolve,
        reject,
        signal,
        onAbort: undefined,
        id: 0,
        session: undefined,
        sent: false,
        settled: false,
        at: 0,
        index: -1,
        expire: () =>
          this.#settle(call, new RequestTimeoutError(timeout, call.sent)),
      };
      this.#inFlight++;
      if (timeout > 0) {
        call.at = this.#clock.now() + timeout;
        this.#deadlines.add(call);
      }
      if (signal) {
        call.onAbort = () => this.#settle(call, signal.reason);
        signal.addEventListener("abort", call.onAbort, { once: true });
      }
      if (session) this.#write(session, call);
      else {
        this.#enqueue({
          frame,
          call,
          resolve: undefined,
          reject: undefined,
          signal: undefined,
          onAbort: undefined,
        });
      }
    });
  }

  #write(session: Session, call: Call): void {
    let id = session.nextId;
    // After 2^32 requests ids come round again: one still awaiting its
    // reply keeps its id.
    while (session.pending.has(id)) id = (id + 1) >>> 0;
    session.nextId = (id + 1) >>> 0;
    writeId(call.frame, id);
    call.id = id;
    call.session = session;
    call.sent = true;
    session.pending.set(id, call);
    void session.conn.send(call.frame);
  }

  #settle(call: Call, error: unknown, reply?: Uint8Array): void {
    if (call.settled) return;
    call.settled = true;
    this.#deadlines.remove(call);
    if (call.onAbort) call.signal!.removeEventListener("abort", call.onAbort);
    const session = call.session;
    if (session) {
      session.pending.delete(call.id);
      if (session.goingAway && session.pending.size === 0) {
        this.#finish(session);
      }
    } else {
      const index = this.#queue.findIndex((entry) => entry.call === call);
      if (index >= 0) this.#unqueue(this.#queue[index]!);
    }
    if (error === undefined) call.resolve(reply!);
    else call.reject(error);
    if (--this.#inFlight === 0 && this.#idle) {
      this.#idle();
      this.#idle = undefined;
    }
  }

  #enqueue(entry: Queued): void {
    this.#queue.push(entry);
    this.#queueBytes += entry.frame.byteLength;
  }

  #unqueue(entry: Queued): void {
    const index = this.#queue.indexOf(entry);
    if (index < 0) return;
    this.#queue.splice(index, 1);
    this.#queueBytes -= entry.frame.byteLength;
  }

  /** Puts requests that must go out again ahead of everything queued. */
  #requeue(calls: Call[]): void {
    const entries = calls.map((call): Queued => {
      call.session = undefined;
      return {
        frame: call.frame,
        call,
        resolve: undefined,
        reject: undefined,
        signal: undefined,
        onAbort: undefined,
      };
    });
    this.#queue.unshift(...entries);
    for (const entry of entries) this.#queueBytes += entry.frame.byteLength;
  }

  #clearQueue(reason: unknown): void {
    const entries = this.#queue;
    this.#queue = [];
    this.#queueBytes = 0;
    for (const entry of entries) {
      if (entry.call) this.#settle(entry.call, reason);
      else {
        if (entry.onAbort) {
          entry.signal!.removeEventListener("abort", entry.onAbort);
        }
        entry.reject!(reason);
      }
    }
  }

  /** A connection finished its handshake: its frames are routed. */
  #attach(conn: Connection): void {
    const session: Session = {
      conn,
      nextId: 0,
      pending: new Map(),
      goingAway: false,
      finishing: false,
    };
    this.#sessions.set(conn, session);
    if (conn.signal.aborted) {
      this.#ended(session);
      return;
    }
    conn.signal.addEventListener("abort", () => this.#ended(session), {
      once: true,
    });
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
              checkOpen(session, "send");
              return session.conn.send(this.#dataFrame(payload));
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
    this.#session = session;
    this.#flush(session);
  }

  #flush(session: Session): void {
    const entries = this.#queue;
    this.#queue = [];
    this.#queueBytes = 0;
    for (let i = 0; i < entries.length; i++) {
      if (this.#session !== session) {
        // The connection broke while taking the queue: the rest waits.
        this.#queue = [...entries.slice(i), ...this.#queue];
        for (const entry of this.#queue) {
          this.#queueBytes += entry.frame.byteLength;
        }
        return;
      }
      const entry = entries[i]!;
      if (entry.call?.settled) continue;
      if (entry.call) this.#write(session, entry.call);
      else {
        if (entry.onAbort) {
          entry.signal!.removeEventListener("abort", entry.onAbort);
        }
        entry.resolve!(session.conn.send(entry.frame));
      }
    }
  }

  /** The connection of `session` ended: its requests cannot be answered. */
  #ended(session: Session): void {
    this.#sessions.delete(session.conn);
    if (this.#session === session) this.#session = undefined;
    const calls = [...session.pending.values()];
    session.pending.clear();
    const retry = this.#retryOnReconnect && !this.#closing;
    if (retry) this.#requeue(calls.filter((call) => !call.pinned));
    const cause = session.conn.signal.reason;
    for (const call of calls) {
      if (retry && !call.pinned) continue;
      call.session = undefined;
      this.#settle(call, new RequestInterruptedError({ cause }));
    }
  }

  /** Takes the frames of the protocol; data goes on to the stream. */
  #route(frame: Uint8Array, conn: Connection): boolean {
    const session = this.#sessions.get(conn);
    if (!session) return true;
    try {
      const envelope = decodeEnvelope(frame);
      switch (envelope.kind) {
        case "data":
          return false;
        case "response": {
          const call = session.pending.get(envelope.id);
          // No such request: it timed out or was aborted, and its late reply
          // is dropped.
          if (call) this.#settle(call, undefined, envelope.payload);
          break;
        }
        case "error": {
          const call = session.pending.get(envelope.id);
          if (call) {
            this.#settle(
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

  #goAway(session: Session, nextId: number): void {
    if (session.goingAway) return;
    session.goingAway = true;
    if (this.#session === session) this.#session = undefined;
    // The server accepted the requests before `nextId` and will answer
    // them; the later ones it never read, so sending them again is safe.
    const window = (session.nextId - nextId) >>> 0;
    const refused: Call[] = [];
    for (const [id, call] of session.pending) {
      if (((id - nextId) >>> 0) < window) refused.push(call);
    }
    for (const call of refused) {
      session.pending.delete(call.id);
      call.sent = false;
    }
    const resent: Call[] = [];
    for (const call of refused) {
      if (!this.#closing && !call.pinned) {
        resent.push(call);
        continue;
      }
      call.session = undefined;
      this.#settle(
        call,
        new ConnectionClosedError("send a request", {
          cause: new Error("The server went away before reading it"),
        }),
      );
    }
    this.#requeue(resent);
    if (session.pending.size === 0) this.#finish(session);
  }

  /**
   * Ends a session that got a goaway once nothing is pending on it: sends a
   * FIN but reads on, so the pushes the server sent until it saw the FIN
   * still arrive; the server then closes, and the client reconnects. A
   * server that does not close is cut off after `GOAWAY_LINGER` ms.
   */
  #finish(session: Session): void {
    const conn = session.conn;
    if (session.finishing) return;
    session.finishing = true;
    conn.closeWrite().catch(() => {});
    const timer = this.#clock.setTimeout(
      () => conn.abort(new ConnectionClosedError("finish after a goaway")),
      GOAWAY_LINGER,
      false,
    );
    void conn.closed.then(() => this.#clock.clearTimeout(timer));
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
 * import { createMessageClient, listenMessages, RemoteError } from "@tether/tcp";
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

/** Refuses to write to a connection that is gone or going away. */
function checkOpen(session: Session, action: string): void {
  if (session.goingAway || session.conn.signal.aborted) {
    throw new ConnectionClosedError(action, {
      cause: session.conn.signal.reason ??
        new Error("The server sent goaway"),
    });
  }
}
