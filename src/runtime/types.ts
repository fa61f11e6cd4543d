/**
 * The small contract between tether's runtime-agnostic core and a runtime's
 * sockets. tether ships {@linkcode denoRuntime}, {@linkcode bunRuntime} and
 * {@linkcode nodeRuntime}; implement this interface to run tether on anything
 * else.
 *
 * @module
 */

/**
 * A TCP endpoint, or a Unix socket's when `transport` is `"unix"`.
 *
 * @example Formatting an address
 * ```ts
 * import { connect, listen, type NetAddr } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * function format({ hostname, port }: NetAddr): string {
 *   return `${hostname}:${port}`;
 * }
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: () => {},
 * });
 * await using conn = await connect({ port: server.addr.port });
 * assert.equal(format(conn.remoteAddr), format(server.addr));
 * ```
 */
export interface NetAddr {
  /**
   * The kind of socket: TCP addresses leave it out.
   *
   * @default {"tcp"}
   */
  transport?: "tcp" | "unix";
  /** The IP address (or host name) of the endpoint; `""` for a Unix socket. */
  hostname: string;
  /** The TCP port of the endpoint; `0` for a Unix socket. */
  port: number;
  /**
   * The path of a Unix socket; `""` for an unnamed one, such as a client's
   * end. Absent for TCP.
   */
  path?: string;
}

/**
 * TLS settings of a client connection.
 *
 * @example Trusting a private CA
 * ```ts ignore
 * import { connect } from "@tether/tcp";
 *
 * const caCert = await Deno.readTextFile("ca.pem");
 * const conn = await connect({
 *   hostname: "10.0.0.5",
 *   port: 7000,
 *   tls: { caCerts: [caCert], serverName: "echo.internal" },
 * });
 * ```
 */
export interface TlsConnectOptions {
  /**
   * PEM-encoded CA certificates to trust instead of the system's, for servers
   * with a private CA.
   */
  caCerts?: string[];
  /**
   * The name the server's certificate must match, when it differs from the
   * host dialled (such as when dialling an IP address).
   *
   * @default {the hostname dialled}
   */
  serverName?: string;
}

/**
 * TLS settings of a server.
 *
 * @example Serving TLS
 * ```ts ignore
 * import { listen } from "@tether/tcp";
 *
 * await listen({
 *   port: 7443,
 *   tls: {
 *     cert: await Deno.readTextFile("cert.pem"),
 *     key: await Deno.readTextFile("key.pem"),
 *   },
 *   handler: () => {},
 * });
 * ```
 */
export interface TlsListenOptions {
  /** The PEM-encoded certificate chain of the server. */
  cert: string;
  /** The PEM-encoded private key of the certificate. */
  key: string;
}

/**
 * Options for {@linkcode Runtime.connect}.
 *
 * @example Dialling with the runtime's raw sockets
 * ```ts
 * import { detectRuntime, type RuntimeConnectOptions } from "@tether/tcp/runtime";
 * import assert from "node:assert/strict";
 *
 * const runtime = await detectRuntime();
 * const listener = await runtime.listen({ hostname: "127.0.0.1", port: 0 });
 * const controller = new AbortController();
 * const options: RuntimeConnectOptions = {
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 *   signal: controller.signal,
 * };
 * const conn = await runtime.connect(options);
 * const peer = await listener.accept();
 * assert.equal(conn.remoteAddr.port, listener.addr.port);
 * conn.close();
 * peer?.close();
 * listener.close();
 * ```
 */
export interface RuntimeConnectOptions {
  /** The host to dial; ignored with `path`. */
  hostname: string;
  /** The port to dial; ignored with `path`. */
  port: number;
  /** Dial the Unix socket at this path instead of `hostname` and `port`. */
  path?: string;
  /**
   * Cancels the connection attempt: the promise rejects with the signal's
   * reason, and a socket that opens afterwards is closed at once.
   */
  signal?: AbortSignal;
  /**
   * Speak TLS: the promise settles once the handshake succeeded, so a bad
   * certificate rejects here, with a `NetError` whose code is `ETLS`.
   */
  tls?: TlsConnectOptions;
}

/**
 * Options for {@linkcode Runtime.listen}.
 *
 * @example Binding a free port
 * ```ts
 * import { detectRuntime, type RuntimeListenOptions } from "@tether/tcp/runtime";
 * import assert from "node:assert/strict";
 *
 * const runtime = await detectRuntime();
 * const options: RuntimeListenOptions = { hostname: "127.0.0.1", port: 0 };
 * const listener = await runtime.listen(options);
 * assert.notEqual(listener.addr.port, 0); // the port the OS picked
 * listener.close();
 * ```
 */
export interface RuntimeListenOptions {
  /** The address to bind; ignored with `path`. */
  hostname: string;
  /** The port to bind; 0 picks a free port. Ignored with `path`. */
  port: number;
  /** Speak TLS with this certificate. Not with `path`. */
  tls?: TlsListenOptions;
  /**
   * Bind a Unix socket at this path instead of `hostname` and `port`. A
   * socket file that nobody answers on is removed first; one that answers
   * fails with `EADDRINUSE`. {@linkcode Listener.close} removes the file.
   */
  path?: string;
  /**
   * The permission bits of the socket file at `path`, set once it is bound.
   *
   * @default {as the umask leaves them}
   */
  mode?: number;
  /**
   * Let other listeners bind the same address and port (`SO_REUSEPORT`),
   * and the kernel spread connections among them. Runtimes that cannot fail
   * with a `NetError` whose code is `ENOTSUP`.
   *
   * @default {false}
   */
  reusePort?: boolean;
}

/**
 * Takes the outcome of one {@linkcode Conn.pull}.
 *
 * @example A sink that collects chunks
 * ```ts
 * import type { ChunkSink } from "@tether/tcp/runtime";
 *
 * const chunks: Uint8Array[] = [];
 * const sink: ChunkSink = {
 *   chunk: (bytes) => {
 *     if (bytes) chunks.push(bytes);
 *   },
 *   fail: (error) => console.error(error),
 * };
 * sink.chunk(new Uint8Array([1, 2]));
 * ```
 */
export interface ChunkSink {
  /**
   * The next chunk of bytes, the caller's to keep, or `null` once the peer
   * sent a FIN or the connection was closed here.
   *
   * @param bytes The chunk, or `null` at the end of the stream.
   */
  chunk(bytes: Uint8Array | null): void;
  /**
   * The connection broke.
   *
   * @param error A `NetError`.
   */
  fail(error: unknown): void;
}

/**
 * One TCP connection as a pair of byte streams, with a FIN that keeps the
 * read side open (half-close) and a full close.
 *
 * Errors from the operating system surface as {@linkcode NetError}s with the
 * same `code` on every runtime.
 *
 * @example Echoing raw bytes
 * ```ts ignore
 * import type { Conn } from "@tether/tcp/runtime";
 *
 * async function echo(conn: Conn): Promise<void> {
 *   for await (const chunk of conn.readable) await conn.write(chunk);
 *   await conn.closeWrite();
 * }
 * ```
 */
export interface Conn {
  /**
   * The bytes the peer sends. It closes when the peer sends a FIN (the write
   * side stays usable), and errors with a `NetError` when the connection
   * breaks. Cancelling it stops reading without closing the connection.
   */
  readonly readable: ReadableStream<Uint8Array>;
  /**
   * Takes the next chunk of bytes the peer sent, or `null` once it sent a
   * FIN or the connection was closed here; rejects with a `NetError` when
   * the connection breaks. The chunk is the caller's to keep.
   *
   * Optional: the same bytes as {@linkcode Conn.readable}, without the cost
   * of a stream per chunk. Frame readers use it when a runtime has it. Read a
   * connection through one of the two only, and do not overlap calls.
   *
   * @param target Where the caller would like the bytes: with
   * {@linkcode Conn.readsIntoTarget}, the chunk is a view of its start;
   * without, a chunk of the runtime's own memory.
   * @returns The next chunk, or `null` at the end of the stream.
   */
  read?(target?: Uint8Array): Promise<Uint8Array | null>;
  /**
   * Whether {@linkcode Conn.read} and {@linkcode Conn.pull} read into the
   * `target` they are given, as on Deno, rather than into memory of the
   * runtime's own, as on Bun and Node. Frame readers offer memory to read
   * into only where it is `true`.
   *
   * @default {false}
   */
  readonly readsIntoTarget?: boolean;
  /**
   * Optional: {@linkcode Conn.read} without a promise per chunk. The chunk,
   * the end of the stream or the failure goes to `sink`, never before `pull`
   * returns. Frame readers prefer it to `read` when a runtime has it. The
   * rules of `read` hold: one reader, and no call before the last settled.
   *
   * @param sink Where the outcome goes.
   * @param target As for {@linkcode Conn.read}.
   */
  pull?(sink: ChunkSink, target?: Uint8Array): void;
  /**
   * The bytes to send, as a stream: `close()` sends a FIN (like
   * {@linkcode Conn.closeWrite}), `abort()` closes the connection. Do not
   * mix it with {@linkcode Conn.write}.
   */
  readonly writable: WritableStream<Uint8Array>;
  /** The local end of the connection. */
  readonly localAddr: NetAddr;
  /** The remote end of the connection. */
  readonly remoteAddr: NetAddr;
  /**
   * Writes all of `chunk`, however many partial writes the socket needs.
   * Calls must not overlap: wait for one to settle before the next. The
   * caller must not modify `chunk` until the promise settles.
   *
   * @param chunk The bytes to send.
   * @returns A promise that settles once the OS accepted every byte.
   */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Sends a FIN: the peer reads end-of-stream, and this side can still read.
   *
   * @returns A promise that settles once the FIN is queued.
   */
  closeWrite(): Promise<void>;
  /**
   * Closes both directions. A pending read ends quietly, a pending write
   * rejects. Calling it again does nothing.
   */
  close(): void;
  /**
   * Closes at once with a reset, as {@linkcode Conn.close} does otherwise:
   * bytes that have not reached the peer are dropped, never delivered
   * later, and the peer sees `ECONNRESET`. Absent where the runtime cannot
   * reset a socket (Deno), where `close()` serves instead; Node cannot reset
   * a TLS socket and closes it.
   */
  reset?(): void;
  /**
   * Turns Nagle's algorithm off (`true`) or on; does nothing on a Unix
   * socket, as does {@linkcode Conn.setKeepAlive}.
   *
   * @param noDelay Whether to send small segments at once.
   */
  setNoDelay(noDelay: boolean): void;
  /**
   * Turns TCP keep-alive probes on or off.
   *
   * @param keepAlive Whether to probe an idle connection.
   */
  setKeepAlive(keepAlive: boolean): void;
}

/**
 * A bound TCP listener. Iterating it yields accepted connections until it is
 * closed.
 *
 * @example Accepting connections
 * ```ts ignore
 * import type { Listener } from "@tether/tcp/runtime";
 *
 * async function acceptAll(listener: Listener): Promise<void> {
 *   for await (const conn of listener) conn.close();
 * }
 * ```
 */
export interface Listener extends AsyncIterable<Conn> {
  /** The bound address; `port` is the real port when 0 was requested. */
  readonly addr: NetAddr;
  /**
   * Waits for the next connection.
   *
   * @returns The accepted connection, or `null` once the listener is closed.
   */
  accept(): Promise<Conn | null>;
  /**
   * Stops accepting. Connections already accepted stay open; a pending
   * {@linkcode Listener.accept} resolves to `null`. A Unix socket's file is
   * removed.
   */
  close(): void;
}

/**
 * The sockets of one JavaScript runtime.
 *
 * @example Choosing the runtime explicitly
 * ```ts ignore
 * import { connect } from "@tether/tcp";
 * import { denoRuntime } from "@tether/tcp/deno";
 *
 * const conn = await connect({ port: 8080, runtime: denoRuntime });
 * ```
 */
export interface Runtime {
  /** The runtime's name, such as `deno`, `bun` or `node`. */
  readonly name: string;
  /**
   * Opens a TCP connection.
   *
   * @param options Where to connect, and an optional abort signal.
   * @returns The open connection.
   * @throws {NetError} If the connection cannot be established.
   */
  connect(options: RuntimeConnectOptions): Promise<Conn>;
  /**
   * Binds a TCP listener. It is asynchronous because Node binds only after
   * an address lookup, even of an IP address.
   *
   * @param options Where to listen.
   * @returns The bound listener.
   * @throws {NetError} If the address cannot be bound.
   */
  listen(options: RuntimeListenOptions): Promise<Listener>;
  /**
   * Optional: runs the client side of a TLS handshake on `conn`, a plain
   * connection from {@linkcode Runtime.connect} on which bytes were sent in
   * the clear first (a PROXY protocol header) and nothing was read. tether
   * uses it for `connect({ proxyHeader, tls })`; without it, that fails with
   * a `NetError` whose code is `ENOTSUP`.
   *
   * @param conn The plain connection; the returned one replaces it.
   * @param options Where `conn` leads, its TLS settings and abort signal.
   * @returns The connection once the handshake succeeded.
   * @throws {NetError} `ETLS` if the handshake fails.
   */
  startTls?(conn: Conn, options: RuntimeConnectOptions): Promise<Conn>;
  /**
   * Optional: prepares the server side of TLS on accepted plain connections,
   * once their PROXY protocol header was read. tether uses it for
   * `listen({ proxyProtocol, tls })`; without it, that fails with a
   * `NetError` whose code is `ENOTSUP`.
   *
   * @param options The certificate and key.
   * @param address Where the server listens, for errors.
   * @returns What runs the handshake on one connection and resolves with the
   * connection that replaces it, or rejects with a `NetError` (`ETLS`).
   * @throws {NetError} `ETLS` if the certificate or key is invalid.
   */
  tlsAcceptor?(
    options: TlsListenOptions,
    address: NetAddr,
  ): Promise<(conn: Conn) => Promise<Conn>>;
}
