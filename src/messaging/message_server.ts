import { checkDuration, checkPositive } from "../_options.ts";
import { systemClock } from "../clock.ts";
import type { Connection } from "../connection/connection.ts";
import { ConnectionClosedError } from "../errors.ts";
import type { Framing } from "../framing/framing.ts";
import type { NetAddr } from "../runtime/types.ts";
import {
  DEFAULT_SHUTDOWN_TIMEOUT,
  type ListenOptions,
} from "../server/options.ts";
import { serve, type TcpServer } from "../server/server.ts";
import { toBytes } from "../_values.ts";
import { Peer, type PeerHooks } from "./_peer.ts";
import { encodeEnvelope, envelopeFraming, PING, PONG } from "./envelope.ts";
import { DEFAULT_HANDSHAKE_TIMEOUT, handshake } from "./handshake.ts";

/** The default of {@linkcode MessageServerOptions.maxConcurrency}. */
const DEFAULT_MAX_CONCURRENCY = 1024;

/** What a request handler may return: the reply's payload. */
export type Reply = Uint8Array | string | void;

/**
 * Answers one request. What it returns is the reply (strings as UTF-8,
 * nothing as an empty reply); what it throws reaches the caller as a
 * {@linkcode RemoteError} with the error's message and string `code`, never
 * its stack. Requests of one client are handled concurrently, up to
 * `maxConcurrency`.
 *
 * @example A handler that looks up users
 * ```ts
 * import {
 *   createMessageClient,
 *   listenMessages,
 *   RemoteError,
 *   type RequestHandler,
 * } from "@tether/tcp/messaging";
 * import assert from "node:assert/strict";
 *
 * const users = new Map([["1", "Ada"]]);
 * const lookup: RequestHandler = (payload) => {
 *   const id = new TextDecoder().decode(payload);
 *   const name = users.get(id);
 *   if (name === undefined) {
 *     throw Object.assign(new Error(`no user ${id}`), { code: "NOT_FOUND" });
 *   }
 *   return name;
 * };
 * await using server = await listenMessages({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   onRequest: lookup,
 * });
 * await using client = createMessageClient({ port: server.addr.port });
 * assert.equal(new TextDecoder().decode(await client.request("1")), "Ada");
 * await assert.rejects(
 *   client.request("2"),
 *   (error) => error instanceof RemoteError && error.remoteCode === "NOT_FOUND",
 * );
 * ```
 */
export type RequestHandler = (
  payload: Uint8Array,
  peer: MessagePeer,
) => Reply | Promise<Reply>;

/**
 * One client connection of a {@linkcode MessageServer}, after its
 * handshake.
 *
 * @example Pushing to the client that asked
 * ```ts
 * import {
 *   createMessageClient,
 *   listenMessages,
 *   type MessagePeer,
 * } from "@tether/tcp/messaging";
 * import assert from "node:assert/strict";
 *
 * const subscribers = new Set<MessagePeer>();
 * await using server = await listenMessages({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   onRequest: (_payload, peer) => {
 *     subscribers.add(peer);
 *     peer.signal.addEventListener("abort", () => subscribers.delete(peer));
 *     return "subscribed";
 *   },
 * });
 * await using client = createMessageClient({ port: server.addr.port });
 * await client.request("subscribe");
 * for (const peer of subscribers) await peer.push("news");
 * for await (const message of client) {
 *   assert.equal(new TextDecoder().decode(message), "news");
 *   break;
 * }
 * ```
 */
export interface MessagePeer {
  /** The server's end of the connection. */
  readonly localAddr: NetAddr;
  /** The client's end of the connection. */
  readonly remoteAddr: NetAddr;
  /** Aborted once the connection is closed, with the reason. */
  readonly signal: AbortSignal;
  /**
   * Sends a message to this client, which receives it by iterating its
   * {@linkcode MessageClient}. Strings are sent as UTF-8.
   *
   * @param payload The message.
   * @returns A promise that settles once the message is written.
   * @throws {ConnectionClosedError} If the connection is closed.
   * @throws {FrameTooLargeError} If the message exceeds the framing's limit.
   */
  push(payload: Uint8Array | string): Promise<void>;
  /**
   * Ends this connection gracefully with a goaway, as
   * {@linkcode MessageServer.close} does for every client: the server goes
   * on reading until the client has finished sending (it does once the
   * replies to its accepted requests are in), or for at most
   * `shutdownTimeout`, then answers what it accepted and closes.
   *
   * - Every request read before the goaway is answered. Those read after it
   *   are refused unread, and the client sends them on its next connection:
   *   none is lost, none is handled twice.
   * - Every one-way message read reaches `onMessage`, those the client sent
   *   before it saw the goaway included; later ones wait in the client's
   *   queue for its next connection. Only a client that is still sending
   *   when `shutdownTimeout` passes has messages dropped unread.
   *
   * Calling it again returns the same promise.
   *
   * @returns A promise that settles once the connection is closed.
   */
  close(): Promise<void>;
}

/**
 * Options for {@linkcode listenMessages}: those of {@linkcode listen}, with
 * the protocol's handlers in place of the raw connection handler.
 *
 * @example A server that takes requests and one-way messages
 * ```ts
 * import {
 *   createMessageClient,
 *   listenMessages,
 *   type MessageServerOptions,
 * } from "@tether/tcp/messaging";
 * import assert from "node:assert/strict";
 *
 * const log: string[] = [];
 * const options: MessageServerOptions = {
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   maxConcurrency: 64,
 *   shutdownTimeout: 5000,
 *   onConnect: (peer) => peer.push("welcome"),
 *   onMessage: (payload) => {
 *     log.push(new TextDecoder().decode(payload));
 *   },
 *   onRequest: () => String(log.length),
 * };
 * await using server = await listenMessages(options);
 * await using client = createMessageClient({ port: server.addr.port });
 * await client.send("one");
 * // Messages and requests of a client are taken in the order sent.
 * assert.equal(new TextDecoder().decode(await client.request("count")), "1");
 * ```
 */
export interface MessageServerOptions
  extends Omit<ListenOptions, "handler" | "framing" | "heartbeat"> {
  /**
   * Answers requests. Without it, every request fails with a
   * {@linkcode RemoteError} whose code is `NO_HANDLER`.
   */
  onRequest?: RequestHandler;
  /**
   * Takes the one-way messages clients send with
   * {@linkcode MessageClient.send}; without it they are dropped. If it
   * throws, the error goes to `onError` and the client's connection is
   * closed, as a failing connection handler does.
   */
  onMessage?: (payload: Uint8Array, peer: MessagePeer) => void | Promise<void>;
  /**
   * Runs once a client's handshake is done, before any of its messages is
   * handled. If it throws, the error goes to `onError` and the connection
   * is closed.
   */
  onConnect?: (peer: MessagePeer) => void | Promise<void>;
  /**
   * Requests and messages of one client handled at once. Beyond it, the
   * server stops reading that client until one finishes, so TCP slows it
   * down.
   *
   * @default {1024}
   */
  maxConcurrency?: number;
  /**
   * Milliseconds a client has to send its hello before its connection is
   * closed with a {@linkcode ProtocolError}.
   *
   * @default {10000}
   */
  handshakeTimeout?: number;
  /**
   * The wire format of the frames that carry the envelopes. It must carry
   * any bytes: `"length"` or a {@linkcode lengthPrefixed} framing, not lines.
   *
   * @default {"length"}
   */
  framing?: "length" | Framing;
}

/**
 * A server of the tether messaging protocol, from
 * {@linkcode listenMessages}.
 *
 * @example Broadcasting to every client
 * ```ts
 * import { createMessageClient, listenMessages } from "@tether/tcp/messaging";
 * import assert from "node:assert/strict";
 *
 * await using server = await listenMessages({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   onRequest: () => "subscribed",
 * });
 * await using a = createMessageClient({ port: server.addr.port });
 * await using b = createMessageClient({ port: server.addr.port });
 * // Once a request is answered, the server knows the client as a peer.
 * await Promise.all([a.request("subscribe"), b.request("subscribe")]);
 * assert.equal(server.broadcast("tick"), 2);
 * for (const client of [a, b]) {
 *   for await (const message of client) {
 *     assert.equal(new TextDecoder().decode(message), "tick");
 *     break;
 *   }
 * }
 * ```
 */
export interface MessageServer extends AsyncDisposable {
  /** The bound address; `port` is the real port when 0 was requested. */
  readonly addr: NetAddr;
  /** The number of connections being served, handshakes under way included. */
  readonly connections: number;
  /** The clients whose handshake is done and whose connection is open. */
  readonly peers: ReadonlySet<MessagePeer>;
  /** Settles once the server has shut down, however that was started. */
  readonly finished: Promise<void>;
  /**
   * Sends a message to every peer. Strings are sent as UTF-8.
   *
   * @param payload The message.
   * @returns The number of peers it was sent to.
   * @throws {FrameTooLargeError} If the message exceeds the framing's limit.
   */
  broadcast(payload: Uint8Array | string): number;
  /**
   * Shuts down gracefully. It stops accepting at once, so a successor can
   * bind the address, and sends goaway to every client. It goes on reading
   * each client until the client has finished sending (it does once the
   * replies to its accepted requests are in), or for at most
   * `shutdownTimeout`; a client whose handshake is under way finishes it
   * and gets the goaway too. Then it stops reading, lets handlers finish,
   * and aborts the connections still open after `shutdownTimeout` more.
   *
   * - Every request read before the goaway is answered. Those read after it
   *   are refused unread, and clients send them to the next server they
   *   reach: none is lost, none is handled twice.
   * - Every one-way message read reaches `onMessage`, those a client sent
   *   before it saw the goaway included; later ones wait in the client's
   *   queue for its next server. Only a client that is still sending when
   *   `shutdownTimeout` passes has messages dropped unread.
   *
   * Calling it again returns the same promise.
   *
   * @returns A promise that settles once every connection is closed.
   */
  close(): Promise<void>;
}

class TetherMessageServer implements MessageServer {
  #server: TcpServer | undefined;
  #peers = new Set<Peer>();
  // What a shutdown waits for before it stops reading: handshakes under way
  // (a client writes its queue right behind its hello), then peers reading.
  #reading = new Map<Connection, Promise<unknown>>();
  #stopping = false;
  #closing: Promise<void> | undefined;
  #options: MessageServerOptions;
  #hooks: PeerHooks;

  constructor(options: MessageServerOptions, hooks: PeerHooks) {
    this.#options = options;
    this.#hooks = hooks;
  }

  /** Binds the address and starts serving. */
  async start(): Promise<void> {
    const {
      signal,
      onRequest: _onRequest,
      onMessage: _onMessage,
      onConnect: _onConnect,
      handshakeTimeout: _handshakeTimeout,
      maxConcurrency: _maxConcurrency,
      ...rest
    } = this.#options;
    signal?.throwIfAborted();
    this.#server = await serve({
      ...rest,
      framing: this.#hooks.framing,
      heartbeat: { ping: PING, pong: PONG },
      handler: (conn) => this.#serve(conn),
    }, this.#hooks.clock);
    // Passed on, the signal would close the server without a goaway.
    signal?.addEventListener("abort", () => void this.close(), {
      once: true,
    });
  }

  get addr(): NetAddr {
    return this.#server!.addr;
  }

  get finished(): Promise<void> {
    return this.#server!.finished;
  }

  get connections(): number {
    return this.#server!.connections;
  }

  get peers(): ReadonlySet<MessagePeer> {
    return this.#peers;
  }

  broadcast(payload: Uint8Array | string): number {
    const frame = encodeEnvelope({ kind: "data", payload: toBytes(payload) });
    this.#hooks.framing.check(frame);
    let sent = 0;
    for (const peer of this.#peers) {
      if (peer.signal.aborted) continue;
      void peer.send(frame);
      sent++;
    }
    return sent;
  }

  close(): Promise<void> {
    return this.#closing ??= this.#shutdown();
  }

  async #shutdown(): Promise<void> {
    this.#stopping = true;
    await this.#server!.stopAccepting();
    for (const peer of this.#peers) peer.goAway();
    // A handshake that finishes meanwhile adds a peer that goes away too.
    while (this.#reading.size > 0) await Promise.all(this.#reading.values());
    await this.#server!.close();
  }

  async #serve(conn: Connection): Promise<void> {
    // Accepted as the server stops: without a hello from the server, the
    // client writes nothing to this connection and retries elsewhere.
    if (this.#stopping) return;
    const greeting = handshake(
      conn,
      "server",
      this.#options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
      this.#hooks.clock,
    );
    this.#reading.set(conn, greeting.catch(() => {}));
    try {
      await greeting;
    } catch (error) {
      this.#reading.delete(conn);
      // A client that left before its hello is no failure worth a report.
      if (error instanceof ConnectionClosedError) return;
      throw error;
    }
    const peer = new Peer(conn, this.#hooks);
    this.#peers.add(peer);
    this.#reading.set(
      conn,
      peer.readingEnded.then(() => this.#reading.delete(conn)),
    );
    try {
      if (this.#stopping) peer.goAway();
      await this.#options.onConnect?.(peer);
      await peer.serve();
    } finally {
      this.#peers.delete(peer);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Starts a server of the tether messaging protocol: each client connection
 * does the version handshake, then sends requests (answered by
 * `onRequest`) and one-way messages (taken by `onMessage`), and receives
 * the server's pushes. Pings are answered with pongs.
 *
 * @param options Where to listen, the handlers and the limits.
 * @returns The listening server.
 * @throws {NetError} If the address cannot be bound, such as with
 * `EADDRINUSE`.
 * @throws {RangeError} If `port` or a limit is out of range.
 * @throws {TypeError} If the framing cannot carry envelopes.
 *
 * @example A server that doubles numbers
 * ```ts
 * import { createMessageClient, listenMessages } from "@tether/tcp/messaging";
 * import assert from "node:assert/strict";
 *
 * await using server = await listenMessages({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   onRequest: (payload) => String(2 * Number(new TextDecoder().decode(payload))),
 * });
 * await using client = createMessageClient({ port: server.addr.port });
 * const replies = await Promise.all(
 *   [1, 2, 3].map((n) => client.request(String(n))),
 * );
 * assert.deepEqual(replies.map((r) => new TextDecoder().decode(r)), ["2", "4", "6"]);
 * ```
 */
export async function listenMessages(
  options: MessageServerOptions,
): Promise<MessageServer> {
  const action = "listen for messages";
  const framing = envelopeFraming(action, options.framing);
  const maxConcurrency = options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
  checkPositive(action, "maxConcurrency", maxConcurrency);
  checkDuration(
    action,
    "handshakeTimeout",
    options.handshakeTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT,
  );
  const server = new TetherMessageServer(options, {
    framing,
    maxConcurrency,
    shutdownTimeout: options.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT,
    onRequest: options.onRequest,
    onMessage: options.onMessage,
    clock: systemClock,
  });
  await server.start();
  return server;
}
