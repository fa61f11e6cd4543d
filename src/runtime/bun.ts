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
import { closedError, toNetError } from "./_net_error.ts";
import { acceptAll, readableFor, writableFor } from "./_streams.ts";
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
  binaryType: "uint8array";
  open(socket: BunSocket): void;
  data(socket: BunSocket, data: Uint8Array): void;
  drain(socket: BunSocket): void;
  end(socket: BunSocket): void;
  close(socket: BunSocket, error?: Error): void;
  error(socket: BunSocket, error: Error): void;
  connectError?(socket: BunSocket, error: Error): void;
  handshake?(socket: BunSocket, success: boolean, error: Error | null): void;
}

interface BunTcpListener {
  readonly hostname: string;
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
}

interface BunNet {
  connect(options: {
    hostname: string;
    port: number;
    allowHalfOpen: boolean;
    socket: BunSocketHandler;
    tls?: { ca?: string[]; serverName: string; rejectUnauthorized: boolean };
  }): Promise<BunSocket>;
  listen(options: {
    hostname: string;
    port: number;
    allowHalfOpen: boolean;
    socket: BunSocketHandler;
    tls?: { cert: string; key: string };
  }): BunTcpListener;
}

function bunNet(): BunNet {
  return (globalThis as unknown as { Bun: BunNet }).Bun;
}

// Bun hands each `data` event a fresh buffer of up to 512 KiB, so the queue
// is bounded in bytes, not chunks; past this the socket is paused.
const READ_HIGH_WATER_MARK = 64 * 1024;

interface ReadWaiter {
  resolve(chunk: Uint8Array | null): void;
  reject(reason: unknown): void;
}

class BunConn implements Conn {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  #socket: BunSocket;
  #readable: ReadableStream<Uint8Array> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;
  #chunks: Uint8Array[] = [];
  #queuedBytes = 0;
  #reader: ReadWaiter | undefined;
  // How reading ends once the queue is empty: `null` for a FIN, otherwise
  // the error that broke the connection.
  #readEnd: { error: unknown } | undefined;
  #paused = false;
  #readDone = false;
  #closed = false;
  #closedLocally = false;
  #writeClosed = false;
  #failure: unknown;
  #drained: { resolve(): void; reject(error: unknown): void } | undefined;

  constructor(socket: BunSocket) {
    this.#socket = socket;
    this.localAddr = { hostname: socket.localAddress, port: socket.localPort };
    this.remoteAddr = {
      hostname: socket.remoteAddress,
      port: socket.remotePort,
    };
  }

  // Built on first use: connections framed by tether use `write()`.
  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= writableFor(this);
  }

  // Built on first use: connections framed by tether read through `read()`.
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= readableFor(this, () => {
      // Reading stops, writing goes on: keep the socket paused so the
      // kernel, not this process, holds what the peer sends.
      this.#readDone = true;
      this.#chunks = [];
      this.#queuedBytes = 0;
      this.#pause();
    });
  }

  read(): Promise<Uint8Array | null> {
    const chunk = this.#chunks.shift();
    if (chunk) {
      this.#queuedBytes -= chunk.byteLength;
      if (this.#queuedBytes < READ_HIGH_WATER_MARK) this.#resume();
      return Promise.resolve(chunk);
    }
    const end = this.#readEnd;
    if (end) {
      return end.error === undefined
        ? Promise.resolve(null)
        : Promise.reject(end.error);
    }
    if (this.#readDone) return Promise.resolve(null);
    this.#resume();
    return new Promise((resolve, reject) => {
      this.#reader = { resolve, reject };
    });
  }

  #pause(): void {
    if (!this.#paused && !this.#closed) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

  #resume(): void {
    if (this.#paused && !this.#closed && !this.#readDone) {
      this.#paused = false;
      this.#socket.resume();
    }
  }

  onData(data: Uint8Array): void {
    if (this.#readDone) return;
    const reader = this.#reader;
    if (reader) {
      this.#reader = undefined;
      reader.resolve(data);
      return;
    }
    this.#chunks.push(data);
    this.#queuedBytes += data.byteLength;
    if (this.#queuedBytes >= READ_HIGH_WATER_MARK) this.#pause();
  }

  onEnd(): void {
    this.#endRead(undefined);
  }

  /** Ends reading once the queued chunks are taken. */
  #endRead(error: unknown): void {
    if (this.#readEnd) return;
    this.#readEnd = { error };
    const reader = this.#reader;
    this.#reader = undefined;
    if (error === undefined) reader?.resolve(null);
    else reader?.reject(error);
  }

  onDrain(): void {
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.resolve();
  }

  onClose(error?: Error): void {
    this.#closed = true;
    if (error && !this.#closedLocally) this.#failure = error;
    this.#endRead(
      this.#failure
        ? toNetError(this.#failure, "read", this.remoteAddr)
        : undefined,
    );
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.reject(this.#writeFailure());
  }

  async write(chunk: Uint8Array): Promise<void> {
    let rest = chunk;
    while (rest.byteLength > 0) {
      if (this.#closed || this.#writeClosed) throw this.#writeFailure();
      const n = this.#socket.write(rest);
      // Negative counts (-1, or a raw -errno) mean the socket is gone.
      if (n < 0) throw this.#writeFailure();
      if (n === rest.byteLength) return;
      rest = rest.subarray(n);
      await new Promise<void>((resolve, reject) => {
        this.#drained = { resolve, reject };
      });
    }
  }

  #writeFailure(): unknown {
    if (this.#failure) {
      return toNetError(this.#failure, "write", this.remoteAddr);
    }
    return this.#closedLocally || this.#writeClosed
      ? closedError("write")
      : new NetError("EPIPE", "write", this.remoteAddr);
  }

  closeWrite(): Promise<void> {
    if (!this.#closed && !this.#writeClosed) {
      this.#writeClosed = true;
      // `end()` closes both directions in Bun; `shutdown()` is the FIN.
      this.#socket.shutdown();
    }
    return Promise.resolve();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closedLocally = true;
    this.#socket.end();
  }

  setNoDelay(noDelay: boolean): void {
    if (!this.#closed) this.#socket.setNoDelay(noDelay);
  }

  setKeepAlive(keepAlive: boolean): void {
    if (!this.#closed) this.#socket.setKeepAlive(keepAlive);
  }
}

function handlers(onOpen: (conn: BunConn) => void): BunSocketHandler {
  return {
    binaryType: "uint8array",
    open(socket) {
      const conn = new BunConn(socket);
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
  #accepted: BunConn[] = [];
  #waiting: ((conn: Conn | null) => void)[] = [];
  #closed = false;

  constructor(options: RuntimeListenOptions) {
    this.#listener = bunNet().listen({
      hostname: options.hostname,
      port: options.port,
      allowHalfOpen: true,
      // Without a handshake handler, Bun opens a TLS socket only once its
      // handshake is done.
      socket: handlers((conn) => this.#onOpen(conn)),
      ...(options.tls ? { tls: options.tls } : {}),
    });
    this.addr = { hostname: options.hostname, port: this.#listener.port };
  }

  #onOpen(conn: BunConn): void {
    if (this.#closed) {
      conn.close();
      return;
    }
    const waiter = this.#waiting.shift();
    if (waiter) waiter(conn);
    else this.#accepted.push(conn);
  }

  accept(): Promise<Conn | null> {
    const conn = this.#accepted.shift();
    if (conn) return Promise.resolve(conn);
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  [Symbol.asyncIterator](): AsyncIterator<Conn> {
    return acceptAll(this);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.stop(false);
    for (const conn of this.#accepted.splice(0)) conn.close();
    for (const waiter of this.#waiting.splice(0)) waiter(null);
  }
}

/**
 * The Bun implementation of {@linkcode Runtime}.
 *
 * @example Raw bytes over Bun sockets
 * ```ts ignore
 * import { bunRuntime } from "@tether/tcp/bun";
 *
 * const listener = bunRuntime.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await bunRuntime.connect(listener.addr);
 * conn.close();
 * listener.close();
 * ```
 */
export const bunRuntime: Runtime = {
  name: "bun",
  connect(options: RuntimeConnectOptions): Promise<Conn> {
    const { hostname, port, signal, tls } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const address = { hostname, port };
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
      });
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
      bunNet().connect({
        hostname,
        port,
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
      }).then(
        (raw) => {
          if (opened) return;
          raw.terminate();
          finish(closedError("connect"));
        },
        (error) => finish(toNetError(error, "connect", address)),
      );
    });
  },
  listen(options: RuntimeListenOptions): Listener {
    try {
      return new BunListener(options);
    } catch (error) {
      throw toNetError(error, "listen", options);
    }
  },
};
