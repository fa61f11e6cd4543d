import {
  checkConnectionLimits,
  checkDuration,
  checkTarget,
} from "../_options.ts";
import {
  type FramingOption,
  resolveFraming,
} from "../framing/framing_option.ts";
import { type Clock, systemClock } from "../clock.ts";
import { Connection, type ConnectionWiring } from "./connection.ts";
import type { ConnectionLimits } from "./options.ts";
import { ConnectTimeoutError } from "../errors.ts";
import { detectRuntime } from "../runtime/detect.ts";
import type { Runtime, TlsConnectOptions } from "../runtime/types.ts";
import { defined } from "../_values.ts";
import { connectWithHeader, proxyHeaderBytes } from "../proxy/_connect.ts";
import type { ProxyHeaderInit } from "../proxy/types.ts";

/** The default of {@linkcode ConnectOptions.connectTimeout}: 10 seconds. */
const DEFAULT_CONNECT_TIMEOUT = 10_000;

/**
 * Options for {@linkcode connect}.
 *
 * @example Connecting with line framing and a short timeout
 * ```ts
 * import { connect, type ConnectOptions, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   framing: "line",
 *   handler: async (conn) => {
 *     for await (const line of conn) conn.send(line);
 *   },
 * });
 * const options: ConnectOptions = {
 *   hostname: "127.0.0.1",
 *   port: server.addr.port,
 *   framing: "line",
 *   connectTimeout: 2000,
 *   keepAlive: true,
 * };
 * await using conn = await connect(options);
 * await conn.send("hello");
 * for await (const line of conn) {
 *   assert.equal(new TextDecoder().decode(line), "hello");
 *   break;
 * }
 * ```
 */
export interface ConnectOptions extends ConnectionLimits {
  /**
   * The host to connect to.
   *
   * @default {"127.0.0.1", or none with `path`}
   */
  hostname?: string;
  /** The port to connect to; required unless `path` is set. */
  port?: number;
  /**
   * The path of a Unix socket to connect to, instead of `hostname` and
   * `port`. TLS is not supported over it.
   *
   * @default {none: connect over TCP}
   */
  path?: string;
  /**
   * The wire format.
   *
   * @default {"length"}
   */
  framing?: FramingOption;
  /**
   * Cancels the connection attempt, rejecting with the signal's reason; once
   * connected, aborting it aborts the connection.
   */
  signal?: AbortSignal;
  /**
   * Milliseconds to wait for the connection to be established before failing
   * with {@linkcode ConnectTimeoutError}; `0` waits as long as the OS does.
   *
   * @default {10000}
   */
  connectTimeout?: number;
  /**
   * Whether to turn off Nagle's algorithm. tether coalesces small frames
   * itself, so waiting in the kernel only adds latency.
   *
   * @default {true}
   */
  noDelay?: boolean;
  /**
   * Whether to turn on TCP keep-alive probes.
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
   * Speak TLS: `true` verifies the server against the system's CAs, an
   * object can name private CAs and the name to verify. A handshake that
   * fails rejects with a `NetError` whose code is `ETLS`.
   *
   * @default {false}
   */
  tls?: boolean | TlsConnectOptions;
  /**
   * Send this PROXY protocol header first, as a load balancer does: the
   * fields to encode (version 2 unless `version: 1`), or the bytes of one
   * whole header. With `tls`, the handshake starts after it.
   *
   * @default {none}
   */
  proxyHeader?: ProxyHeaderInit | Uint8Array;
  /**
   * The runtime's sockets.
   *
   * @default {the detected runtime}
   */
  runtime?: Runtime;
}

/**
 * Opens a framed TCP connection.
 *
 * @param options Where to connect and how to frame.
 * @returns The open connection.
 * @throws {ConnectTimeoutError} If no connection is established within
 * `connectTimeout`.
 * @throws {NetError} If the connection fails, such as with `ECONNREFUSED`.
 * @throws {RangeError} If `port` or `connectTimeout` is out of range, or
 * `path` is empty.
 * @throws {TypeError} If `path` is combined with `hostname`, `port` or
 * `tls`.
 *
 * @example Sending a frame and reading the reply
 * ```ts
 * import { connect, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: async (conn) => {
 *     for await (const frame of conn) await conn.send(frame);
 *   },
 * });
 * await using conn = await connect({ port: server.addr.port });
 * await conn.send("ping");
 * for await (const frame of conn) {
 *   assert.equal(new TextDecoder().decode(frame), "ping");
 *   break;
 * }
 * ```
 */
export function connect(options: ConnectOptions): Promise<Connection> {
  return dial(options, {});
}

/** What the library's own layers pass to {@linkcode dial}. */
export interface DialWiring extends
  Pick<
    ConnectionWiring,
    "heartbeat" | "onActivity" | "writeHold" | "clock"
  > {
  /**
   * The clock of the connect timeout alone, where the connection's own
   * timers keep `clock`.
   *
   * @default {clock}
   */
  connectClock?: Clock;
}

/**
 * {@linkcode connect}, with extra options for the connection it opens.
 */
export async function dial(
  options: ConnectOptions,
  extra: DialWiring,
): Promise<Connection> {
  const {
    path,
    signal,
    connectTimeout = DEFAULT_CONNECT_TIMEOUT,
    noDelay = true,
    keepAlive = false,
  } = options;
  checkTarget("connect", options, false);
  const hostname = path === undefined ? options.hostname ?? "127.0.0.1" : "";
  const port = options.port ?? 0;
  checkDuration("connect", "connectTimeout", connectTimeout);
  checkConnectionLimits("connect", options);
  const framing = resolveFraming(options.framing);
  const header = options.proxyHeader === undefined
    ? undefined
    : proxyHeaderBytes(options.proxyHeader);
  const runtime = options.runtime ?? await detectRuntime();
  signal?.throwIfAborted();

  const { connectClock, ...wiring } = extra;
  const clock = connectClock ?? extra.clock ?? systemClock;
  const attempt = new AbortController();
  const onAbort = () => attempt.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  const timer = connectTimeout > 0
    ? clock.setTimeout(
      () =>
        attempt.abort(
          new ConnectTimeoutError(
            hostname,
            port,
            connectTimeout,
            path === undefined ? undefined : { path },
          ),
        ),
      connectTimeout,
      // A connection attempt is awaited work: it keeps the process alive.
      true,
    )
    : undefined;
  try {
    const conn = await connectWithHeader(runtime, header, {
      hostname,
      port,
      ...(path === undefined ? {} : { path }),
      signal: attempt.signal,
      ...(options.tls ? { tls: options.tls === true ? {} : options.tls } : {}),
    });
    conn.setNoDelay(noDelay);
    if (keepAlive) conn.setKeepAlive(true);
    const connOptions: ConnectionWiring = {
      ...wiring,
      framing,
      ...(signal ? { signal } : {}),
      ...defined({
        highWaterMark: options.highWaterMark,
        idleTimeout: options.idleTimeout,
        frameTimeout: options.frameTimeout,
        maxFrameRate: options.maxFrameRate,
        maxWriteBuffer: options.maxWriteBuffer,
        closeTimeout: options.closeTimeout,
      }),
    };
    return new Connection(conn, connOptions);
  } finally {
    clock.clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}
