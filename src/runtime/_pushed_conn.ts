import { NetError } from "../errors.ts";
import { closedError, toNetError, unixAddr } from "./_net_error.ts";
import { type Pausable, PushedBytes } from "./_pushed_bytes.ts";
import { writableFor } from "./_streams.ts";
import type { ChunkSink, Conn, NetAddr } from "./types.ts";

/** The socket methods a pushed connection uses, in Bun and in Node. */
export interface PushingSocket extends Pausable {
  setNoDelay(noDelay?: boolean): unknown;
  setKeepAlive(enable?: boolean): unknown;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

/**
 * What a {@linkcode Conn} is the same for on runtimes whose sockets push what
 * they read (Bun, Node): the read queue, the streams built on first use, the
 * socket options, `close()`, and the error a write reports once writing is
 * impossible. The runtime supplies writing, the FIN, the release of the
 * socket and where a failure is found.
 */
export abstract class PushedConn implements Conn {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  protected readonly bytes: PushedBytes;
  protected closed = false;
  protected closedLocally = false;
  protected writeClosed = false;
  #socket: PushingSocket;
  #writable: WritableStream<Uint8Array> | undefined;

  /**
   * @param path The path of a Unix socket: the local end's when `accepted`,
   * else the remote end's; the other end is unnamed.
   */
  constructor(socket: PushingSocket, path?: string, accepted?: boolean) {
    this.#socket = socket;
    // A socket reset as it was accepted has no addresses any more.
    this.localAddr = path === undefined
      ? { hostname: socket.localAddress ?? "", port: socket.localPort ?? 0 }
      : unixAddr(accepted ? path : "");
    this.remoteAddr = path === undefined
      ? { hostname: socket.remoteAddress ?? "", port: socket.remotePort ?? 0 }
      : unixAddr(accepted ? "" : path);
    this.bytes = new PushedBytes(socket);
  }

  // The socket reads into memory of its own; a getter costs a connection no
  // memory, where a field would.
  get readsIntoTarget(): boolean {
    return false;
  }

  // Built on first use: connections framed by tether read through `read()`.
  get readable(): ReadableStream<Uint8Array> {
    return this.bytes.readable;
  }

  // Built on first use: connections framed by tether use `write()`.
  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= writableFor(this);
  }

  read(): Promise<Uint8Array | null> {
    return this.bytes.read();
  }

  pull(sink: ChunkSink): void {
    this.bytes.pull(sink);
  }

  abstract write(chunk: Uint8Array): Promise<void>;

  abstract closeWrite(): Promise<void>;

  /** Closes the socket in both directions; `close()` calls it once. */
  protected abstract release(): void;

  /** Closes the socket in both directions with a reset. */
  protected abstract releaseWithReset(): void;

  /** What broke the connection, unless this side closed it. */
  protected abstract failure(): unknown;

  close(): void {
    this.#closeWith(() => this.release());
  }

  reset(): void {
    this.#closeWith(() => this.releaseWithReset());
  }

  #closeWith(release: () => void): void {
    if (this.closed) return;
    this.closed = true;
    this.closedLocally = true;
    this.bytes.detach();
    release();
  }

  // Neither applies to a Unix socket.
  setNoDelay(noDelay: boolean): void {
    if (!this.closed && !this.#unix) this.#socket.setNoDelay(noDelay);
  }

  setKeepAlive(keepAlive: boolean): void {
    if (!this.closed && !this.#unix) this.#socket.setKeepAlive(keepAlive);
  }

  get #unix(): boolean {
    return this.remoteAddr.transport === "unix";
  }

  /** The socket has closed: reading ends, with the failure if there was one. */
  protected socketClosed(): void {
    this.closed = true;
    const failure = this.failure();
    this.bytes.close(
      failure ? toNetError(failure, "read", this.remoteAddr) : undefined,
    );
  }

  /** The error a write reports once the socket cannot take it. */
  protected writeFailure(): unknown {
    const failure = this.failure();
    if (failure) return toNetError(failure, "write", this.remoteAddr);
    return this.closedLocally || this.writeClosed
      ? closedError("write")
      : new NetError("EPIPE", "write", this.remoteAddr);
  }
}
