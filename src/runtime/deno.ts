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
import { closedError, toNetError } from "./_net_error.ts";
import { acceptAll, writableFor } from "./_streams.ts";
import type {
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
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  setNoDelay?(noDelay?: boolean): void;
  setKeepAlive?(keepAlive?: boolean): void;
}

interface DenoTlsConn extends DenoTcpConn {
  handshake(): Promise<unknown>;
}

interface DenoTcpListener {
  accept(): Promise<DenoTcpConn>;
  close(): void;
  readonly addr: NetAddr;
}

interface DenoNet {
  connect(options: {
    hostname: string;
    port: number;
    transport: "tcp";
    signal?: AbortSignal;
  }): Promise<DenoTcpConn>;
  listen(
    options: { hostname: string; port: number; transport: "tcp" },
  ): DenoTcpListener;
  listenTls(options: {
    hostname: string;
    port: number;
    transport: "tcp";
    cert: string;
    key: string;
  }): DenoTcpListener;
  startTls(
    conn: DenoTcpConn,
    options: { hostname: string; caCerts?: string[] },
  ): Promise<DenoTlsConn>;
}

function denoNet(): DenoNet {
  return (globalThis as unknown as { Deno: DenoNet }).Deno;
}

// Reads go into one reused buffer and are copied out at their real size:
// a fresh 64 KiB buffer per read would cost far more for small messages.
// The buffer starts small, since every connection waiting for data holds
// one, and doubles while reads fill it.
const MIN_READ_BUFFER_SIZE = 4 * 1024;
const MAX_READ_BUFFER_SIZE = 64 * 1024;

function addr(a: NetAddr): NetAddr {
  return { hostname: a.hostname, port: a.port };
}

// `conn.readable` is not used: it closes the whole socket at end-of-stream,
// which makes half-close impossible (denoland/deno#22258).
class DenoConn implements Conn {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  #conn: DenoTcpConn;
  #buffer: Uint8Array | undefined;
  #closed = false;
  #readDone = false;
  #writeClosed = false;

  constructor(conn: DenoTcpConn) {
    this.#conn = conn;
    this.localAddr = addr(conn.localAddr);
    this.remoteAddr = addr(conn.remoteAddr);
    this.readable = new ReadableStream({
      type: "bytes",
      pull: (controller) => this.#pull(controller),
      cancel: () => {
        this.#readDone = true;
      },
    });
    this.writable = writableFor(this);
  }

  async #pull(controller: ReadableByteStreamController): Promise<void> {
    const request = controller.byobRequest;
    const view = request?.view;
    const target = view
      ? new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
      : (this.#buffer ??= new Uint8Array(MIN_READ_BUFFER_SIZE));
    try {
      let n: number | null = 0;
      // A read of 0 bytes is not end-of-stream.
      while (n === 0) n = await this.#conn.read(target);
      if (this.#readDone) return;
      if (n === null) {
        this.#endRead(controller);
      } else if (request) {
        request.respond(n);
      } else {
        controller.enqueue(target.slice(0, n));
        if (n === target.byteLength && n < MAX_READ_BUFFER_SIZE) {
          this.#buffer = new Uint8Array(n * 2);
        }
      }
    } catch (error) {
      if (this.#readDone) return;
      if (this.#closed) {
        this.#endRead(controller);
      } else {
        this.#readDone = true;
        controller.error(toNetError(error, "read", this.remoteAddr));
      }
    }
  }

  #endRead(controller: ReadableByteStreamController): void {
    this.#readDone = true;
    controller.close();
    controller.byobRequest?.respond(0);
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.#closed || this.#writeClosed) throw closedError("write");
    try {
      let offset = 0;
      while (offset < chunk.byteLength) {
        offset += await this.#conn.write(
          offset === 0 ? chunk : chunk.subarray(offset),
        );
      }
    } catch (error) {
      throw this.#closed
        ? closedError("write")
        : toNetError(error, "write", this.remoteAddr);
    }
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
  async connect(options: RuntimeConnectOptions): Promise<Conn> {
    const { hostname, port, signal, tls } = options;
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
    try {
      const secure = await denoNet().startTls(conn, {
        hostname: tls.serverName ?? hostname,
        ...(tls.caCerts ? { caCerts: tls.caCerts } : {}),
      });
      conn = secure;
      await secure.handshake();
      return new DenoConn(secure);
    } catch (error) {
      try {
        conn.close();
      } catch {
        // Already closed by the abort or by the failed handshake.
      }
      if (signal?.aborted) throw signal.reason;
      throw toNetError(error, "connect", { hostname, port });
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  },
  listen(options: RuntimeListenOptions): Promise<Listener> {
    const { hostname, port, tls } = options;
    try {
      const listener = tls
        ? denoNet().listenTls({
          hostname,
          port,
          transport: "tcp",
          cert: tls.cert,
          key: tls.key,
        })
        : denoNet().listen({ hostname, port, transport: "tcp" });
      return Promise.resolve(new DenoListener(listener));
    } catch (error) {
      return Promise.reject(toNetError(error, "listen", { hostname, port }));
    }
  },
};
