/**
 * The Node.js runtime adapter, built on `node:net` and `node:tls`, with
 * backpressure in both directions.
 *
 * tether detects Node by itself; import this module only to pass the runtime
 * explicitly, or to use the raw byte connections. It runs on Deno and Bun
 * too, through their Node compatibility.
 *
 * ```ts ignore
 * import { listen } from "@tether/tcp";
 * import { nodeRuntime } from "@tether/tcp/node";
 *
 * await listen({ port: 8080, runtime: nodeRuntime, handler: () => {} });
 * ```
 *
 * @module
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { createServer, isIP, type Server, Socket } from "node:net";
import {
  checkServerIdentity,
  connect as connectTls,
  createServer as createTlsServer,
  type PeerCertificate,
  type TLSSocket,
} from "node:tls";
import { AcceptQueue } from "./_accept_queue.ts";
import { nodeHasReusePort, unsupported } from "./_capabilities.ts";
import { targetAddr, toNetError, toTlsSettingsError } from "./_net_error.ts";
import { PushedConn } from "./_pushed_conn.ts";
import { acceptAll } from "./_streams.ts";
import { bindUnix } from "./_unix_socket.ts";
import { startTlsOver, tlsAcceptorOver } from "./_tls_upgrade.ts";
import { RESOLVED } from "../_promises.ts";
import type {
  Conn,
  Listener,
  NetAddr,
  Runtime,
  RuntimeConnectOptions,
  RuntimeListenOptions,
} from "./types.ts";

/** A TLS socket run over the plain connection `plain`, with its ends. */
function tlsConn(socket: TLSSocket, plain: Conn): Conn {
  return Object.assign(new NodeConn(socket), {
    localAddr: plain.localAddr,
    remoteAddr: plain.remoteAddr,
  });
}

class NodeConn extends PushedConn {
  #socket: Socket;
  // Write callbacks run in order, so counting them tells which write the
  // pending `write()` waits for. A failed write destroys the socket, and
  // `close` settles the waiter.
  #issued = 0;
  #completed = 0;
  #flushed:
    | { target: number; resolve(): void; reject(error: unknown): void }
    | undefined;
  #onWritten = (error?: Error | null) => {
    // Node calls back without an error for writes a destroy dropped: those
    // bytes never reached the kernel, and `close` rejects their waiter.
    if (error || this.#socket.destroyed) return;
    this.#completed++;
    const flushed = this.#flushed;
    if (flushed && this.#completed >= flushed.target) {
      this.#flushed = undefined;
      flushed.resolve();
    }
  };

  constructor(socket: Socket, path?: string, accepted?: boolean) {
    super(socket, path, accepted);
    this.#socket = socket;
    socket.on("data", (data: Uint8Array) => {
      // A plain view of Node's Buffer: frames are the same type everywhere.
      this.bytes.push(
        new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      );
    });
    socket.on("end", () => this.bytes.end());
    // The error is read from `socket.errored` once the socket closes.
    socket.on("error", () => {});
    socket.on("close", () => this.#onClose());
  }

  protected failure(): Error | undefined {
    return this.closedLocally ? undefined : this.#socket.errored ?? undefined;
  }

  #onClose(): void {
    this.socketClosed();
    const flushed = this.#flushed;
    this.#flushed = undefined;
    flushed?.reject(this.writeFailure());
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.closed || this.writeClosed || this.#socket.destroyed) {
      return Promise.reject(this.writeFailure());
    }
    this.#issued++;
    this.#socket.write(chunk, this.#onWritten);
    // Nothing left in Node's buffer: the kernel took every byte, and the
    // caller may reuse `chunk` at once.
    if (this.#socket.writableLength === 0) return RESOLVED;
    return new Promise<void>((resolve, reject) => {
      this.#flushed = { target: this.#issued, resolve, reject };
    });
  }

  closeWrite(): Promise<void> {
    if (!this.closed && !this.writeClosed) {
      this.writeClosed = true;
      this.#socket.end();
    }
    return RESOLVED;
  }

  protected release(): void {
    this.#socket.destroy();
  }

  protected releaseWithReset(): void {
    // Node cannot reset a TLS socket (ERR_INVALID_HANDLE_TYPE): it closes.
    try {
      this.#socket.resetAndDestroy();
    } catch {
      this.#socket.destroy();
    }
  }
}

class NodeListener implements Listener {
  readonly addr: NetAddr;
  #server: Server;
  #queue = new AcceptQueue();

  constructor(server: Server, addr: NetAddr) {
    this.#server = server;
    this.addr = addr;
    // Connections that fail before they are accepted, or a TLS handshake
    // that fails, concern only their own socket, which Node destroys.
    server.on("error", () => {});
    server.on("tlsClientError", () => {});
  }

  onConnection(socket: Socket): void {
    this.#queue.push(new NodeConn(socket, this.addr.path, true));
  }

  accept(): Promise<Conn | null> {
    return this.#queue.next();
  }

  [Symbol.asyncIterator](): AsyncIterator<Conn> {
    return acceptAll(this);
  }

  close(): void {
    if (this.#queue.close()) this.#server.close();
  }
}

function dial(
  options: RuntimeConnectOptions,
): { socket: Socket; ready: "connect" | "secureConnect" } {
  const { hostname: host, port, path, tls } = options;
  if (!tls) {
    return {
      socket: new Socket({ allowHalfOpen: true }).connect(
        path === undefined ? { host, port } : { path },
      ),
      ready: "connect",
    };
  }
  const name = tls.serverName ?? host;
  // `allowHalfOpen` works on TLS sockets too, but is missing from their
  // option type.
  const secure = {
    host,
    port,
    allowHalfOpen: true,
    // SNI carries host names only (RFC 6066); an IP is still verified.
    ...(isIP(name) ? {} : { servername: name }),
    checkServerIdentity: (_: string, cert: PeerCertificate) =>
      checkServerIdentity(name, cert),
    ...(tls.caCerts ? { ca: tls.caCerts } : {}),
  };
  const socket: TLSSocket = connectTls(secure);
  return { socket, ready: "secureConnect" };
}

/**
 * The Node.js implementation of {@linkcode Runtime}.
 *
 * @example Raw bytes over Node sockets
 * ```ts
 * import { nodeRuntime } from "@tether/tcp/node";
 * import assert from "node:assert/strict";
 *
 * const listener = await nodeRuntime.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await nodeRuntime.connect(listener.addr);
 * const peer = await listener.accept();
 * await conn.write(new TextEncoder().encode("hi"));
 * const { value } = await peer!.readable.getReader().read();
 * assert.equal(new TextDecoder().decode(value), "hi");
 * conn.close();
 * peer!.close();
 * listener.close();
 * ```
 */
export const nodeRuntime: Runtime = {
  name: "node",
  startTls: (conn, options) => startTlsOver(conn, options, tlsConn),
  tlsAcceptor: (options, address) => tlsAcceptorOver(options, address, tlsConn),
  connect(options: RuntimeConnectOptions): Promise<Conn> {
    const { signal } = options;
    const refused = unsupported("connect", options);
    if (refused) return Promise.reject(refused);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const { socket, ready } = dial(options);
    return new Promise<Conn>((resolve, reject) => {
      const settle = (error?: unknown) => {
        socket.off(ready, onReady);
        socket.off("error", onError);
        signal?.removeEventListener("abort", onAbort);
        if (error === undefined) {
          resolve(new NodeConn(socket, options.path));
        } else {
          // Nobody holds the socket any more: whatever it still reports
          // must not become an uncaught error.
          socket.on("error", () => {});
          socket.destroy();
          reject(error);
        }
      };
      const onReady = () => settle();
      const onError = (error: Error) =>
        settle(toNetError(error, "connect", targetAddr(options)));
      const onAbort = () => settle(signal?.reason);
      socket.once(ready, onReady);
      socket.once("error", onError);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  },
  listen(options: RuntimeListenOptions): Promise<Listener> {
    const refused = unsupported(
      "listen",
      options,
      nodeHasReusePort(process.version)
        ? undefined
        : `'reusePort' option needs Node 22.12 or later: this is Node ${process.version}`,
    );
    if (refused) return Promise.reject(refused);
    const { path } = options;
    return path === undefined
      ? listenNode(options)
      : bindUnix({ ...options, path }, nodeRuntime.connect, () =>
        listenNode(options));
  },
};

// Binds a listener.
function listenNode(options: RuntimeListenOptions): Promise<Listener> {
  const { hostname, port, path, tls } = options;
  const address = targetAddr(options);
  let listener: NodeListener | undefined;
  const onConnection = (socket: Socket) => listener?.onConnection(socket);
  let server: Server;
  if (tls) {
    try {
      // Node parses the certificate and key here and throws if they are
      // invalid; as buffers, empty ones are parsed too, not skipped.
      server = createTlsServer({
        allowHalfOpen: true,
        cert: Buffer.from(tls.cert),
        key: Buffer.from(tls.key),
      }, onConnection);
    } catch (error) {
      return Promise.reject(toTlsSettingsError(error, "listen", address));
    }
  } else {
    server = createServer({ allowHalfOpen: true }, onConnection);
  }
  // Node binds after a lookup, even of an IP address: the port and any
  // error are known only once `listening` or `error` fires.
  return new Promise<Listener>((resolve, reject) => {
    const onError = (error: Error) => {
      server.off("listening", onListening);
      reject(toNetError(error, "listen", address));
    };
    const onListening = () => {
      server.off("error", onError);
      const bound = server.address();
      listener = new NodeListener(
        server,
        path === undefined
          ? {
            hostname,
            port: typeof bound === "object" && bound ? bound.port : port,
          }
          : address,
      );
      resolve(listener);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(
      path === undefined
        ? {
          host: hostname,
          port,
          ...(options.reusePort ? { reusePort: true } : {}),
        }
        : { path },
    );
  });
}
