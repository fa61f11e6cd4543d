import {
  checkConnectionLimits,
  checkDuration,
  checkPositive,
  checkTarget,
  checkWait,
} from "../_options.ts";
import { resolveFraming } from "../framing/framing_option.ts";
import { Connection } from "../connection/connection.ts";
import {
  DEFAULT_CLOSE_TIMEOUT,
  type HeartbeatFrames,
} from "../connection/options.ts";
import { acceptLoop } from "./_accept_loop.ts";
import { ErrorLog } from "./_error_log.ts";
import { type Clock, systemClock } from "../clock.ts";
import { DEFAULT_HEARTBEAT_TIMEOUT } from "../connection/heartbeat.ts";
import { CloseTimeoutError, ConnectionClosedError } from "../errors.ts";
import {
  type Opened,
  type ProxyOpening,
  proxyOpening,
} from "../proxy/_accept.ts";
import type { Framing } from "../framing/framing.ts";
import { detectRuntime } from "../runtime/detect.ts";
import type { Conn, Listener, NetAddr } from "../runtime/types.ts";
import { defined, toBytes } from "../_values.ts";
import {
  type ConnectionHandler,
  DEFAULT_FRAME_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_SHUTDOWN_TIMEOUT,
  type ListenOptions,
  type Server,
} from "./options.ts";

/**
 * The server {@linkcode serve} starts and {@linkcode listen} hands out as a
 * {@linkcode Server}. Its own timers run on the clock it is given.
 */
export class TcpServer implements Server {
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
  #clock: Clock;
  #log: ErrorLog;
  #tasks = new Map<Connection, Promise<void>>();
  #stopping = new AbortController();
  #closing: Promise<void> | undefined;
  #stopAccepting: Promise<void> | undefined;
  #shutdownReason: ConnectionClosedError | undefined;
  #accepting: Promise<void>;
  #resolveFinished!: () => void;
  // Connections whose PROXY protocol header (and TLS after it) is awaited.
  #opening: ProxyOpening | undefined;
  #pending = new Set<Conn>();

  constructor(
    listener: Listener,
    options: ListenOptions,
    framing: Framing,
    clock: Clock,
    opening?: ProxyOpening,
  ) {
    this.#opening = opening;
    this.#listener = listener;
    this.addr = listener.addr;
    this.#options = options;
    this.#handler = options.handler;
    this.#framing = framing;
    this.#clock = clock;
    this.#log = new ErrorLog((...data) => console.error(...data), clock);
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
    this.#accepting = acceptLoop(
      listener,
      this.#stopping.signal,
      clock,
      (conn) => this.#admit(conn),
      (error) => this.#report(error),
    );
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

  #admit(conn: Conn): void {
    // One accepted as the shutdown began would miss its closing of pending
    // headers.
    if (this.#opening && this.#closing) conn.close();
    else if (this.#tasks.size + this.#pending.size >= this.#maxConnections) {
      conn.close();
    } else if (this.#opening) this.#open(conn, this.#opening);
    else this.#serve(conn);
  }

  /** Reads the PROXY protocol header of `raw`, then serves it. */
  #open(raw: Conn, opening: ProxyOpening): void {
    this.#pending.add(raw);
    opening.open(raw).then(
      (opened) => {
        this.#pending.delete(raw);
        // A shutdown closed it, or the peer went before its first byte.
        if (opened && this.#closing) opened.conn.close();
        else if (opened) this.#serve(opened.conn, opened);
      },
      (error) => {
        this.#pending.delete(raw);
        if (!this.#closing) this.#report(error);
      },
    );
  }

  #serve(raw: Conn, opened?: Opened): void {
    const options = this.#options;
    try {
      raw.setNoDelay(options.noDelay ?? true);
      if (options.keepAlive) raw.setKeepAlive(true);
    } catch {
      // The peer may already be gone; the handler will see it.
    }
    const idleTimeout = options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT;
    const conn = new Connection(raw, {
      ...(opened ? { proxy: opened.proxy, remoteAddr: opened.remoteAddr } : {}),
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

  /**
   * Stops accepting connections and frees the address, leaving those already
   * accepted be: a protocol layered on the server ends them its own way
   * before it calls {@linkcode TcpServer.close}.
   */
  stopAccepting(): Promise<void> {
    return this.#stopAccepting ??= (async () => {
      this.#stopping.abort();
      this.#listener.close();
      await this.#accepting;
    })();
  }

  async #shutdown(): Promise<void> {
    // Headers not read yet are not waited for.
    for (const raw of this.#pending) raw.close();
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
    const clock = this.#clock;
    let timer: unknown;
    await Promise.race([
      Promise.all(this.#tasks.values()),
      new Promise<void>((resolve) =>
        timer = clock.setTimeout(resolve, this.#shutdownTimeout, true)
      ),
    ]);
    clock.clearTimeout(timer);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * What {@linkcode listen} does, returning the {@linkcode TcpServer} itself:
 * the seam for the layers built on a server, such as the messaging server,
 * and for tests, which pass a fake `clock`.
 *
 * @param clock Runs the server's own timers: the waits between failing
 * accepts, the shutdown timeout and the error log's window.
 */
export async function serve(
  options: ListenOptions,
  clock: Clock = systemClock,
): Promise<TcpServer> {
  const { path, handler } = options;
  checkTarget("listen", options, true);
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
  // With a PROXY protocol header, TLS starts after it, on the plain socket.
  const opening = await proxyOpening(options, runtime, clock);
  options.signal?.throwIfAborted();
  const listener = await runtime.listen({
    hostname: path === undefined ? options.hostname ?? "0.0.0.0" : "",
    port: options.port ?? 0,
    ...defined({ path, mode: options.mode, reusePort: options.reusePort }),
    ...(options.tls && !opening ? { tls: options.tls } : {}),
  });
  return new TcpServer(listener, options, framing, clock, opening);
}

/**
 * Starts a framed TCP server: accepts connections and serves each in its own
 * task with `handler`. A failing connection never affects another.
 *
 * @param options Where to listen, how to frame, and the handler.
 * @returns The listening server.
 * @throws {NetError} If the address cannot be bound, such as with
 * `EADDRINUSE`, or the runtime cannot do `reusePort` (`ENOTSUP`).
 * @throws {RangeError} If `port`, `mode` or a limit is out of range, or
 * `path` is empty.
 * @throws {TypeError} If `path` is combined with `hostname`, `port`, `tls`
 * or `reusePort`.
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
export function listen(options: ListenOptions): Promise<Server> {
  return serve(options);
}
