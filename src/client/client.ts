import {
  checkConnectionLimits,
  checkDuration,
  checkWait,
  resolveFraming,
} from "../_options.ts";
import { FrameQueue } from "../connection/_frame_queue.ts";
import { DONE, pullStream } from "../_pull.ts";
import {
  backoffDelay,
  type BackoffOptions,
  resolveBackoff,
} from "./backoff.ts";
import { type Clock, systemClock } from "../clock.ts";
import { type ConnectOptions, dial } from "../connection/connect.ts";
import {
  type Connection,
  hasFrames,
  holdWrites,
  releaseWrites,
} from "../connection/connection.ts";
import { rejected } from "../_promises.ts";
import type { Framing } from "../framing/framing.ts";
import {
  ConnectionClosedError,
  ConnectTimeoutError,
  FrameTruncatedError,
  HeartbeatTimeoutError,
  IdleTimeoutError,
  NetError,
  OpenTimeoutError,
  ReconnectError,
} from "../errors.ts";
import {
  DEFAULT_HEARTBEAT_INTERVAL,
  DEFAULT_HEARTBEAT_TIMEOUT,
  Heartbeat,
  type HeartbeatOptions,
} from "../connection/heartbeat.ts";
import { type QueueOptions, SendQueue } from "./send_queue.ts";
import { toBytes } from "../_values.ts";

/**
 * The states of a {@linkcode Client}.
 *
 * @example Showing the state to a user
 * ```ts
 * import { type ClientState, createClient, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * function label(state: ClientState): string {
 *   switch (state) {
 *     case "connecting":
 *     case "reconnecting":
 *       return "connecting…";
 *     case "open":
 *       return "online";
 *     case "closed":
 *       return "offline";
 *   }
 * }
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.send(frame);
 *   },
 * });
 * const client = createClient({ port: server.addr.port });
 * assert.equal(label(client.state), "connecting…");
 * await client.waitFor("open");
 * assert.equal(label(client.state), "online");
 * await client.close();
 * assert.equal(label(client.state), "offline");
 * ```
 */
export type ClientState =
  /** Trying to connect for the first time. */
  | "connecting"
  /** Connected: frames flow. */
  | "open"
  /** The connection was lost; waiting to retry, or retrying. */
  | "reconnecting"
  /** Done for good; see {@linkcode ClientStatus.reason}. */
  | "closed";

/**
 * Why a {@linkcode Client} closed.
 *
 * @example Telling a failure from a normal close
 * ```ts
 * import { type ClientCloseReason, createClient, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * function describe(reason: ClientCloseReason | undefined): string {
 *   switch (reason) {
 *     case "closed":
 *       return "closed by the application";
 *     case "aborted":
 *       return "cancelled";
 *     case "failed":
 *       return "gave up";
 *     case undefined:
 *       return "still running";
 *   }
 * }
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: () => {}, // hangs up at once
 * });
 * const client = createClient({ port: server.addr.port, reconnect: false });
 * assert.equal(describe(client.status.reason), "still running");
 * const { reason } = await client.closed;
 * assert.equal(describe(reason), "gave up");
 * ```
 */
export type ClientCloseReason =
  /** {@linkcode Client.close} was called. */
  | "closed"
  /** The client's `signal` was aborted. */
  | "aborted"
  /** Reconnecting was given up, or an error was not worth retrying. */
  | "failed";

/**
 * A snapshot of a {@linkcode Client}'s condition.
 *
 * @example Reading the status
 * ```ts
 * import { type ClientStatus, createClient, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.send(frame);
 *   },
 * });
 * const client = createClient({ port: server.addr.port });
 * const open: ClientStatus = await client.waitFor("open");
 * assert.equal(open.attempt, 0);
 * assert.equal(open.error, undefined);
 * await client.close();
 * const final: ClientStatus = await client.closed;
 * assert.equal(final.state, "closed");
 * assert.equal(final.reason, "closed");
 * ```
 */
export interface ClientStatus {
  /** The state. */
  readonly state: ClientState;
  /**
   * Connection attempts in the current outage, the one under way included;
   * 0 while open. An outage ends only once a connection has lasted
   * `minUptime`.
   */
  readonly attempt: number;
  /** While waiting between attempts: milliseconds until the next one. */
  readonly nextDelay: number | undefined;
  /**
   * Why the link dropped or the last attempt failed; when closed, the error
   * that closed the client (a {@linkcode ReconnectError} after giving up).
   */
  readonly error: unknown;
  /** The last heartbeat round-trip time in milliseconds, once measured. */
  readonly rtt: number | undefined;
  /** When closed: why. */
  readonly reason: ClientCloseReason | undefined;
}

/**
 * Reconnection policy: backoff options plus when to reset and retry.
 *
 * @example Giving up after three refused attempts
 * ```ts
 * import {
 *   createClient,
 *   listen,
 *   NetError,
 *   ReconnectError,
 *   type ReconnectOptions,
 * } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * // A port that nothing listens on any more.
 * const server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: () => {},
 * });
 * const port = server.addr.port;
 * await server.close();
 *
 * const reconnect: ReconnectOptions = {
 *   minTimeout: 10,
 *   maxTimeout: 100,
 *   maxAttempts: 3,
 *   minUptime: 1000,
 *   isRetriable: (error) =>
 *     error instanceof NetError && error.code === "ECONNREFUSED",
 * };
 * const client = createClient({ port, reconnect });
 * const { error } = await client.closed;
 * assert.ok(error instanceof ReconnectError);
 * assert.equal(error.attempts, 3);
 * ```
 */
export interface ReconnectOptions extends BackoffOptions {
  /**
   * Milliseconds a connection must stay up before the backoff starts over.
   * A server that accepts and drops at once thus meets growing waits, not a
   * storm of reconnects. A shorter connection does not end the outage: its
   * attempts and time keep counting towards `maxAttempts` and `maxElapsed`.
   *
   * @default {5000}
   */
  minUptime?: number;
  /**
   * Decides whether an error is worth another attempt. User aborts and
   * {@linkcode Client.close} never retry, whatever it says.
   *
   * @default {isRetriable}
   */
  isRetriable?: (error: unknown) => boolean;
}

/**
 * Options for {@linkcode createClient}.
 *
 * @example A line client with heartbeats and a greeting
 * ```ts
 * import { type ClientOptions, createClient, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   framing: "line",
 *   heartbeat: true,
 *   handler: async (conn) => {
 *     for await (const line of conn) conn.send(line);
 *   },
 * });
 * const options: ClientOptions = {
 *   port: server.addr.port,
 *   framing: "line",
 *   reconnect: { minTimeout: 100, maxAttempts: 5 },
 *   heartbeat: { interval: 5000, timeout: 2000 },
 *   queue: { maxLength: 100 },
 *   onConnect: (conn) => conn.send("HELLO"),
 * };
 * await using client = createClient(options);
 * for await (const line of client) {
 *   assert.equal(new TextDecoder().decode(line), "HELLO");
 *   break;
 * }
 * ```
 */
export interface ClientOptions extends Omit<ConnectOptions, "signal"> {
  /** Aborting it closes the client at once, rejecting what is unsent. */
  signal?: AbortSignal;
  /**
   * The reconnection policy, or `false` to close the client when its first
   * connection fails or ends.
   *
   * @default {{}}
   */
  reconnect?: ReconnectOptions | false;
  /**
   * Heartbeats that detect half-open links, or `false` for none. The server
   * must answer pings (see `ListenOptions.heartbeat`).
   *
   * @default {false}
   */
  heartbeat?: HeartbeatOptions | false;
  /** Limits of the queue that holds frames sent while disconnected. */
  queue?: QueueOptions;
  /**
   * Runs after each (re)connection, before queued frames are sent and before
   * the state becomes `open`: re-announce a session, authenticate,
   * resubscribe. If it throws, the connection is dropped and the error is
   * handled like a failed attempt. The connection ending, the client
   * closing or `openTimeout` passing fails the attempt without waiting for
   * it.
   */
  onConnect?: (conn: Connection) => void | Promise<void>;
  /**
   * Milliseconds that `onConnect`, and the opening of a protocol built on
   * the client (the messaging handshake), may take before the attempt fails
   * with {@linkcode OpenTimeoutError} and the connection is aborted.
   *
   * @default {30000}
   */
  openTimeout?: number;
  /**
   * The time source of backoff waits and heartbeats.
   *
   * @default {the system clock}
   */
  clock?: Clock;
  /**
   * The random source of the backoff jitter, returning numbers in [0, 1).
   *
   * @default {Math.random}
   */
  random?: () => number;
}

/**
 * The event a {@linkcode Client} dispatches with each new status.
 *
 * @example Logging state changes
 * ```ts
 * import { createClient, listen, StatusEvent } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.send(frame);
 *   },
 * });
 * const client = createClient({ port: server.addr.port });
 * const states: string[] = [];
 * client.addEventListener("status", (event) => {
 *   if (event instanceof StatusEvent) states.push(event.status.state);
 * });
 * await client.waitFor("open");
 * await client.close();
 * assert.deepEqual(states, ["open", "closed"]);
 * ```
 */
export class StatusEvent extends Event {
  /** The new status. */
  readonly status: ClientStatus;

  /**
   * Creates the event.
   *
   * @param status The new status.
   */
  constructor(status: ClientStatus) {
    super("status");
    this.status = status;
  }
}

/**
 * The default {@linkcode ReconnectOptions.isRetriable}: socket failures,
 * timeouts (connect, open, heartbeat, idle), a server that closed the connection,
 * and a frame cut off by a crash are retried; bad frames, permission errors
 * and errors from application code are not.
 *
 * @param error What ended the connection or the attempt.
 * @returns Whether to try again.
 *
 * @example Extending the default
 * ```ts
 * import { createClient, isRetriable } from "@tether/tcp";
 *
 * const client = createClient({
 *   port: 8080,
 *   reconnect: {
 *     isRetriable: (error) =>
 *       isRetriable(error) || (error as Error).message === "try later",
 *   },
 * });
 * await client.close();
 * ```
 */
export function isRetriable(error: unknown): boolean {
  if (error instanceof NetError) return error.code !== "EACCES";
  return error instanceof ConnectTimeoutError ||
    error instanceof OpenTimeoutError ||
    error instanceof HeartbeatTimeoutError ||
    error instanceof IdleTimeoutError ||
    error instanceof ConnectionClosedError ||
    error instanceof FrameTruncatedError;
}

interface Watcher {
  records: ClientStatus[];
  wake: (() => void) | undefined;
}

/**
 * Sees each incoming frame, with the connection it came on, before the
 * client's stream; returns true for a frame it consumed.
 */
export type FrameFilter = (frame: Uint8Array, conn: Connection) => boolean;

/** What a protocol layered on a {@linkcode Client} plugs into it. */
export interface ProtocolLayer {
  /**
   * Routes the incoming frames first: the protocol takes its replies there,
   * knowing which connection each came on, and leaves the rest to the
   * client's stream.
   */
  filter: FrameFilter;
  /**
   * Runs once `onConnect` has finished, with the frames of the connection
   * already flowing through `filter`, before queued frames are sent and the
   * state becomes `open`: the protocol's own start, which may await
   * replies. A failure, or the connection ending first, fails the attempt
   * as a failing `onConnect` does.
   */
  opening?: (conn: Connection) => Promise<void>;
}

// Kept out of the options: the only layer is a protocol built on the client,
// which owns the client it creates.
const layers = new WeakMap<Client, ProtocolLayer>();

/** Plugs a protocol into `client`; see {@linkcode ProtocolLayer}. */
export function layerProtocol(client: Client, layer: ProtocolLayer): void {
  layers.set(client, layer);
}

const DEFAULT_OPEN_TIMEOUT = 30_000;

// Every move a client's state may make, and the only ones: the run loop
// moves between the first three, #stop to "closed", which is final.
const TRANSITIONS: Record<ClientState, readonly ClientState[]> = {
  connecting: ["connecting", "open", "closed"],
  open: ["open", "reconnecting", "closed"],
  reconnecting: ["reconnecting", "open", "closed"],
  closed: [],
};

// Frames received but not yet read by the application; past this the
// client stops reading and TCP pushes back on the server.
const INBOX_SIZE = 1024;

// A status iterator nobody reads keeps only its newest records.
const MAX_BUFFERED_STATUSES = 256;

/**
 * A framed connection that heals itself: it reconnects with backoff and
 * jitter, detects half-open links with heartbeats, queues frames sent while
 * disconnected, and reports every change of state.
 *
 * Create one with {@linkcode createClient}. Incoming frames from every
 * connection arrive, in order, on one stream.
 *
 * ## Delivery guarantees
 *
 * - A frame sent while disconnected waits in a bounded queue and goes out,
 *   in order, once a connection is open and `onConnect` has finished.
 * - A `send()` that rejects with {@linkcode QueueFullError}, with the abort
 *   reason of its `signal`, or because the client closed before it was
 *   written, was never sent and never will be.
 * - A `send()` that resolves was handed to the OS; if the link breaks before
 *   the peer reads it, it is lost. When {@linkcode Client.close} resolves
 *   with the reason `"closed"` and no `error`, every such frame was written
 *   before a FIN, and a server that closed its side within 2 s of it read
 *   them all; a close cut short says why in `error`. A `send()` that
 *   rejects with the error of a breaking connection may or may not have
 *   reached the peer. Frames are never sent twice: nothing is replayed after
 *   a reconnect.
 * - A failed write ends the connection: the client reconnects, and frames
 *   sent meanwhile wait in the queue.
 * - Frames the peer sent are delivered in order; what was in flight when a
 *   link broke is lost, in both directions.
 *
 * @example A client that survives server restarts
 * ```ts ignore
 * import { createClient } from "@tether/tcp";
 *
 * const client = createClient({
 *   port: 8080,
 *   heartbeat: { interval: 5000, timeout: 2000 },
 *   onConnect: (conn) => conn.send("hello again"),
 * });
 * client.addEventListener("status", (event) => {
 *   console.error(`state: ${event.status.state}`);
 * });
 * client.send("queued until connected");
 * for await (const frame of client) console.log(new TextDecoder().decode(frame));
 * ```
 */
export class Client extends EventTarget
  implements AsyncIterable<Uint8Array>, AsyncDisposable {
  /** Settles with the final status once the client is closed. */
  readonly closed: Promise<ClientStatus>;

  #options: ConnectOptions;
  #framing: Framing;
  #reconnect: boolean;
  #backoff: ReturnType<typeof resolveBackoff>;
  #minUptime: number;
  #isRetriable: (error: unknown) => boolean;
  #heartbeat:
    | { interval: number; timeout: number; ping: Uint8Array; pong: Uint8Array }
    | undefined;
  #onConnect: ((conn: Connection) => void | Promise<void>) | undefined;
  #openTimeout: number;
  #clock: Clock;
  #random: () => number;
  #queue: SendQueue;
  #status: ClientStatus = {
    state: "connecting",
    attempt: 0,
    nextDelay: undefined,
    error: undefined,
    rtt: undefined,
    reason: undefined,
  };
  #conn: Connection | undefined;
  // A connection still opening (`onConnect`, a layer's opening): stopping
  // must interrupt it too.
  #pending: Connection | undefined;
  // The heartbeat of the connection being opened or open.
  #beat: Heartbeat | undefined;
  #lifecycle = new AbortController();
  // Set once the client stops; `reason` and `error` may still change from a
  // close to an abort until `closed` settles.
  #final: { reason: ClientCloseReason; error: unknown } | undefined;
  // The connection a close() ends gracefully, which an abort may cut short.
  #closing: Connection | undefined;
  #inbox = new FrameQueue();
  #readable: ReadableStream<Uint8Array> | undefined;
  // The application took a frame and has not asked for the next one yet.
  #handedOut = false;
  // The pump is moving a frame from the connection to the inbox.
  #inTransit = false;
  #roomMade: (() => void) | undefined;
  #running: Promise<void> = Promise.resolve();
  #watchers = new Set<Watcher>();
  #resolveClosed!: (status: ClientStatus) => void;
  #userSignal: AbortSignal | undefined;
  #onUserAbort = () => this.#stop("aborted", this.#userSignal?.reason);

  /**
   * Creates a client and starts connecting; {@linkcode createClient} is the
   * usual way.
   *
   * @param options Where to connect and how to stay connected.
   */
  constructor(options: ClientOptions) {
    super();
    const { reconnect = {}, heartbeat = false } = options;
    this.#framing = resolveFraming(options.framing);
    this.#options = { ...options, framing: this.#framing };
    this.#reconnect = reconnect !== false;
    this.#backoff = resolveBackoff(reconnect || {});
    this.#minUptime = (reconnect ? reconnect.minUptime : undefined) ?? 5000;
    checkDuration("reconnect", "minUptime", this.#minUptime);
    this.#isRetriable = (reconnect && reconnect.isRetriable) || isRetriable;
    if (heartbeat) {
      const resolved = {
        interval: heartbeat.interval ?? DEFAULT_HEARTBEAT_INTERVAL,
        timeout: heartbeat.timeout ?? DEFAULT_HEARTBEAT_TIMEOUT,
        ping: toBytes(heartbeat.ping ?? "PING"),
        pong: toBytes(heartbeat.pong ?? "PONG"),
      };
      for (const name of ["interval", "timeout"] as const) {
        checkWait(
          "connect",
          `heartbeat.${name}`,
          resolved[name],
          "heartbeat: false turns heartbeats off",
        );
      }
      this.#heartbeat = resolved;
    }
    this.#onConnect = options.onConnect;
    this.#openTimeout = options.openTimeout ?? DEFAULT_OPEN_TIMEOUT;
    checkDuration("connect", "openTimeout", this.#openTimeout);
    checkConnectionLimits("connect", options);
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#queue = new SendQueue(options.queue);
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    const signal = options.signal;
    if (signal?.aborted) {
      this.#stop("aborted", signal.reason);
      return;
    }
    if (signal) {
      this.#userSignal = signal;
      signal.addEventListener("abort", this.#onUserAbort, { once: true });
    }
    // A bug here must not leave `closed` pending forever.
    this.#running = this.#run().catch((error) => this.#stop("failed", error));
  }

  /** Whether the client has begun to stop. */
  get #stopping(): boolean {
    return this.#final !== undefined;
  }

  /** The current state. */
  get state(): ClientState {
    return this.#status.state;
  }

  /** The current status. */
  get status(): ClientStatus {
    return this.#status;
  }

  /** The open connection, if any. */
  get connection(): Connection | undefined {
    return this.#conn;
  }

  /**
   * Sends a frame now if connected, or queues it until a connection is
   * open. Strings are sent as UTF-8. Connected or not, the frame is copied
   * before `send()` returns, except a frame of 256 KiB or more, which is
   * written from your memory: leave that one untouched until the promise
   * settles. Not awaiting the promise is fine: it never becomes an
   * unhandled rejection.
   *
   * @param frame The payload.
   * @param options `signal` withdraws a queued frame: it is then never sent.
   * @returns A promise that settles once the frame is written (see the
   * delivery guarantees of {@linkcode Client}).
   * @throws {QueueFullError} If disconnected and the queue is full.
   * @throws {ConnectionClosedError} If the client is closed.
   * @throws {FrameTooLargeError} If the frame exceeds the framing's limit.
   */
  send(
    frame: Uint8Array | string,
    options?: { signal?: AbortSignal },
  ): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) return rejected(signal.reason);
    if (this.#stopping) {
      return rejected(new ConnectionClosedError("send"));
    }
    const bytes = toBytes(frame);
    const conn = this.#conn;
    if (conn && !conn.signal.aborted && this.#queue.length === 0) {
      return conn.send(bytes);
    }
    try {
      // Refuse a frame that no connection could carry now, not at flush.
      this.#framing.check(bytes);
      return this.#queue.push(bytes, signal);
    } catch (error) {
      return rejected(error);
    }
  }

  /**
   * Waits until the client reaches `state`.
   *
   * @param state The state to wait for.
   * @param options `signal` stops waiting, rejecting with its reason.
   * @returns The status that has `state`.
   * @throws {unknown} The client's final error if it closes first (unless
   * waiting for `closed`).
   */
  async waitFor(
    state: ClientState,
    options?: { signal?: AbortSignal },
  ): Promise<ClientStatus> {
    const signal = options?.signal;
    signal?.throwIfAborted();
    const statuses = this.statuses();
    let onAbort: (() => void) | undefined;
    const abort = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    abort.catch(() => {});
    try {
      while (true) {
        const next = await Promise.race([statuses.next(), abort]);
        if (next.done) break;
        if (next.value.state === state) return next.value;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort!);
      await statuses.return?.();
    }
    const final = this.#status;
    throw final.error ?? new ConnectionClosedError(`reach state ${state}`);
  }

  /**
   * Iterates status records: the current one first, then each change, until
   * the client is closed.
   *
   * @returns An iterator of status records.
   */
  statuses(): AsyncIterableIterator<ClientStatus> {
    const watcher: Watcher = { records: [this.#status], wake: undefined };
    const done = () => this.#status.state === "closed";
    if (!done()) this.#watchers.add(watcher);
    const watchers = this.#watchers;
    return {
      async next(): Promise<IteratorResult<ClientStatus>> {
        while (watcher.records.length === 0) {
          if (!watchers.has(watcher)) return { done: true, value: undefined };
          await new Promise<void>((resolve) => watcher.wake = resolve);
        }
        return { done: false, value: watcher.records.shift()! };
      },
      return(): Promise<IteratorResult<ClientStatus>> {
        watchers.delete(watcher);
        watcher.records = [];
        watcher.wake?.();
        return Promise.resolve({ done: true, value: undefined });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /**
   * Closes the client: stops reconnecting, rejects queued frames (they are
   * never sent), and closes the open connection gracefully: what it already
   * accepted is written, then a FIN, and the server's FIN is awaited before
   * the socket is released (see {@linkcode Connection.close}).
   *
   * Writing waits for a peer that reads, for at most `closeTimeout`; to stop
   * at once, abort the client's `signal`, also while `close()` is under way.
   *
   * @returns A promise that settles once everything is closed.
   */
  async close(): Promise<void> {
    this.#stop("closed", undefined);
    await this.closed;
  }

  /**
   * Iterates the incoming frames of every connection. Leaving a loop early
   * does not close the client.
   *
   * @returns An iterator over the frames.
   */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => this.#next(),
      return: () => Promise.resolve(DONE),
    };
  }

  /**
   * Iterates the incoming frames of every connection in batches: each step
   * yields the frames received so far, at least one and at most 1 024, in
   * order, in an array that is yours to keep. It shares one queue with plain
   * iteration and with `readable`. A batch costs one promise where plain
   * iteration costs one per frame, and replies sent while handling a batch
   * leave in one write.
   * Leaving a loop early does not close the client.
   *
   * @example Echo requests a batch at a time
   * ```ts
   * import { createClient, listen } from "@tether/tcp";
   * import assert from "node:assert/strict";
   *
   * await using server = await listen({
   *   hostname: "127.0.0.1",
   *   port: 0,
   *   handler: async (conn) => {
   *     for await (const frame of conn) conn.send(frame);
   *   },
   * });
   * await using client = createClient(server.addr);
   * for (const word of ["a", "b", "c"]) client.send(word);
   * const echoes: string[] = [];
   * for await (const frames of client.batches()) {
   *   for (const frame of frames) echoes.push(new TextDecoder().decode(frame));
   *   if (echoes.length === 3) break;
   * }
   * assert.deepEqual(echoes, ["a", "b", "c"]);
   * ```
   *
   * @returns An iterator over batches of frames.
   */
  batches(): AsyncIterableIterator<Uint8Array[]> {
    const next = () => this.#nextBatch();
    return {
      next,
      return: () => Promise.resolve(DONE),
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /**
   * Incoming frames from every connection, in order, as a stream. It shares
   * one queue with iteration; cancelling it does not close the client.
   */
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= pullStream(() => this.#next());
  }

  /**
   * Closes the client, for `await using`.
   *
   * @returns A promise that settles once everything is closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #update(change: Partial<ClientStatus>): void {
    const next = change.state ?? this.#status.state;
    // A late report (a heartbeat's rtt after the close) changes nothing.
    if (!TRANSITIONS[this.#status.state].includes(next)) return;
    this.#status = { ...this.#status, ...change };
    const status = this.#status;
    for (const watcher of this.#watchers) {
      watcher.records.push(status);
      if (watcher.records.length > MAX_BUFFERED_STATUSES) {
        watcher.records.shift();
      }
      watcher.wake?.();
      watcher.wake = undefined;
    }
    if (status.state === "closed") this.#watchers.clear();
    this.dispatchEvent(new StatusEvent(status));
  }

  async #run(): Promise<void> {
    const frames = this.#heartbeat && {
      ping: this.#heartbeat.ping,
      pong: this.#heartbeat.pong,
      onPong: () => this.#beat?.pong(),
    };
    const extra = frames
      ? { heartbeat: frames, onActivity: () => this.#beat?.activity() }
      : {};
    let retry = 0;
    let attempt = 0;
    let outageStart = this.#clock.now();
    let opened = false;
    while (!this.#stopping) {
      attempt++;
      this.#update({
        state: opened ? "reconnecting" : "connecting",
        attempt,
        nextDelay: undefined,
      });
      let failure: { error: unknown } | undefined;
      let conn: Connection | undefined;
      let pumping: Promise<unknown> | undefined;
      try {
        conn = await this.#dial(extra);
        pumping = (await this.#open(conn)).pumping;
      } catch (error) {
        failure = { error };
      }
      if (failure || this.#stopping) {
        this.#beat?.stop();
        this.#beat = undefined;
        if (conn) {
          conn.abort(failure ? failure.error : this.#lifecycle.signal.reason);
          await pumping;
          await conn.closed;
        }
        if (this.#stopping) return;
        const delay = this.#retryAfter(
          failure!.error,
          attempt,
          retry++,
          outageStart,
        );
        if (delay === undefined) return;
        await this.#sleep(delay);
        continue;
      }
      conn = conn!;

      opened = true;
      const openedAt = this.#clock.now();
      this.#conn = conn;
      this.#queue.flush(
        (frame) => conn.send(frame),
        () => !conn.signal.aborted,
      );
      this.#update({ state: "open", attempt: 0, error: undefined });
      const ended = await (pumping ?? this.#pump(conn));
      this.#conn = undefined;
      this.#beat?.stop();
      this.#beat = undefined;
      // A close() under way runs its course; anything else ends the
      // connection before a new one is dialled.
      if (!this.#stopping) conn.abort(ended);
      await conn.closed;
      if (this.#stopping) return;

      if (this.#clock.now() - openedAt >= this.#minUptime) {
        retry = 0;
        attempt = 0;
        outageStart = this.#clock.now();
      }
      const delay = this.#retryAfter(ended, attempt, retry++, outageStart);
      if (delay === undefined) return;
      await this.#sleep(delay);
    }
  }

  /**
   * Opens a new connection: `onConnect`, then heartbeats and, for a layered
   * protocol, the pump and its opening. Each wait is raced against the
   * connection ending (which the client stopping and `openTimeout` cause):
   * throws what failed the attempt; returns the pump if it started.
   */
  async #open(
    conn: Connection,
  ): Promise<{ pumping: Promise<unknown> | undefined }> {
    this.#pending = conn;
    // Stopped between the dial and now: #stop could not reach this one.
    if (this.#stopping) throw this.#lifecycle.signal.reason;
    const timeout = this.#openTimeout;
    const deadline = timeout > 0
      ? this.#clock.setTimeout(
        () => conn.abort(new OpenTimeoutError(timeout)),
        timeout,
        false,
      )
      : undefined;
    let onEnd!: () => void;
    const ended = new Promise<never>((_, reject) => {
      onEnd = () => reject(conn.signal.reason);
      if (conn.signal.aborted) onEnd();
      else conn.signal.addEventListener("abort", onEnd, { once: true });
    });
    ended.catch(() => {});
    try {
      const onConnect = this.#onConnect;
      if (onConnect) {
        await Promise.race([(async () => await onConnect(conn))(), ended]);
      }
      if (conn.signal.aborted) throw conn.signal.reason;
      if (this.#heartbeat) {
        this.#beat = new Heartbeat(this.#heartbeat, this.#clock, {
          ping: () => void conn.send(this.#heartbeat!.ping).catch(() => {}),
          rtt: (ms) => this.#update({ rtt: ms }),
          dead: (error) => conn.abort(error),
        }, conn.signal);
      }
      const opening = layers.get(this)?.opening;
      if (!opening) return { pumping: undefined };
      const pumping = this.#pump(conn);
      const outcome = Promise.race([
        opening(conn),
        // The connection ended first: nothing will answer the opening.
        pumping.then((error) => Promise.reject(error)),
        ended,
      ]);
      // The pump is awaited by whoever ends the connection.
      outcome.catch(() => {});
      try {
        await outcome;
      } catch (error) {
        conn.abort(error);
        await pumping;
        throw error;
      }
      if (conn.signal.aborted) {
        await pumping;
        throw conn.signal.reason;
      }
      return { pumping };
    } finally {
      this.#clock.clearTimeout(deadline);
      conn.signal.removeEventListener("abort", onEnd);
      this.#pending = undefined;
    }
  }

  /**
   * Dials one connection. Stopping the client cancels the attempt, but does
   * not reach the connection once it is open: `#stop` ends that one itself,
   * gracefully for a close.
   */
  async #dial(
    extra: Parameters<typeof dial>[1],
  ): Promise<Connection> {
    const lifecycle = this.#lifecycle.signal;
    // A status listener may have stopped the client just now.
    lifecycle.throwIfAborted();
    const attempt = new AbortController();
    const cancel = () => attempt.abort(lifecycle.reason);
    lifecycle.addEventListener("abort", cancel, { once: true });
    try {
      const conn = await dial(
        { ...this.#options, signal: attempt.signal },
        extra,
      );
      if (lifecycle.aborted) {
        conn.abort(lifecycle.reason);
        throw lifecycle.reason;
      }
      return conn;
    } finally {
      lifecycle.removeEventListener("abort", cancel);
    }
  }

  /**
   * Decides what follows a failure: the wait before the next attempt, or
   * `undefined` after closing the client.
   */
  #retryAfter(
    error: unknown,
    attempts: number,
    retry: number,
    outageStart: number,
  ): number | undefined {
    let retriable: boolean;
    try {
      retriable = this.#reconnect && this.#isRetriable(error);
    } catch (thrown) {
      this.#stop("failed", thrown);
      return undefined;
    }
    if (!retriable) {
      this.#stop("failed", error);
      return undefined;
    }
    const delay = backoffDelay(retry, this.#backoff, this.#random);
    const elapsed = this.#clock.now() - outageStart;
    if (
      attempts >= this.#backoff.maxAttempts ||
      elapsed + delay > this.#backoff.maxElapsed
    ) {
      this.#stop(
        "failed",
        new ReconnectError(attempts, elapsed, { cause: error }),
      );
      return undefined;
    }
    this.#update({
      state: this.#status.state === "open"
        ? "reconnecting"
        : this.#status.state,
      attempt: attempts,
      nextDelay: delay,
      error,
    });
    return delay;
  }

  #sleep(ms: number): Promise<void> {
    const signal = this.#lifecycle.signal;
    return new Promise((resolve) => {
      // A status listener may have stopped the client just now.
      if (signal.aborted) return resolve();
      // Waiting to reconnect is work in progress: it keeps the process alive.
      const timer = this.#clock.setTimeout(done, ms, true);
      signal.addEventListener("abort", done, { once: true });
      const clock = this.#clock;
      function done() {
        clock.clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
    });
  }

  /** The next frame: one resolved promise when the inbox holds one. */
  #next(): Promise<IteratorResult<Uint8Array>> {
    return this.#take(false) as Promise<IteratorResult<Uint8Array>>;
  }

  /** Every frame in the inbox, at least one: one promise per batch. */
  #nextBatch(): Promise<IteratorResult<Uint8Array[], undefined>> {
    return this.#take(true) as Promise<
      IteratorResult<Uint8Array[], undefined>
    >;
  }

  /** Takes the next frame, or with `batch` every frame, from the inbox. */
  #take(
    batch: boolean,
  ): Promise<IteratorResult<Uint8Array | Uint8Array[], undefined>> {
    this.#handedOut = false;
    const inbox = this.#inbox;
    const queued = inbox.size;
    // Frames received before the end are all delivered first.
    const taken = batch ? inbox.takeBatch() : inbox.take();
    if (taken) {
      if (queued > 0) {
        this.#handedOut = true;
        this.#madeRoom();
      }
      return taken;
    }
    // The application has answered every frame it had: its replies go.
    if (this.#conn && !this.#inTransit) releaseWrites(this.#conn);
    if (!batch) return inbox.wait();
    return inbox.waitBatch().then((result) => {
      // A batch past the inbox's bound may have stopped the pump.
      if (!result.done) this.#madeRoom();
      return result;
    });
  }

  /** Wakes the pump if it waits for room in the inbox, and there is some. */
  #madeRoom(): void {
    // Waking it for every frame taken would let a whole read in each time.
    if (this.#inbox.size >= INBOX_SIZE) return;
    this.#roomMade?.();
    this.#roomMade = undefined;
  }

  /** Moves frames to the client's inbox until the connection ends. */
  async #pump(conn: Connection): Promise<unknown> {
    // A batch per read: a promise per frame here would be paid again by an
    // application that reads the inbox in batches.
    const batches = conn.batches();
    const filter = layers.get(this)?.filter;
    // A frame the application is handling, or still has to take from the
    // inbox, may be answered: the connection holds its replies until the
    // application comes back for more and finds none.
    holdWrites(
      conn,
      () => this.#handedOut || this.#inTransit || this.#inbox.size > 0,
    );
    const ended = new Promise<void>((resolve) => {
      if (conn.signal.aborted) resolve();
      conn.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    try {
      while (true) {
        this.#inTransit = hasFrames(conn);
        const { value, done } = await batches.next();
        this.#inTransit = false;
        if (done) {
          return conn.signal.aborted
            ? conn.signal.reason
            : new ConnectionClosedError("read", {
              cause: new Error("The server closed the connection"),
            });
        }
        for (const frame of value) {
          if (!filter?.(frame, conn)) this.#inbox.push(frame);
        }
        if (this.#inbox.wake()) this.#handedOut = true;
        // The inbox may pass its bound by one batch: what one read brought.
        if (this.#inbox.size >= INBOX_SIZE) {
          // The application is not reading: that silence is not the peer's.
          this.#beat?.suspend();
          await Promise.race([
            new Promise<void>((resolve) => this.#roomMade = resolve),
            ended,
          ]);
          this.#beat?.resume();
        }
      }
    } catch (error) {
      this.#inTransit = false;
      return error;
    }
  }

  #stop(reason: ClientCloseReason, error: unknown): void {
    const cause = error ?? new ConnectionClosedError("use the client");
    if (this.#stopping) {
      // An abort cuts short a close still under way, as it promises.
      if (reason === "aborted" && this.#final?.reason === "closed") {
        this.#final = { reason, error };
        this.#closing?.abort(cause);
        this.#pending?.abort(cause);
      }
      return;
    }
    this.#final = { reason, error };
    this.#lifecycle.abort(cause);
    this.#beat?.stop();
    this.#queue.clear(
      error === undefined
        ? new ConnectionClosedError("send")
        : new ConnectionClosedError("send", { cause: error }),
    );
    this.#pending?.abort(cause);
    const conn = this.#conn;
    this.#conn = undefined;
    let closing = Promise.resolve();
    if (conn && reason === "closed") {
      this.#closing = conn;
      closing = conn.close();
    } else if (conn) {
      conn.abort(cause);
      closing = conn.closed;
    }
    void Promise.all([closing, this.#running]).then(() => {
      this.#userSignal?.removeEventListener("abort", this.#onUserAbort);
      this.#closing = undefined;
      const ended = conn?.signal.reason;
      // A close cut short (the peer did not read in time, a write failed)
      // says so: what was accepted may not all have been read.
      if (
        this.#final!.reason === "closed" &&
        ended !== undefined && !(ended instanceof ConnectionClosedError)
      ) {
        this.#final = { reason: "closed", error: ended };
      }
      const { reason, error } = this.#final!;
      const cause = error ?? new ConnectionClosedError("use the client");
      // After a close or a failure the frames already received stay
      // readable; an abort drops them, as aborts do.
      if (reason === "aborted") this.#inbox.clear();
      this.#inbox.end(reason === "closed" ? undefined : cause);
      this.#update({
        state: "closed",
        nextDelay: undefined,
        error,
        reason,
      });
      this.#resolveClosed(this.#status);
    });
  }
}

/**
 * Creates a self-healing client and starts connecting. It never throws for
 * connection problems: watch its state, or just send, and frames wait in its
 * queue until a connection is open.
 *
 * @param options Where to connect, and the reconnection, heartbeat and queue
 * policies.
 * @returns The client.
 * @throws {RangeError} If an option is out of range.
 *
 * @example Reconnecting after the server restarts
 * ```ts
 * import { createClient, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * let server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.send(frame);
 *   },
 * });
 * const port = server.addr.port;
 * await using client = createClient({ port, reconnect: { minTimeout: 10 } });
 * await client.waitFor("open");
 *
 * await server.close(); // the client notices and starts reconnecting
 * await client.waitFor("reconnecting");
 * const sent = client.send("queued while away");
 * server = await listen({
 *   hostname: "127.0.0.1",
 *   port,
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.send(frame);
 *   },
 * });
 * await sent;
 * for await (const frame of client) {
 *   assert.equal(new TextDecoder().decode(frame), "queued while away");
 *   break;
 * }
 * await client.close();
 * await server.close();
 * ```
 */
export function createClient(options: ClientOptions): Client {
  return new Client(options);
}
