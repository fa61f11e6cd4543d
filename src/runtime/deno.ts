/**
 * The Deno runtime adapter, built on `Deno.connect` and `Deno.listen`.
 *
 * tether detects Deno by itself; import this module only to pass the runtime
 * explicitly, or to use the raw byte connections.
 *
 * ```ts ignore
 * import { listen } from "@tether/tcp";
 * import { denoRuntime } from "@tether/tcp/deno";
 *
 * await listen({ port: 8080, runtime: denoRuntime, handler: () => {} });
 * ```
 *
 * @module
 */
import { MAX_READ_SIZE, MIN_READ_SIZE } from "../_sizes.ts";
import {
  closedError,
  toNetError,
  toTlsSettingsError,
  unixAddr,
} from "./_net_error.ts";
import { unsupported } from "./_capabilities.ts";
import { acceptAll, writableFor } from "./_streams.ts";
import { bindUnix } from "./_unix_socket.ts";
import { pulled, RESOLVED } from "../_promises.ts";
import type {
  ChunkSink,
  Conn,
  Listener,
  NetAddr,
  Runtime,
  RuntimeConnectOptions,
  RuntimeListenOptions,
} from "./types.ts";

// The slice of the Deno namespace this adapter uses, declared here so the
// module type-checks wherever it is compiled.
interface DenoTcpConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  readonly localAddr: DenoAddr;
  readonly remoteAddr: DenoAddr;
  // Absent on TLS and Unix connections.
  setNoDelay?(noDelay?: boolean): void;
  setKeepAlive?(keepAlive?: boolean): void;
}

// A TCP address, or a Unix one with a `path` (null when unnamed).
type DenoAddr = NetAddr | { transport: "unix"; path: string | null };

interface DenoTlsConn extends DenoTcpConn {
  handshake(): Promise<unknown>;
}

interface DenoTcpListener {
  accept(): Promise<DenoTcpConn>;
  close(): void;
  readonly addr: DenoAddr;
}

interface DenoNet {
  connect(
    options: {
      hostname: string;
      port: number;
      transport: "tcp";
      signal?: AbortSignal;
    } | { transport: "unix"; path: string },
  ): Promise<DenoTcpConn>;
  listen(
    options: {
      hostname: string;
      port: number;
      transport: "tcp";
      reusePort?: boolean;
    } | { transport: "unix"; path: string },
  ): DenoTcpListener;
  listenTls(options: {
    hostname: string;
    port: number;
    transport: "tcp";
    cert: string;
    key: string;
    reusePort?: boolean;
  }): DenoTcpListener;
  // Present only with --unstable-net.
  listenDatagram?: unknown;
  startTls(
    conn: DenoTcpConn,
    options: { hostname: string; caCerts?: string[] },
  ): Promise<DenoTlsConn>;
}

function denoNet(): DenoNet {
  return (globalThis as unknown as { Deno: DenoNet }).Deno;
}

function addr(a: DenoAddr): NetAddr {
  return a.transport === "unix"
    ? unixAddr(a.path ?? "")
    : { hostname: a.hostname, port: a.port };
}

// Without --unstable-net, `reusePort` exits the process with code 70; the
// flag's own `listenDatagram` shows whether it is on.
function reusePortMissing(): string | undefined {
  return typeof denoNet().listenDatagram === "function"
    ? undefined
    : "'reusePort' option needs Deno's --unstable-net flag: run Deno with --unstable-net";
}

// `conn.readable` is not used: it closes the whole socket at end-of-stream,
// which makes half-close impossible (denoland/deno#22258).
class DenoConn implements Conn {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  #conn: DenoTcpConn;
  #readable: ReadableStream<Uint8Array> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;
  // Reads without a target land in a slab that chunks are views of, which
  // spares an allocation per read; it starts small, since every waiting
  // connection holds one, doubles while reads fill it, and halves when a
  // whole slab saw only small reads.
  #slab: Uint8Array | undefined;
  #used = 0;
  #slabSize = MIN_READ_SIZE;
  #largestRead = 0;
  #closed = false;
  #readDone = false;
  #writeClosed = false;

  constructor(conn: DenoTcpConn) {
    this.#conn = conn;
    this.localAddr = addr(conn.localAddr);
    this.remoteAddr = addr(conn.remoteAddr);
  }

  // Built on first use: connections framed by tether use `write()`.
  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= writableFor(this);
  }

  // A getter, not a field: it costs a connection no memory.
  get readsIntoTarget(): boolean {
    return true;
  }

  // Built on first use: connections framed by tether read through `read()`.
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= new ReadableStream({
      type: "bytes",
      pull: (controller) => this.#pull(controller),
      cancel: () => {
        this.#readDone = true;
      },
    });
  }

  read(target?: Uint8Array): Promise<Uint8Array | null> {
    return pulled((sink) => this.pull(sink, target));
  }

  // One `then` on the runtime's read, which calls the sink: an idle
  // connection always has a read pending, and a suspended async function
  // holds several times the memory of a pending `then`.
  pull(sink: ChunkSink, target?: Uint8Array): void {
    if (this.#readDone) {
      void RESOLVED.then(() => sink.chunk(null));
      return;
    }
    const slab = target ? undefined : this.#takeSlab();
    const start = this.#used;
    const view = target ?? (start === 0 ? slab! : slab!.subarray(start));
    let pending: Promise<number | null>;
    try {
      pending = this.#conn.read(view);
    } catch (error) {
      void RESOLVED.then(() => this.#readFailed(sink, error));
      return;
    }
    pending.then(
      (n) => {
        // A read of 0 bytes is not end-of-stream.
        if (n === 0) return this.pull(sink, target);
        if (n === null) this.#readDone = true;
        if (n === null || this.#readDone) return sink.chunk(null);
        if (!slab) return sink.chunk(target!.subarray(0, n));
        if (n === slab.byteLength - start && this.#slabSize < MAX_READ_SIZE) {
          this.#slabSize *= 2;
        }
        if (n > this.#largestRead) this.#largestRead = n;
        this.#used = start + n;
        sink.chunk(slab.subarray(start, start + n));
      },
      (error) => this.#readFailed(sink, error),
    );
  }

  #takeSlab(): Uint8Array {
    const slab = this.#slab;
    if (slab && slab.byteLength - this.#used >= slab.byteLength / 4) {
      return slab;
    }
    if (
      slab && this.#largestRead < this.#slabSize / 8 &&
      this.#slabSize > MIN_READ_SIZE
    ) {
      this.#slabSize /= 2;
    }
    this.#largestRead = 0;
    this.#used = 0;
    return this.#slab = new Uint8Array(this.#slabSize);
  }

  /**
   * Ends reading after a failed read: the end of the stream when the
   * connection was closed here (a quiet end), otherwise the error.
   */
  #readFailed(sink: ChunkSink, error: unknown): void {
    const quiet = this.#readDone || this.#closed;
    this.#readDone = true;
    if (quiet) sink.chunk(null);
    else sink.fail(toNetError(error, "read", this.remoteAddr));
  }

  async #pull(controller: ReadableByteStreamController): Promise<void> {
    const request = controller.byobRequest;
    const view = request?.view;
    try {
      if (request && view) {
        const chunk = await this.read(
          new Uint8Array(view.buffer, view.byteOffset, view.byteLength),
        );
        if (chunk === null) this.#endRead(controller);
        else request.respond(chunk.byteLength);
      } else {
        const chunk = await this.read();
        // The stream takes ownership of the buffer it is given, and a chunk
        // shares its slab with the next reads: it goes in as a copy.
        if (chunk === null) this.#endRead(controller);
        else controller.enqueue(chunk.slice());
      }
    } catch (error) {
      controller.error(error);
    }
  }

  #endRead(controller: ReadableByteStreamController): void {
    try {
      controller.close();
      controller.byobRequest?.respond(0);
    } catch {
      // Cancelled by the reader: the stream is already closed.
    }
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.#closed || this.#writeClosed) {
      return Promise.reject(closedError("write"));
    }
    return chunk.byteLength === 0
      ? Promise.resolve()
      : this.#writeFrom(chunk, 0);
  }

  // A `then` per socket write rather than an async function: one promise
  // less on every batch a connection writes.
  #writeFrom(chunk: Uint8Array, offset: number): Promise<void> {
    let written: Promise<number>;
    try {
      written = this.#conn.write(offset === 0 ? chunk : chunk.subarray(offset));
    } catch (error) {
      return Promise.reject(this.#writeError(error));
    }
    return written.then(
      (n) => {
        const next = offset + n;
        if (next < chunk.byteLength) return this.#writeFrom(chunk, next);
      },
      (error) => {
        throw this.#writeError(error);
      },
    );
  }

  #writeError(error: unknown): unknown {
    return this.#closed
      ? closedError("write")
      : toNetError(error, "write", this.remoteAddr);
  }

  async closeWrite(): Promise<void> {
    if (this.#closed || this.#writeClosed) return;
    this.#writeClosed = true;
    try {
      await this.#conn.closeWrite();
    } catch (error) {
      if (!this.#closed) throw toNetError(error, "close", this.remoteAddr);
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the runtime after a failed write: nothing to free.
    }
  }

  setNoDelay(noDelay: boolean): void {
    if (!this.#closed) this.#conn.setNoDelay?.(noDelay);
  }

  setKeepAlive(keepAlive: boolean): void {
    if (!this.#closed) this.#conn.setKeepAlive?.(keepAlive);
  }
}

class DenoListener implements Listener {
  readonly addr: NetAddr;
  #listener: DenoTcpListener;
  #closed = false;

  constructor(listener: DenoTcpListener) {
    this.#listener = listener;
    this.addr = addr(listener.addr);
  }

  async accept(): Promise<Conn | null> {
    if (this.#closed) return null;
    try {
      return new DenoConn(await this.#listener.accept());
    } catch (error) {
      if (this.#closed) return null;
      // A connection reset before Deno asked its address (a load balancer's
      // health check) fails only itself: take the next one.
      if ((error as Error).name === "NotConnected") return this.accept();
      throw toNetError(error, "listen", this.addr);
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Conn> {
    return acceptAll(this);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
  }
}

// `Deno.connect` takes no signal for a Unix socket, which connects or fails
// at once: a connection that opens after an abort is closed.
async function connectUnix(options: RuntimeConnectOptions): Promise<Conn> {
  const { path = "", signal } = options;
  const refused = unsupported("connect", options);
  if (refused) throw refused;
  signal?.throwIfAborted();
  let conn: DenoTcpConn;
  try {
    conn = await denoNet().connect({ transport: "unix", path });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw toNetError(error, "connect", unixAddr(path));
  }
  if (signal?.aborted) {
    conn.close();
    throw signal.reason;
  }
  return new DenoConn(conn);
}

/**
 * The Deno implementation of {@linkcode Runtime}.
 *
 * @example Raw bytes over Deno sockets
 * ```ts ignore
 * import { denoRuntime } from "@tether/tcp/deno";
 *
 * const listener = await denoRuntime.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await denoRuntime.connect(listener.addr);
 * conn.close();
 * listener.close();
 * ```
 */
export const denoRuntime: Runtime = {
  name: "deno",
  // TLS after a PROXY protocol header runs through the Node compatibility,
  // loaded only then.
  startTls: async (conn, options) =>
    (await import("./node.ts")).nodeRuntime.startTls!(conn, options),
  async tlsAcceptor(options, address) {
    // Deno's `node:tls` takes any certificate and key: its own TLS listener
    // checks them, as `listen` does.
    try {
      denoNet().listenTls({
        hostname: "127.0.0.1",
        port: 0,
        transport: "tcp",
        cert: options.cert,
        key: options.key,
      }).close();
    } catch (error) {
      throw toTlsSettingsError(error, "listen", address);
    }
    return (await import("./node.ts")).nodeRuntime.tlsAcceptor!(
      options,
      address,
    );
  },
  async connect(options: RuntimeConnectOptions): Promise<Conn> {
    const { hostname, port, signal, tls } = options;
    if (options.path !== undefined) return await connectUnix(options);
    let conn: DenoTcpConn;
    try {
      conn = await denoNet().connect({
        hostname,
        port,
        transport: "tcp",
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw toNetError(error, "connect", { hostname, port });
    }
    if (!tls) return new DenoConn(conn);
    // `connectTls` takes no signal; a TCP connection upgraded with
    // `startTls` can be closed if the signal fires during the handshake.
    const onAbort = () => conn.close();
    signal?.addEventListener("abort", onAbort, { once: true });
    let started = false;
    try {
      const secure = await denoNet().startTls(conn, {
        hostname: tls.serverName ?? hostname,
        ...(tls.caCerts ? { caCerts: tls.caCerts } : {}),
      });
      conn = secure;
      started = true;
      await secure.handshake();
      return new DenoConn(secure);
    } catch (error) {
      try {
        conn.close();
      } catch {
        // Already closed by the abort or by the failed handshake.
      }
      if (signal?.aborted) throw signal.reason;
      // `startTls` checks the CA certificates and server name, and fails
      // before any handshake when it cannot use them.
      throw started
        ? toNetError(error, "connect", { hostname, port })
        : toTlsSettingsError(error, "connect", { hostname, port });
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  },
  listen(options: RuntimeListenOptions): Promise<Listener> {
    const { hostname, port, tls, path } = options;
    const refused = unsupported("listen", options, reusePortMissing());
    if (refused) return Promise.reject(refused);
    if (path !== undefined) {
      return bindUnix({ ...options, path }, denoRuntime.connect, () => {
        try {
          return new DenoListener(
            denoNet().listen({ transport: "unix", path }),
          );
        } catch (error) {
          throw toNetError(error, "listen", unixAddr(path));
        }
      });
    }
    const reusePort = options.reusePort ? { reusePort: true } : {};
    try {
      const listener = tls
        ? denoNet().listenTls({
          hostname,
          port,
          transport: "tcp",
          cert: tls.cert,
          key: tls.key,
          ...reusePort,
        })
        : denoNet().listen({ hostname, port, transport: "tcp", ...reusePort });
      return Promise.resolve(new DenoListener(listener));
    } catch (error) {
      const address = { hostname, port };
      return Promise.reject(
        tls
          ? toTlsSettingsError(error, "listen", address)
          : toNetError(error, "listen", address),
      );
    }
  },
};
