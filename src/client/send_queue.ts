import { checkLimit } from "../_options.ts";
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

/** The default of {@linkcode QueueOptions.maxLength}. */
export const DEFAULT_QUEUE_LENGTH = 1024;
/** The default of {@linkcode QueueOptions.maxBytes}: 1 MiB. */
export const DEFAULT_QUEUE_BYTES = 1024 * 1024;

/** What takes a queue's frames once a connection is ready. */
export interface Sender {
  /** Writes `frame`; the promise settles as the connection's does. */
  send(frame: Uint8Array): Promise<void>;
}

/**
 * Something that waits in a {@linkcode SendQueue} and settles on its own,
 * such as a request, which gets its id only when it is written.
 */
export interface Waiting<T> {
  /** What it writes; its size counts towards the queue's bytes. */
  readonly frame: Uint8Array;
  /** Goes out on `target`, the connection that takes the queue. */
  deliver(target: T): void;
  /** Will never go out, because of `reason`. */
  drop(reason: unknown): void;
}

interface Entry<T> {
  readonly waiting: Waiting<T>;
  readonly signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * What waits while no connection is ready, in order, bounded by count and by
 * bytes: frames, and what settles on its own ({@linkcode Waiting}). Each
 * either goes out with {@linkcode SendQueue.flush} or is dropped; a dropped
 * one is never sent.
 */
export class SendQueue<T extends Sender = Sender> {
  #entries: Entry<T>[] = [];
  #bytes = 0;
  #maxLength: number;
  #maxBytes: number;

  /**
   * @param options The limits.
   * @param action What a bad limit fails, for its error message.
   * @throws {RangeError} If a limit is not a non-negative integer.
   */
  constructor(options: QueueOptions = {}, action = "create queue") {
    this.#maxLength = options.maxLength ?? DEFAULT_QUEUE_LENGTH;
    this.#maxBytes = options.maxBytes ?? DEFAULT_QUEUE_BYTES;
    checkLimit(action, "maxLength", this.#maxLength);
    checkLimit(action, "maxBytes", this.#maxBytes);
  }

  /** Entries waiting. */
  get length(): number {
    return this.#entries.length;
  }

  /** Payload bytes waiting. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Refuses `size` more bytes that do not fit.
   *
   * @throws {QueueFullError} If they do not fit.
   */
  checkRoom(size: number): void {
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
  }

  /**
   * Queues a frame, or a copy of it unless `send()` would write it from the
   * caller's memory too (see {@linkcode owned}). The promise settles as the
   * promise of the connection that eventually sends it, or rejects if the
   * frame is dropped or withdrawn by `signal`; it never becomes an unhandled
   * rejection.
   *
   * @param fresh Whether `frame` is the queue's already, as a just-encoded
   * envelope is, so that no copy is needed.
   * @throws {QueueFullError} If the frame does not fit.
   */
  push(frame: Uint8Array, signal?: AbortSignal, fresh = false): Promise<void> {
    this.checkRoom(frame.byteLength);
    return handledPromise<void>(({ resolve, reject }) => {
      const copy = fresh ? frame : owned(frame);
      const waiting: Waiting<T> = {
        frame: copy,
        deliver: (target) => resolve(target.send(copy)),
        drop: reject,
      };
      const entry: Entry<T> = { waiting, signal, onAbort: undefined };
      if (signal) {
        entry.onAbort = () => {
          if (this.#remove(waiting)) reject(signal.reason);
        };
        signal.addEventListener("abort", entry.onAbort, { once: true });
      }
      this.#entries.push(entry);
      this.#bytes += copy.byteLength;
    });
  }

  /**
   * Queues `waiting` at the end.
   *
   * @throws {QueueFullError} If it does not fit.
   */
  add(waiting: Waiting<T>): void {
    this.checkRoom(waiting.frame.byteLength);
    this.#entries.push({ waiting, signal: undefined, onAbort: undefined });
    this.#bytes += waiting.frame.byteLength;
  }

  /**
   * Puts what must go out again ahead of everything queued, in order,
   * whatever the limits: it was accepted once already.
   */
  putFirst(waiting: readonly Waiting<T>[]): void {
    for (let i = waiting.length - 1; i >= 0; i--) {
      this.#putBack({
        waiting: waiting[i]!,
        signal: undefined,
        onAbort: undefined,
      });
    }
  }

  /** Takes `waiting` out without dropping it; nothing if it is not queued. */
  remove(waiting: Waiting<T>): void {
    this.#remove(waiting);
  }

  #remove(waiting: Waiting<T>): boolean {
    const index = this.#entries.findIndex((entry) => entry.waiting === waiting);
    if (index < 0) return false;
    this.#entries.splice(index, 1);
    this.#bytes -= waiting.frame.byteLength;
    return true;
  }

  /**
   * Hands everything, in order, to `target` while `open()` holds; what is
   * left once it fails (the connection broke while taking it) waits for the
   * next connection.
   */
  flush(target: T, open: () => boolean): void {
    const entries = this.#take();
    let index = 0;
    while (index < entries.length && open()) {
      entries[index++]!.waiting.deliver(target);
    }
    for (let i = entries.length - 1; i >= index; i--) {
      this.#putBack(entries[i]!);
    }
  }

  // Puts an entry back at the head, listening to its signal again.
  #putBack(entry: Entry<T>): void {
    const { waiting, signal, onAbort } = entry;
    if (signal?.aborted) {
      waiting.drop(signal.reason);
      return;
    }
    this.#entries.unshift(entry);
    this.#bytes += waiting.frame.byteLength;
    if (onAbort) signal!.addEventListener("abort", onAbort, { once: true });
  }

  /** Drops everything with `reason`; none of it will be sent. */
  clear(reason: unknown): void {
    for (const entry of this.#take()) entry.waiting.drop(reason);
  }

  #take(): Entry<T>[] {
    const entries = this.#entries;
    this.#entries = [];
    this.#bytes = 0;
    for (const { signal, onAbort } of entries) {
      if (onAbort) signal!.removeEventListener("abort", onAbort);
    }
    return entries;
  }
}
