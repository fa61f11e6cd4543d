import {
  checkConnectionLimits,
  checkDuration,
  checkPort,
  checkPositive,
  checkWait,
  type FramingOption,
  resolveFraming,
} from "../_options.ts";
import {
  Connection,
  type ConnectionLimits,
  DEFAULT_CLOSE_TIMEOUT,
  type HeartbeatFrames,
} from "../connection/connection.ts";
import { ErrorLog } from "./_error_log.ts";
import { systemClock } from "../clock.ts";
import { DEFAULT_HEARTBEAT_TIMEOUT } from "../connection/heartbeat.ts";
import { CloseTimeoutError, ConnectionClosedError } from "../errors.ts";
import type { Framing } from "../framing/framing.ts";
import { detectRuntime } from "../runtime/detect.ts";
import type {
  Conn,
  Listener,
  NetAddr,
  Runtime,
  TlsListenOptions,
} from "../runtime/types.ts";
import { toBytes } from "../_values.ts";

/**
 * The default of {@linkcode ListenOptions.maxConnections}.
 *
 * @example Serving fewer connections than by default
 * ```ts
 * import { DEFAULT_MAX_CONNECTIONS, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_MAX_CONNECTIONS, 10_000);
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   maxConnections: DEFAULT_MAX_CONNECTIONS / 10,
 *   handler: () => {},
 * });
 * assert.equal(server.connections, 0);
 * ```
 */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/**
 * The default of {@linkcode ListenOptions.shutdownTimeout}: 10 seconds.
 *
 * @example Shutting down faster than by default
 * ```ts
 * import { DEFAULT_SHUTDOWN_TIMEOUT, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_SHUTDOWN_TIMEOUT, 10_000);
 * const server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   shutdownTimeout: DEFAULT_SHUTDOWN_TIMEOUT / 5,
 *   handler: () => {},
 * });
 * await server.close();
 * await server.finished;
 * ```
 */
export const DEFAULT_SHUTDOWN_TIMEOUT = 10_000;
/**
 * The default of {@linkcode ListenOptions.idleTimeout}: 5 minutes.
 *
 * @example Keeping quiet clients longer
 * ```ts
 * import { DEFAULT_IDLE_TIMEOUT, listen } from "@tether/tcp";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   idleTimeout: DEFAULT_IDLE_TIMEOUT * 2,
 *   handler: () => {},
 * });
 * ```
 */
export const DEFAULT_IDLE_TIMEOUT = 300_000;
/**
 * The default of {@linkcode ListenOptions.frameTimeout}: 30 seconds.
 *
 * @example Allowing slow uploads of large frames
 * ```ts
 * import { DEFAULT_FRAME_TIMEOUT, listen } from "@tether/tcp";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   frameTimeout: DEFAULT_FRAME_TIMEOUT * 4,
 *   handler: () => {},
 * });
 * ```
 */
export const DEFAULT_FRAME_TIMEOUT = 30_000;

/**
 * Serves one connection. The connection is closed when the returned promise
 * settles (after the frames sent so far are written); a thrown error goes to
 * {@linkcode ListenOptions.onError} and affects no other connection.
 *
 * @example An upper-casing handler
 * ```ts
 * import { connect, type ConnectionHandler, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const upper: ConnectionHandler = async (conn) => {
 *   for await (const frame of conn) {
 *     await conn.send(new TextDecoder().decode(frame).toUpperCase());
 *   }
 * };
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: upper,
 * });
 * await using conn = await connect({ port: server.addr.port });
 * await conn.send("shout");
 * for await (const frame of conn) {
 *   assert.equal(new TextDecoder().decode(frame), "SHOUT");
 *   break;
 * }
 * ```
 */
export type ConnectionHandler = (conn: Connection) => void | Promise<void>;

/**
 * Options for {@linkcode listen}.
 *
 * @example A line server that reports handler errors
 * ```ts
 * import { connect, listen, type ListenOptions } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const errors: unknown[] = [];
 * const options: ListenOptions = {
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   framing: "line",
 *   maxConnections: 100,
 *   idleTimeout: 60_000,
 *   shutdownTimeout: 1000,
 *   onError: (error) => errors.push(error),
 *   handler: async (conn) => {
 *     for await (const line of conn) {
 *       if (new TextDecoder().decode(line) === "boom") throw new Error("boom");
 *       conn.send(line);
 *     }
 *   },
 * };
 * await using server = await listen(options);
 * await using conn = await connect({
 *   port: server.addr.port,
 *   framing: "line",
 * });
 * await conn.send("boom");
 * // The handler failed, so the server closed the connection.
 * assert.deepEqual(await Array.fromAsync(conn), []);
 * assert.equal((errors[0] as Error).message, "boom");
 * ```
 */
export interface ListenOptions extends ConnectionLimits {
  /**
   * The address to bind.
   *
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /** The port to bind; `0` picks a free port (see {@linkcode Server.addr}). */
  port: number;
  /** Serves each connection, in a task of its own. */
  handler: ConnectionHandler;
  /**
   * The wire format.
   *
   * @default {"length"}
   */
  framing?: FramingOption;
  /** Aborting it closes the server gracefully, as {@linkcode Server.close}. */
  signal?: AbortSignal;
  /**
   * Connections served at once; a connection beyond it is closed as soon as
   * it is accepted, without disturbing the others.
   *
   * @default {10000}
   */
  maxConnections?: number;
  /**
   * Milliseconds that {@linkcode Server.close} lets handlers finish before it
   * aborts the connections still open.
   *
   * @default {10000}
   */
  shutdownTimeout?: number;
  /**
   * Speak TLS with this PEM certificate and key. Every handler still sees
   * plain frames.
   */
  tls?: TlsListenOptions;
  /**
   * Answers heartbeat pings: an incoming frame equal to `ping` is answered
   * with `pong` and not delivered to the handler. `true` uses the classic
   * `PING` and `PONG`.
   *
   * With an `interval`, the server also probes its clients: a connection
   * that received nothing for `interval` milliseconds while its handler
   * reads is sent a ping, and one that receives nothing within `timeout`
   * milliseconds after it (default 10 000) is aborted with
   * `HeartbeatTimeoutError`, freeing its slot. Its clients must answer pings
   * (a `createClient()` with heartbeats does).
   *
   * @default {false}
   */
  heartbeat?:
    | boolean
    | {
      ping?: Uint8Array | string;
      pong?: Uint8Array | string;
      interval?: number;
      timeout?: number;
    };
  /**
   * Whether to turn off Nagle's algorithm on accepted connections.
   *
   * @default {true}
   */
  noDelay?: boolean;
  /**
   * Whether to turn on TCP keep-alive probes on accepted connections.
   *
   * @default {false}
   */
  keepAlive?: boolean;
  /**
   * Bytes that may wait to be written before a write through
   * `Connection.writable` waits for the socket.
   *
   * @default {65536}
   */
  highWaterMark?: number;
  /**
   * Receives errors thrown by handlers, and errors of the accept loop (with
   * no connection).
   *
   * @default {one line per error on console.error, at most 10 every 10 seconds and then a count; nothing for peers that reset, went away, idled, stopped answering pings, did not read or failed the TLS handshake; a stack only for errors that are not tether's}
   */
  onError?: (error: unknown, conn?: Connection) => void;
  /**
   * The runtime's sockets.
   *
   * @default {the detected runtime}
   */
  runtime?: Runtime;
}

/**
 * A listening server, from {@linkcode listen}.
 *
 * @example Closing a server
 * ```ts
 * import { listen } from "@tether/tcp";
 *
 * const server = await listen({ hostname: "127.0.0.1", port: 0, handler: () => {} });
 * console.log(`listening on ${server.addr.hostname}:${server.addr.port}`);
 * await server.close();
 * ```
 */
export interface Server extends AsyncDisposable {
  /** The bound address; `port` is the real port when 0 was requested. */
  readonly addr: NetAddr;
  /** The number of connections being served. */
  readonly connections: number;
  /** Settles once the server has shut down, however that was started. */
  readonly finished: Promise<void>;
  /**
   * Shuts down gracefully: stops accepting, stops reading, lets each handler
   * answer the frames already received and return, and after
   * `shutdownTimeout` aborts the connections still open, then waits for
   * their handlers to return, for at most `shutdownTimeout` again. Calling
   * it again returns the same promise.
   *
   * @returns A promise that settles once every connection is closed and
   * every handler has returned, or has ignored the abort for
   * `shutdownTimeout`.
   */
  close(): Promise<void>;
}

class TcpServer implements Server {
  readonly addr: NetAddr;
  readonly finished: Promise<void>;
  #listener: Listener;
  #handler: ConnectionHandler;
  #framing: Framing;
  #heartbeat: HeartbeatFrames | undefined;
  #options: ListenOptions;
  #maxConnections: number;
  #shutdownTimeout: number;
  #onError: (error: unknown, conn?: Connection) => void;
  #log = new ErrorLog((...data) => console.error(...data), systemClock);
  #tasks = new Map<Connection, Promise<void>>();
  #stopping = new AbortController();
  #closing: Promise<void> | undefined;
  #stopAccepting: Promise<void> | undefined;
  #shutdownReason: ConnectionClosedError | undefined;
  #accepting: Promise<void>;
  #resolveFinished!: () => void;

  constructor(listener: Listener, options: ListenOptions, framing: Framing) {
    this.#listener = listener;
    this.addr = listener.addr;
    this.#options = options;
    this.#handler = options.handler;
    this.#framing = framing;
    const heartbeat = options.heartbeat;
    if (heartbeat) {
      const {
        ping = "PING",
        pong = "PONG",
        interval = 0,
        timeout = DEFAULT_HEARTBEAT_TIMEOUT,
      } = heartbeat === true ? {} : heartbeat;
      this.#heartbeat = {
        ping: toBytes(ping),
        pong: toBytes(pong),
        ...(interval > 0 ? { interval, timeout } : {}),
      };
    }
    this.#maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.#shutdownTimeout = options.shutdownTimeout ??
      DEFAULT_SHUTDOWN_TIMEOUT;
    this.#onError = options.onError ??
      ((error, conn) => this.#log.report(error, conn?.remoteAddr));
    this.finished = new Promise((resolve) => this.#resolveFinished = resolve);
    this.#accepting = this.#acceptLoop();
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) void this.close();
      else {
        signal.addEventListener("abort", () => void this.close(), {
          once: true,
          signal: this.#stopping.signal,
        });
      }
    }
  }

  get connections(): number {
    return this.#tasks.size;
  }

  async #acceptLoop(): Promise<void> {
    let retryDelay = 0;
    while (!this.#stopping.signal.aborted) {
      let conn: Conn | null;
      try {
        conn = await this.#listener.accept();
        retryDelay = 0;
      } catch (error) {
        if (this.#stopping.signal.aborted) return;
        // Accept fails for passing reasons too (out of file descriptors):
        // back off rather than spin or give up.
        this.#report(error);
        retryDelay = Math.min(Math.max(retryDelay * 2, 5), 1000);
        await sleep(retryDelay, this.#stopping.signal);
        continue;
      }
      if (conn === null) return;
      if (this.#tasks.size >= this.#maxConnections) {
        conn.close();
        continue;
      }
      this.#serve(conn);
    }
  }

  #serve(raw: Conn): void {
    const options = this.#options;
    try {
      raw.setNoDelay(options.noDelay ?? true);
      if (options.keepAlive) raw.setKeepAlive(true);
    } catch {
      // The peer may already be gone; the handler will see it.
    }
    const idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT;
    const conn = new Connection(raw, {
      framing: this.#framing,
      closeTimeout: options.closeTimeout ??
        (idleTimeout > 0
          ? Math.min(DEFAULT_CLOSE_TIMEOUT, idleTimeout)
          : DEFAULT_CLOSE_TIMEOUT),
      ...(this.#heartbeat ? { heartbeat: this.#heartbeat } : {}),
      idleTimeout,
      frameTimeout: options.frameTimeout ?? DEFAULT_FRAME_TIMEOUT,
      maxFrameRate: options.maxFrameRate ?? 0,
      ...(options.maxWriteBuffer !== undefined
        ? { maxWriteBuffer: options.maxWriteBuffer }
        : {}),
      ...(options.highWaterMark !== undefined
        ? { highWaterMark: options.highWaterMark }
        : {}),
    });
    // A `then` rather than an async function: the task waits as long as the
    // connection lives, and a pending `then` holds less memory.
    let handled: Promise<void>;
    try {
      handled = Promise.resolve(this.#handler(conn));
    } catch (error) {
      handled = Promise.reject(error);
    }
    const task = handled.then(
      () => this.#finish(conn),
      (error) => {
        this.#report(error, conn);
        return this.#finish(conn);
      },
    );
    this.#tasks.set(conn, task);
    if (this.#stopping.signal.aborted) conn.drain();
  }

  async #finish(conn: Connection): Promise<void> {
    await conn.close();
    // A peer that never took its replies is worth reporting: the handler
    // has returned and cannot see it.
    if (conn.signal.reason instanceof CloseTimeoutError) {
      this.#report(conn.signal.reason, conn);
    }
    this.#tasks.delete(conn);
  }

  #report(error: unknown, conn?: Connection): void {
    if (this.#shutdownReason && error === this.#shutdownReason) return;
    try {
      this.#onError(error, conn);
    } catch (reportError) {
      this.#log.report(reportError, conn?.remoteAddr);
    }
  }

  close(): Promise<void> {
    return this.#closing ??= this.#shutdown();
  }

  /** Closes the listener, leaving the connections already accepted be. */
  stopAccepting(): Promise<void> {
    return this.#stopAccepting ??= (async () => {
      this.#stopping.abort();
      this.#listener.close();
      await this.#accepting;
    })();
  }

  async #shutdown(): Promise<void> {
    await this.stopAccepting();
    for (const conn of this.#tasks.keys()) conn.drain();
    await this.#handlersDone();
    if (this.#tasks.size > 0) {
      this.#shutdownReason = new ConnectionClosedError(
        `go on as the server shut down after ${this.#shutdownTimeout} ms`,
      );
      for (const conn of this.#tasks.keys()) conn.abort(this.#shutdownReason);
      // Aborted handlers see their reads fail; their clean-up is awaited too.
      await this.#handlersDone();
    }
    this.#log.flush();
    this.#resolveFinished();
  }

  /** Waits for every handler to return, for at most `shutdownTimeout`. */
  async #handlersDone(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(this.#tasks.values()),
      new Promise((resolve) =>
        timer = setTimeout(resolve, this.#shutdownTimeout)
      ),
    ]);
    clearTimeout(timer);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Stops `server` accepting connections and frees its address, without
 * touching the connections already accepted: a protocol layered on the
 * server ends those its own way before {@linkcode Server.close}.
 */
export function stopAccepting(server: Server): Promise<void> {
  return server instanceof TcpServer
    ? server.stopAccepting()
    : Promise.resolve();
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/**
 * Starts a framed TCP server: accepts connections and serves each in its own
 * task with `handler`. A failing connection never affects another.
 *
 * @param options Where to listen, how to frame, and the handler.
 * @returns The listening server.
 * @throws {NetError} If the address cannot be bound, such as with
 * `EADDRINUSE`.
 * @throws {RangeError} If `port` or a limit is out of range.
 *
 * @example An echo server
 * ```ts
 * import { listen } from "@tether/tcp";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.send(frame);
 *   },
 * });
 * console.log(`listening on ${server.addr.hostname}:${server.addr.port}`);
 * ```
 */
export async function listen(options: ListenOptions): Promise<Server> {
  const { hostname = "0.0.0.0", port, handler } = options;
  checkPort("listen", port, true);
  if (typeof handler !== "function") {
    throw new TypeError(
      `Cannot listen as 'handler' must be a function: current value is ${typeof handler}`,
    );
  }
  checkPositive(
    "listen",
    "maxConnections",
    options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
  );
  checkDuration(
    "listen",
    "shutdownTimeout",
    options.shutdownTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT,
  );
  checkConnectionLimits("listen", options);
  const { heartbeat } = options;
  if (typeof heartbeat === "object") {
    checkDuration("listen", "heartbeat.interval", heartbeat.interval ?? 0);
    checkWait(
      "listen",
      "heartbeat.timeout",
      heartbeat.timeout ?? 1,
      "leave 'heartbeat.interval' out for no probes",
    );
  }
  const framing = resolveFraming(options.framing);
  const runtime = options.runtime ?? await detectRuntime();
  options.signal?.throwIfAborted();
  const listener = await runtime.listen({
    hostname,
    port,
    ...(options.tls ? { tls: options.tls } : {}),
  });
  return new TcpServer(listener, options, framing);
}
