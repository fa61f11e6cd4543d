/**
 * What {@linkcode listen} takes and gives: its options and their defaults,
 * the connection handler, and the {@linkcode Server} it returns.
 *
 * @module
 */
import type { FramingOption } from "../framing/framing_option.ts";
import type { Connection } from "../connection/connection.ts";
import type { ConnectionLimits } from "../connection/options.ts";
import type { NetAddr, Runtime, TlsListenOptions } from "../runtime/types.ts";
import type { ProxyProtocolOptions } from "../proxy/options.ts";

/** The default of {@linkcode ListenOptions.maxConnections}. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;
/** The default of {@linkcode ListenOptions.shutdownTimeout}: 10 seconds. */
export const DEFAULT_SHUTDOWN_TIMEOUT = 10_000;
/** The default of {@linkcode ListenOptions.idleTimeout}: 5 minutes. */
export const DEFAULT_IDLE_TIMEOUT = 300_000;
/** The default of {@linkcode ListenOptions.frameTimeout}: 30 seconds. */
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
   * @default {"0.0.0.0", or none with `path`}
   */
  hostname?: string;
  /**
   * The port to bind; `0` picks a free port (see {@linkcode Server.addr}).
   * Required unless `path` is set.
   */
  port?: number;
  /**
   * The path of a Unix socket to listen on, instead of `hostname` and
   * `port`. A socket file left by a server that crashed is removed, once a
   * connection to it is refused; if a server answers on it, `listen()`
   * fails with a `NetError` whose code is `EADDRINUSE`.
   * {@linkcode Server.close} removes the file. TLS is not supported over it.
   *
   * @default {none: listen on TCP}
   */
  path?: string;
  /**
   * The permission bits of the socket file at `path`, such as `0o660` to
   * let the group connect, set once it is bound.
   *
   * @default {as the process's umask leaves them}
   */
  mode?: number;
  /**
   * Let several servers, in this process or others, bind the same address
   * and port, and the kernel spread new connections among them
   * (`SO_REUSEPORT`, Linux). Every one of them must set it. It needs Node
   * 22.12 or later, and on Deno the `--unstable-net` flag; elsewhere
   * `listen()` fails with a `NetError` whose code is `ENOTSUP`.
   *
   * @default {false}
   */
  reusePort?: boolean;
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
   * Read a PROXY protocol header (version 1 or 2) from `trusted` load
   * balancers before anything else on each connection (and, with `tls`,
   * before the handshake): `Connection.remoteAddr` is then the original
   * client and `Connection.proxy` the header. A connection whose header is
   * refused is closed and its `ProxyProtocolError` goes to `onError`.
   *
   * @default {off: no header is read}
   */
  proxyProtocol?: ProxyProtocolOptions;
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
