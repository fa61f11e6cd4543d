import { RESOLVED } from "../_promises.ts";
import { readableFor, writableFor } from "../runtime/_streams.ts";
import type { ChunkSink, Conn, NetAddr } from "../runtime/types.ts";

/**
 * A connection whose first bytes were read already, while its PROXY
 * protocol header was read: they come first, then what the socket reads.
 * Everything else goes to the socket.
 */
export class PrefixedConn implements Conn {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  #conn: Conn;
  #head: Uint8Array | undefined;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #readable: ReadableStream<Uint8Array> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;

  constructor(conn: Conn, head: Uint8Array) {
    this.#conn = conn;
    this.#head = head.byteLength > 0 ? head : undefined;
    this.localAddr = conn.localAddr;
    this.remoteAddr = conn.remoteAddr;
  }

  get readsIntoTarget(): boolean {
    return this.#conn.readsIntoTarget ?? false;
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= readableFor(this, () => this.#reader?.cancel());
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= writableFor(this);
  }

  read(target?: Uint8Array): Promise<Uint8Array | null> {
    const head = this.#takeHead(target);
    if (head) return Promise.resolve(head);
    const conn = this.#conn;
    if (conn.read) return conn.read(target);
    this.#reader ??= conn.readable.getReader();
    return this.#reader.read().then(({ value }) => value ?? null);
  }

  pull(sink: ChunkSink, target?: Uint8Array): void {
    const head = this.#takeHead(target);
    if (head) {
      // Never before `pull` returns, as the contract says.
      void RESOLVED.then(() => sink.chunk(head));
      return;
    }
    if (this.#conn.pull) return this.#conn.pull(sink, target);
    this.read(target).then((chunk) => sink.chunk(chunk), (e) => sink.fail(e));
  }

  /**
   * The bytes read ahead, or as many as fit in `target` when the socket
   * reads into its target, so that the chunk is a view of `target` there too.
   */
  #takeHead(target: Uint8Array | undefined): Uint8Array | undefined {
    const head = this.#head;
    if (!head) return undefined;
    if (!target || !this.readsIntoTarget) {
      this.#head = undefined;
      return head;
    }
    const n = Math.min(head.byteLength, target.byteLength);
    target.set(head.subarray(0, n));
    this.#head = n < head.byteLength ? head.subarray(n) : undefined;
    return target.subarray(0, n);
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.#conn.write(chunk);
  }

  closeWrite(): Promise<void> {
    return this.#conn.closeWrite();
  }

  close(): void {
    this.#head = undefined;
    this.#conn.close();
  }

  reset(): void {
    this.#head = undefined;
    if (this.#conn.reset) this.#conn.reset();
    else this.#conn.close();
  }

  setNoDelay(noDelay: boolean): void {
    this.#conn.setNoDelay(noDelay);
  }

  setKeepAlive(keepAlive: boolean): void {
    this.#conn.setKeepAlive(keepAlive);
  }
}
