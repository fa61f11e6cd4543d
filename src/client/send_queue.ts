import { handledPromise } from "../_promises.ts";
import { QueueFullError } from "../errors.ts";
import { owned } from "../connection/frame_writer.ts";

/**
 * Limits of the client's offline queue.
 *
 * @example A queue of one frame
 * ```ts
 * import {
 *   createClient,
 *   listen,
 *   QueueFullError,
 *   type QueueOptions,
 * } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.send(frame);
 *   },
 * });
 * const queue: QueueOptions = { maxLength: 1, maxBytes: 1024 };
 * await using client = createClient({ port: server.addr.port, queue });
 * // Not connected yet: the first frame waits, the second does not fit.
 * const first = client.send("one");
 * await assert.rejects(client.send("two"), QueueFullError);
 * await first; // sent once the connection opened
 * ```
 */
export interface QueueOptions {
  /**
   * The most frames held while disconnected.
   *
   * @default {1024}
   */
  maxLength?: number;
  /**
   * The most payload bytes held while disconnected.
   *
   * @default {1048576}
   */
  maxBytes?: number;
}

/**
 * The default of {@linkcode QueueOptions.maxLength}.
 *
 * @example Holding more frames than by default
 * ```ts
 * import { DEFAULT_QUEUE_LENGTH, type QueueOptions } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_QUEUE_LENGTH, 1024);
 * const queue: QueueOptions = { maxLength: 4 * DEFAULT_QUEUE_LENGTH };
 * assert.equal(queue.maxLength, 4096);
 * ```
 */
export const DEFAULT_QUEUE_LENGTH = 1024;
/**
 * The default of {@linkcode QueueOptions.maxBytes}: 1 MiB.
 *
 * @example Holding more bytes than by default
 * ```ts
 * import { DEFAULT_QUEUE_BYTES, type QueueOptions } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * assert.equal(DEFAULT_QUEUE_BYTES, 1_048_576);
 * const queue: QueueOptions = { maxBytes: 8 * DEFAULT_QUEUE_BYTES };
 * assert.equal(queue.maxBytes, 8 * 1024 * 1024);
 * ```
 */
export const DEFAULT_QUEUE_BYTES = 1024 * 1024;

interface Entry {
  frame: Uint8Array;
  resolve(value: Promise<void>): void;
  reject(reason: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * Frames accepted while no connection is open, in order, bounded by count
 * and by bytes. A frame is either handed to a connection by
 * {@linkcode SendQueue.flush} or rejected; a rejected frame is never sent.
 */
export class SendQueue {
  #entries: Entry[] = [];
  #bytes = 0;
  #maxLength: number;
  #maxBytes: number;

  constructor(options: QueueOptions = {}) {
    this.#maxLength = options.maxLength ?? DEFAULT_QUEUE_LENGTH;
    this.#maxBytes = options.maxBytes ?? DEFAULT_QUEUE_BYTES;
    for (
      const [name, value] of [["maxLength", this.#maxLength], [
        "maxBytes",
        this.#maxBytes,
      ]] as const
    ) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new RangeError(
          `Cannot create queue as '${name}' must be a non-negative integer: current value is ${value}`,
        );
      }
    }
  }

  /** Frames waiting. */
  get length(): number {
    return this.#entries.length;
  }

  /** Payload bytes waiting. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Queues a frame, or a copy of it unless `send()` would write it from the
   * caller's memory too (see {@linkcode owned}). The promise settles as the
   * promise of the connection that eventually sends it, or rejects if the
   * frame is dropped; it never becomes an unhandled rejection.
   *
   * @throws {QueueFullError} If the frame does not fit.
   */
  push(frame: Uint8Array, signal?: AbortSignal): Promise<void> {
    const size = frame.byteLength;
    if (
      this.length >= this.#maxLength || this.#bytes + size > this.#maxBytes
    ) {
      throw new QueueFullError(
        size,
        this.length,
        this.#maxBytes,
        this.#maxLength,
      );
    }
    return handledPromise<void>(({ resolve, reject }) => {
      const entry: Entry = {
        frame: owned(frame),
        resolve,
        reject,
        signal,
        onAbort: undefined,
      };
      if (signal) {
        entry.onAbort = () => this.#drop(entry, signal.reason);
        signal.addEventListener("abort", entry.onAbort, { once: true });
      }
      this.#entries.push(entry);
      this.#bytes += size;
    });
  }

  #drop(entry: Entry, reason: unknown): void {
    const index = this.#entries.indexOf(entry);
    if (index < 0) return;
    this.#entries.splice(index, 1);
    this.#bytes -= entry.frame.byteLength;
    entry.reject(reason);
  }

  /**
   * Hands the frames, in order, to `send` while `open()` holds; the frames
   * left once it fails (the connection broke while taking them) wait for the
   * next connection.
   */
  flush(send: (frame: Uint8Array) => Promise<void>, open: () => boolean): void {
    const entries = this.#take();
    let index = 0;
    while (index < entries.length && open()) {
      const entry = entries[index++]!;
      entry.resolve(send(entry.frame));
    }
    for (const entry of entries.slice(index).reverse()) this.#putBack(entry);
  }

  // Puts an entry back at the head, listening to its signal again.
  #putBack(entry: Entry): void {
    if (entry.signal?.aborted) {
      entry.reject(entry.signal.reason);
      return;
    }
    this.#entries.unshift(entry);
    this.#bytes += entry.frame.byteLength;
    if (entry.onAbort) {
      entry.signal!.addEventListener("abort", entry.onAbort, { once: true });
    }
  }

  /** Rejects every frame with `reason`; none of them will be sent. */
  clear(reason: unknown): void {
    for (const entry of this.#take()) entry.reject(reason);
  }

  #take(): Entry[] {
    const entries = this.#entries;
    this.#entries = [];
    this.#bytes = 0;
    for (const { signal, onAbort } of entries) {
      if (onAbort) signal!.removeEventListener("abort", onAbort);
    }
    return entries;
  }
}
