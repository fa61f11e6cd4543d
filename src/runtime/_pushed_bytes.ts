import { PUSHED_HIGH_WATER_MARK } from "../_sizes.ts";
import { readableFor } from "./_streams.ts";
import { pulled, RESOLVED } from "../_promises.ts";
import type { ChunkSink } from "./types.ts";

/** The flow control of a socket that pushes what it reads. */
export interface Pausable {
  pause(): void;
  resume(): void;
}

/**
 * The read side of a socket whose runtime pushes data events (Bun, Node): a
 * queue of the chunks received, taken by `read()` or through `readable`.
 * The socket is paused while the queue is full and resumed when it is read.
 */
export class PushedBytes {
  #socket: Pausable;
  #readable: ReadableStream<Uint8Array> | undefined;
  #chunks: Uint8Array[] = [];
  #queuedBytes = 0;
  #reader: ChunkSink | undefined;
  // How reading ends once the queue is empty: no error for a FIN,
  // otherwise the error that broke the connection.
  #end: { error: unknown } | undefined;
  #paused = false;
  #cancelled = false;
  #detached = false;

  constructor(socket: Pausable) {
    this.#socket = socket;
  }

  /** The chunks as a stream, built on first use. */
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= readableFor(this, () => {
      // Reading stops, writing goes on: keep the socket paused so the
      // kernel, not this process, holds what the peer sends.
      this.#cancelled = true;
      this.#chunks = [];
      this.#queuedBytes = 0;
      this.#pause();
    });
  }

  /** The next chunk, or `null` once the stream has ended. */
  read(): Promise<Uint8Array | null> {
    return pulled((sink) => this.pull(sink));
  }

  /**
   * Hands the next chunk, the end (`null`) or the failure to `sink`: at once
   * from the socket's data event when the reader was waiting for it, in a
   * microtask when it was queued already.
   */
  pull(sink: ChunkSink): void {
    const chunk = this.#chunks.shift();
    if (chunk) {
      this.#queuedBytes -= chunk.byteLength;
      if (this.#queuedBytes < PUSHED_HIGH_WATER_MARK) this.#resume();
      void RESOLVED.then(() => sink.chunk(chunk));
      return;
    }
    const end = this.#end;
    if (end || this.#cancelled) {
      const error = end?.error;
      void RESOLVED.then(() =>
        error === undefined ? sink.chunk(null) : sink.fail(error)
      );
      return;
    }
    this.#resume();
    this.#reader = sink;
  }

  /** Takes bytes the socket read. */
  push(chunk: Uint8Array): void {
    if (this.#cancelled || this.#end) return;
    const reader = this.#reader;
    if (reader) {
      this.#reader = undefined;
      reader.chunk(chunk);
      return;
    }
    this.#chunks.push(chunk);
    this.#queuedBytes += chunk.byteLength;
    if (this.#queuedBytes >= PUSHED_HIGH_WATER_MARK) this.#pause();
  }

  /** The peer sent a FIN: reading ends once the queue is taken. */
  end(): void {
    this.#finish(undefined);
  }

  /** The socket is closed or closing: it must not be paused or resumed. */
  detach(): void {
    this.#detached = true;
  }

  /**
   * The socket closed: once the queue is taken, reading ends with `error`
   * or, without one, at the end of the stream.
   */
  close(error?: unknown): void {
    this.#detached = true;
    this.#finish(error);
  }

  #finish(error: unknown): void {
    if (this.#end) return;
    this.#end = { error };
    const reader = this.#reader;
    this.#reader = undefined;
    if (error === undefined) reader?.chunk(null);
    else reader?.fail(error);
  }

  #pause(): void {
    if (!this.#paused && !this.#detached) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

  #resume(): void {
    if (this.#paused && !this.#detached && !this.#cancelled) {
      this.#paused = false;
      this.#socket.resume();
    }
  }
}
