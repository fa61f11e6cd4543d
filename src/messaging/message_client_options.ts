import { checkDuration } from "../_options.ts";
import type { ClientOptions } from "../client/client_options.ts";
import type { HeartbeatOptions } from "../connection/heartbeat.ts";
import type { Framing } from "../framing/framing.ts";
import type { NetAddr } from "../runtime/types.ts";
import type { QueueOptions } from "../client/send_queue.ts";
import { envelopeFraming, PING, PONG } from "./envelope.ts";
import { DEFAULT_HANDSHAKE_TIMEOUT } from "./handshake.ts";

/** The default of {@linkcode MessageClientOptions.timeout}: 30 seconds. */
export const DEFAULT_REQUEST_TIMEOUT = 30_000;

/** The default of {@linkcode MessageClientOptions.maxInFlight}. */
export const DEFAULT_MAX_IN_FLIGHT = 10_000;

// Ids are compared in a window of half the id space: a larger limit would
// make "sent before" and "sent after" ambiguous.
const MAX_IN_FLIGHT_LIMIT = 2 ** 31;

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
 * } from "@tether/tcp/messaging";
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
 * } from "@tether/tcp/messaging";
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
 * } from "@tether/tcp/messaging";
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

/** The request policy of a message client, checked, with its defaults. */
export interface RequestPolicy {
  readonly timeout: number;
  readonly maxInFlight: number;
  readonly retryOnReconnect: boolean;
  readonly handshakeTimeout: number;
}

/** The options of a message client, checked, with their defaults. */
export interface ResolvedMessageOptions {
  readonly framing: Framing;
  readonly policy: RequestPolicy;
  readonly queue: QueueOptions;
  /** The options of the client core beneath, less its `onConnect`. */
  readonly core: Omit<ClientOptions, "onConnect">;
}

/**
 * Checks `options` and fills in their defaults.
 *
 * @throws {RangeError} If a value is out of range.
 * @throws {TypeError} If the framing cannot carry envelopes.
 */
export function resolveMessageOptions(
  action: string,
  options: MessageClientOptions,
): ResolvedMessageOptions {
  const {
    framing: framingOption,
    heartbeat = {},
    queue = {},
    timeout = DEFAULT_REQUEST_TIMEOUT,
    maxInFlight = DEFAULT_MAX_IN_FLIGHT,
    retryOnReconnect = false,
    handshakeTimeout = DEFAULT_HANDSHAKE_TIMEOUT,
    onConnect: _onConnect,
    ...rest
  } = options;
  const framing = envelopeFraming(action, framingOption);
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
  return {
    framing,
    policy: { timeout, maxInFlight, retryOnReconnect, handshakeTimeout },
    // As many as may be in flight: a burst of requests at start-up fits.
    queue: { ...queue, maxLength: queue.maxLength ?? DEFAULT_MAX_IN_FLIGHT },
    core: {
      ...rest,
      framing,
      heartbeat: heartbeat && { ...heartbeat, ping: PING, pong: PONG },
    },
  };
}
