import { checkDuration, checkPositive } from "../_options.ts";
import { systemClock } from "../clock.ts";
import type { Connection } from "../connection/connection.ts";
import { rejected } from "../_promises.ts";
import { ConnectionClosedError } from "../errors.ts";
import type { Framing } from "../framing/framing.ts";
import type { NetAddr } from "../runtime/types.ts";
import {
  DEFAULT_SHUTDOWN_TIMEOUT,
  listen,
  type ListenOptions,
  type Server,
  stopAccepting,
} from "../server/server.ts";
import {
  decodeEnvelope,
  encodeEnvelope,
  envelopeFraming,
  MAX_ERROR_CODE_SIZE,
  PING,
  PONG,
} from "./envelope.ts";
import { DEFAULT_HANDSHAKE_TIMEOUT, handshake } from "./handshake.ts";
import { handleControl } from "./_control.ts";
import { toBytes } from "../_values.ts";

/**
 * The default of {@linkcode MessageServerOptions.maxConcurrency}.
 *
 * @example Handling fewer requests at once per client
 * ```ts
 * import { DEFAULT_MAX_CONCURRENCY, listenMessages } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_MAX_CONCURRENCY, 1024);
 * await using server = await listenMessages({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   maxConcurrency: DEFAULT_MAX_CONCURRENCY / 8,
 *   onRequest: (payload) => payload,
 * });
 * ```
 */
export const DEFAULT_MAX_CONCURRENCY = 1024;

// An error's message is sent to the client; past this it is cut, so that
// the error envelope always fits in a frame.
const MAX_ERROR_MESSAGE_LENGTH = 4096;

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
 * } from "@tether/tcp";
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
 * } from "@tether/tcp";
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
 * } from "@tether/tcp";
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
 * import { createMessageClient, listenMessages } from "@tether/tcp";
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

interface PeerHooks {
  framing: Framing;
  maxConcurrency: number;
  shutdownTimeout: number;
  onRequest: RequestHandler | undefined;
  onMessage: MessageServerOptions["onMessage"];
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

class Peer implements MessagePeer {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  readonly signal: AbortSignal;
  #conn: Connection;
  #hooks: PeerHooks;
  #active = 0;
  #wake: (() => void) | undefined;
  // The id after the last request accepted: what a goaway announces.
  #nextId = 0;
  #goingAway = false;
  #failure: { error: unknown } | undefined;
  #reading = true;
  #readingEnded!: () => void;
  #readLimit: unknown;
  /**
   * Settles once nothing more is read: the client finished sending, the
   * bound after a goaway passed, or the connection ended.
   */
  readonly readingEnded = new Promise<void>((resolve) =>
    this.#readingEnded = resolve
  );

  constructor(conn: Connection, hooks: PeerHooks) {
    this.#conn = conn;
    this.#hooks = hooks;
    this.localAddr = conn.localAddr;
    this.remoteAddr = conn.remoteAddr;
    this.signal = conn.signal;
    if (conn.signal.aborted) this.#stopReading();
    else {
      conn.signal.addEventListener("abort", () => this.#stopReading(), {
        once: true,
      });
    }
  }

  push(payload: Uint8Array | string): Promise<void> {
    try {
      return this.send(
        encodeEnvelope({ kind: "data", payload: toBytes(payload) }),
      );
    } catch (error) {
      return rejected(error);
    }
  }

  /** Sends one envelope, refusing what the framing cannot carry. */
  send(frame: Uint8Array): Promise<void> {
    if (this.signal.aborted) {
      return rejected(
        new ConnectionClosedError("push", { cause: this.signal.reason }),
      );
    }
    return this.#conn.send(frame);
  }

  close(): Promise<void> {
    this.goAway();
    return this.#conn.closed;
  }

  /**
   * Tells the client to go elsewhere; requests after this are refused. The
   * connection is still read: one-way messages the client wrote before it
   * saw the goaway are on their way, and stopping now would drop them.
   */
  goAway(): void {
    if (this.#goingAway) return;
    this.#goingAway = true;
    if (!this.#reading) return;
    void this.#conn.send(
      encodeEnvelope({ kind: "goaway", nextId: this.#nextId }),
    );
    // A client that never finishes sending must not hold the server.
    this.#readLimit = systemClock.setTimeout(
      () => this.#stopReading(),
      this.#hooks.shutdownTimeout,
      true,
    );
  }

  #stopReading(): void {
    if (!this.#reading) return;
    this.#reading = false;
    systemClock.clearTimeout(this.#readLimit);
    this.#conn.drain();
    this.#readingEnded();
  }

  /** Handles the client's envelopes until it stops sending or is drained. */
  async serve(): Promise<void> {
    const max = this.#hooks.maxConcurrency;
    try {
      for await (const frame of this.#conn) {
        this.#handle(frame);
        while (this.#active >= max) await this.#settled();
      }
    } finally {
      this.#stopReading();
    }
    while (this.#active > 0) await this.#settled();
    if (this.#failure) throw this.#failure.error;
  }

  #settled(): Promise<void> {
    return new Promise((resolve) => this.#wake = resolve);
  }

  #handle(frame: Uint8Array): void {
    const envelope = decodeEnvelope(frame);
    switch (envelope.kind) {
      case "request": {
        // Refused unread: the goaway told the client to send it elsewhere.
        if (this.#goingAway) return;
        const { id, payload } = envelope;
        this.#nextId = (id + 1) >>> 0;
        const onRequest = this.#hooks.onRequest;
        this.#run(
          onRequest ? () => onRequest(payload, this) : noHandler,
          (outcome) => this.#reply(id, outcome),
        );
        return;
      }
      case "data": {
        const onMessage = this.#hooks.onMessage;
        if (!onMessage) return;
        this.#run(() => onMessage(envelope.payload, this), (outcome) => {
          if (outcome.ok || this.#failure) return;
          this.#failure = { error: outcome.error };
          this.#conn.drain();
        });
        return;
      }
      default:
        handleControl(envelope, this.#conn, "client");
    }
  }

  /** Runs a handler, synchronously when it returns no promise. */
  #run<T>(
    work: () => T | Promise<T>,
    done: (outcome: Outcome<T>) => void,
  ): void {
    this.#active++;
    const finish = (outcome: Outcome<T>) => {
      done(outcome);
      this.#active--;
      this.#wake?.();
      this.#wake = undefined;
    };
    let result: T | Promise<T>;
    try {
      result = work();
    } catch (error) {
      finish({ ok: false, error });
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value) => finish({ ok: true, value }),
        (error) => finish({ ok: false, error }),
      );
    } else {
      finish({ ok: true, value: result });
    }
  }

  #reply(id: number, outcome: Outcome<Reply>): void {
    let frame: Uint8Array;
    if (outcome.ok) {
      const value = outcome.value;
      frame = encodeEnvelope({
        kind: "response",
        id,
        payload: value === undefined ? EMPTY : toBytes(value),
      });
      try {
        this.#hooks.framing.check(frame);
      } catch (error) {
        frame = errorEnvelope(id, error);
      }
    } else {
      frame = errorEnvelope(id, outcome.error);
    }
    // A connection already gone has nobody to answer.
    if (!this.signal.aborted) void this.#conn.send(frame);
  }
}

function noHandler(): never {
  throw Object.assign(new Error("The server handles no requests"), {
    code: "NO_HANDLER",
  });
}

/** The error envelope for what a handler threw: message and code only. */
function errorEnvelope(id: number, error: unknown): Uint8Array {
  const raw = error instanceof Error ? error.message : String(error);
  const message = raw.length > MAX_ERROR_MESSAGE_LENGTH
    ? `${raw.slice(0, MAX_ERROR_MESSAGE_LENGTH)}…`
    : raw;
  const code = (error as { code?: unknown } | null)?.code;
  const sendable = typeof code === "string" &&
    encoder.encode(code).byteLength <= MAX_ERROR_CODE_SIZE;
  return encodeEnvelope({
    kind: "error",
    id,
    code: sendable ? code : "",
    message,
  });
}

class TetherMessageServer implements MessageServer {
  #server: Server | undefined;
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
    this.#server = await listen({
      ...rest,
      framing: this.#hooks.framing,
      heartbeat: { ping: PING, pong: PONG },
      handler: (conn) => this.#serve(conn),
    });
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
    await stopAccepting(this.#server!);
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
      systemClock,
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
 * import { createMessageClient, listenMessages } from "@tether/tcp";
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
  });
  await server.start();
  return server;
}
