/**
 * The Bun runtime adapter, built on the socket handlers of `Bun.connect` and
 * `Bun.listen`, with backpressure in both directions.
 *
 * tether detects Bun by itself; import this module only to pass the runtime
 * explicitly, or to use the raw byte connections.
 *
 * ```ts ignore
 * import { listen } from "@tether/tcp";
 * import { bunRuntime } from "@tether/tcp/bun";
 *
 * await listen({ port: 8080, runtime: bunRuntime, handler: () => {} });
 * ```
 *
 * @module
 */
import { NetError } from "../errors.ts";
import { AcceptQueue } from "./_accept_queue.ts";
import { unsupported } from "./_capabilities.ts";
import {
  closedError,
  targetAddr,
  toNetError,
  toTlsSettingsError,
  unixAddr,
} from "./_net_error.ts";
import { PushedConn } from "./_pushed_conn.ts";
import { acceptAll } from "./_streams.ts";
import { bindUnix } from "./_unix_socket.ts";
import { RESOLVED } from "../_promises.ts";
import type {
  Conn,
  Listener,
  NetAddr,
  Runtime,
  RuntimeConnectOptions,
  RuntimeListenOptions,
} from "./types.ts";

// The slice of Bun's socket API this adapter uses, declared here so the
// module type-checks without Bun's own type package.
interface BunSocket {
  data: BunConn | undefined;
  write(data: Uint8Array): number;
  end(): void;
  shutdown(halfClose?: boolean): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay(noDelay?: boolean): boolean;
  setKeepAlive(enable?: boolean, initialDelay?: number): boolean;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

interface BunSocketHandler {
  binaryType: "arraybuffer";
  open(socket: BunSocket): void;
  data(socket: BunSocket, data: ArrayBuffer): void;
  drain(socket: BunSocket): void;
  end(socket: BunSocket): void;
  close(socket: BunSocket, error?: Error): void;
  error(socket: BunSocket, error: Error): void;
  connectError?(socket: BunSocket, error: Error): void;
  handshake?(socket: BunSocket, success: boolean, error: Error | null): void;
}

interface BunTcpListener {
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

// Where to connect or listen: a host and port, or a Unix socket.
type BunTarget = { hostname: string; port: number } | { unix: string };

interface BunNet {
  connect(
    options: BunTarget & {
      allowHalfOpen: boolean;
      socket: BunSocketHandler;
      tls?: { ca?: string[]; serverName: string; rejectUnauthorized: boolean };
    },
  ): Promise<BunSocket>;
  listen(
    options: BunTarget & {
      allowHalfOpen: boolean;
      // Honoured, though missing from Bun's types.
      reusePort?: boolean;
      socket: BunSocketHandler;
      tls?: { cert: string; key: string };
    },
  ): BunTcpListener;
}

// Bun's options for `target`.
function bunTarget(
  target: { hostname: string; port: number; path?: string },
): BunTarget {
  const { hostname, port, path } = target;
  return path === undefined ? { hostname, port } : { unix: path };
}

function bunNet(): BunNet {
  return (globalThis as unknown as { Bun: BunNet }).Bun;
}

class BunConn extends PushedConn {
  #socket: BunSocket;
  #failure: unknown;
  #drained: { resolve(): void; reject(error: unknown): void } | undefined;

  constructor(socket: BunSocket, path?: string, accepted?: boolean) {
    super(socket, path, accepted);
    this.#socket = socket;
  }

  onData(data: ArrayBuffer): void {
    this.bytes.push(new Uint8Array(data));
  }

  onEnd(): void {
    this.bytes.end();
  }

  onDrain(): void {
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.resolve();
  }

  onClose(error?: Error): void {
    if (error && !this.closedLocally) this.#failure = error;
    this.socketClosed();
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.reject(this.writeFailure());
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.closed || this.writeClosed) {
      return Promise.reject(this.writeFailure());
    }
    const n = chunk.byteLength === 0 ? 0 : this.#socket.write(chunk);
    // The usual case, the kernel took every byte, costs no promise.
    if (n === chunk.byteLength) return RESOLVED;
    // Negative counts (-1, or a raw -errno) mean the socket is gone.
    if (n < 0) return Promise.reject(this.writeFailure());
    return this.#writeRest(chunk.subarray(n));
  }

  // Bun buffers nothing: the rest waits for `drain`.
  async #writeRest(rest: Uint8Array): Promise<void> {
    while (rest.byteLength > 0) {
      await new Promise<void>((resolve, reject) => {
        this.#drained = { resolve, reject };
      });
      if (this.closed || this.writeClosed) throw this.writeFailure();
      const n = this.#socket.write(rest);
      if (n < 0) throw this.writeFailure();
      if (n === rest.byteLength) return;
      rest = rest.subarray(n);
    }
  }

  closeWrite(): Promise<void> {
    if (!this.closed && !this.writeClosed) {
      this.writeClosed = true;
      // `end()` closes both directions in Bun; `shutdown()` is the FIN.
      this.#socket.shutdown();
    }
    return Promise.resolve();
  }

  protected release(): void {
    this.#socket.end();
  }

  protected releaseWithReset(): void {
    this.#socket.terminate();
  }

  protected failure(): unknown {
    return this.#failure;
  }
}

function handlers(
  onOpen: (conn: BunConn) => void,
  path?: string,
  listening = false,
): BunSocketHandler {
  return {
    // An ArrayBuffer, not a Uint8Array: the decoder views each chunk's
    // buffer, and a Uint8Array from Bun has none yet. JSC creates it on
    // first access, which costs more than decoding a small frame.
    binaryType: "arraybuffer",
    open(socket) {
      const conn = new BunConn(socket, path, listening);
      socket.data = conn;
      onOpen(conn);
    },
    data: (socket, data) => socket.data?.onData(data),
    drain: (socket) => socket.data?.onDrain(),
    end: (socket) => socket.data?.onEnd(),
    close: (socket, error) => socket.data?.onClose(error),
    // Only exceptions thrown by these handlers arrive here; none should,
    // but if one does, the socket it concerns is unusable.
    error: (socket, error) => {
      socket.data?.onClose(error);
      socket.terminate();
    },
    // The promise of `Bun.connect` rejects with the same error.
    connectError: () => {},
  };
}

class BunListener implements Listener {
  readonly addr: NetAddr;
  #listener: BunTcpListener;
  #queue = new AcceptQueue();

  constructor(options: RuntimeListenOptions) {
    const { path } = options;
    this.#listener = bunNet().listen({
      ...bunTarget(options),
      allowHalfOpen: true,
      ...(options.reusePort ? { reusePort: true } : {}),
      // Without a handshake handler, Bun opens a TLS socket only once its
      // handshake is done.
      socket: handlers((conn) => this.#queue.push(conn), path, true),
      ...(options.tls ? { tls: options.tls } : {}),
    });
    this.addr = path === undefined
      ? { hostname: options.hostname, port: this.#listener.port }
      : unixAddr(path);
  }

  accept(): Promise<Conn | null> {
    return this.#queue.next();
  }

  [Symbol.asyncIterator](): AsyncIterator<Conn> {
    return acceptAll(this);
  }

  close(): void {
    if (this.#queue.close()) this.#listener.stop(false);
  }
}

/**
 * The Bun implementation of {@linkcode Runtime}.
 *
 * @example Raw bytes over Bun sockets
 * ```ts ignore
 * import { bunRuntime } from "@tether/tcp/bun";
 *
 * const listener = await bunRuntime.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await bunRuntime.connect(listener.addr);
 * conn.close();
 * listener.close();
 * ```
 */
export const bunRuntime: Runtime = {
  name: "bun",
  // TLS after a PROXY protocol header runs through the Node compatibility,
  // loaded only then.
  startTls: async (conn, options) =>
    (await import("./node.ts")).nodeRuntime.startTls!(conn, options),
  tlsAcceptor: async (options, address) =>
    (await import("./node.ts")).nodeRuntime.tlsAcceptor!(options, address),
  connect(options: RuntimeConnectOptions): Promise<Conn> {
    const { hostname, signal, tls } = options;
    const refused = unsupported("connect", options);
    if (refused) return Promise.reject(refused);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const address = targetAddr(options);
    return new Promise<Conn>((resolve, reject) => {
      let opened: BunConn | undefined;
      let settled = false;
      const finish = (error: unknown, conn?: BunConn) => {
        if (settled) {
          // Opened after an abort or a failure: nobody wants it.
          conn?.close();
          return;
        }
        settled = true;
        signal?.removeEventListener("abort", onAbort);
        if (conn && error === undefined) {
          resolve(conn);
        } else {
          opened?.close();
          reject(error);
        }
      };
      // Bun.connect takes no signal: give up on the attempt, and close the
      // socket if it opens after all.
      const onAbort = () => finish(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      const socket = handlers((conn) => {
        opened = conn;
        if (!tls) finish(undefined, conn);
      }, options.path);
      if (tls) {
        // A TLS socket opens before its handshake, and writes made before
        // it ends are dropped: the connection is ready only after it.
        socket.handshake = (raw, success, error) => {
          if (success) finish(undefined, raw.data);
          else {
            finish(new NetError("ETLS", "connect", address, { cause: error }));
          }
        };
        const onClose = socket.close;
        socket.close = (raw, error) => {
          onClose(raw, error);
          finish(
            error
              ? toNetError(error, "connect", address)
              : new NetError("ETLS", "connect", address),
          );
        };
      }
      let connecting: Promise<BunSocket>;
      try {
        connecting = bunNet().connect({
          ...bunTarget(options),
          allowHalfOpen: true,
          socket,
          ...(tls
            ? {
              tls: {
                serverName: tls.serverName ?? hostname,
                rejectUnauthorized: true,
                ...(tls.caCerts ? { ca: tls.caCerts } : {}),
              },
            }
            : {}),
        });
      } catch (error) {
        // Bun throws before it dials when it cannot use the CA certificates.
        finish(
          tls
            ? toTlsSettingsError(error, "connect", address)
            : toNetError(error, "connect", address),
        );
        return;
      }
      connecting.then(
        (raw) => {
          if (opened) return;
          raw.terminate();
          finish(closedError("connect"));
        },
        (error) => finish(toNetError(error, "connect", address)),
      );
    });
  },
  listen(options: RuntimeListenOptions): Promise<Listener> {
    const refused = unsupported("listen", options);
    if (refused) return Promise.reject(refused);
    const { path } = options;
    if (path !== undefined) {
      return bindUnix({ ...options, path }, bunRuntime.connect, () => {
        try {
          return new BunListener(options);
        } catch (error) {
          throw toNetError(error, "listen", unixAddr(path));
        }
      });
    }
    try {
      return Promise.resolve(new BunListener(options));
    } catch (error) {
      const address = targetAddr(options);
      return Promise.reject(
        options.tls
          ? toTlsSettingsError(error, "listen", address)
          : toNetError(error, "listen", address),
      );
    }
  },
};
