import { BY_REFERENCE_SIZE } from "../_sizes.ts";
import { ConnectionClosedError, WriteBufferFullError } from "../errors.ts";
import type { Framing } from "../framing/framing.ts";
import { RESOLVED } from "../_promises.ts";
import { afterTask } from "../runtime/timers.ts";
import type { Conn } from "../runtime/types.ts";
import type { WriteHold } from "./write_hold.ts";

// Small, since a connection that answers only heartbeats keeps its buffer.
const INITIAL_BUFFER_SIZE = 256;
// Written at once rather than at the end of the burst, so large frames stream.
const FLUSH_THRESHOLD = 64 * 1024;
// A backlog grows by chunks of this size: doubling would hold up to twice it.
const CHUNK_SIZE = 1024 * 1024;
// Larger buffers are let go once written: a connection keeps the memory of
// its usual bursts, not of a backlog.
const MAX_RETAINED_SIZE = CHUNK_SIZE / 2;

/**
 * The frame a sender may reuse once `send()` returns: a copy, unless it is
 * large enough to be written from the caller's memory, as every `send()`
 * documents.
 */
export function owned(frame: Uint8Array): Uint8Array {
  // Not `slice()`: a Node `Buffer`'s shares its memory.
  return frame.byteLength < BY_REFERENCE_SIZE ? new Uint8Array(frame) : frame;
}
// A microtask turn costs less than `setImmediate` while bursts are short.
const POLL_TURNS = 16;

// Shared by every writer without a buffer; having no room, it is never written.
const NO_BUFFER = new Uint8Array(0);

// A resolved promise's `then` queues a microtask without the async resource
// that Node's `queueMicrotask` creates for each call.
function microtask(callback: () => void): void {
  void RESOLVED.then(callback);
}

function ignore(): void {}

/** The frames written by one socket write share one promise. */
class Batch {
  readonly promise: Promise<void>;
  #resolve!: () => void;
  #reject!: (reason: unknown) => void;

  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  resolve(): void {
    this.#resolve();
  }

  reject(reason: unknown): void {
    // Senders need not await, and the connection hears of the failure anyway.
    this.promise.catch(ignore);
    this.#reject(reason);
  }
}

/**
 * Encodes frames into batches and writes each batch with as few socket
 * writes as possible: when the burst that filled it ends, in the next
 * microtask, or, while its {@linkcode WriteHold} says replies are coming,
 * once it is uncorked or the current task ends. Every frame of a batch
 * shares one promise.
 */
export class FrameWriter {
  #framing: Framing;
  #trailer: Uint8Array;
  #maxQueued: number;
  #socket: Pick<Conn, "write">;
  #hold: Pick<WriteHold, "held">;
  // Allocated on first use: an idle connection holds no batch buffer.
  #buffer: Uint8Array<ArrayBuffer> = NO_BUFFER;
  #spare: Uint8Array<ArrayBuffer> | undefined;
  #start = 0;
  #length = 0;
  #segments: Uint8Array[] = [];
  #batchBytes = 0;
  #batch: Batch | undefined;
  #inFlight: Batch | undefined;
  #queued = 0;
  #flushing = false;
  #scheduled = false;
  #watching = false;
  #ended = false;
  #failure: { reason: unknown } | undefined;
  #onError: (error: unknown) => void;

  /**
   * @param onError Told when a socket write fails; the writer has then
   * dropped every queued frame.
   */
  constructor(
    framing: Framing,
    maxQueued: number,
    socket: Pick<Conn, "write">,
    hold: Pick<WriteHold, "held">,
    onError: (error: unknown) => void,
  ) {
    this.#framing = framing;
    this.#trailer = framing.trailer;
    this.#maxQueued = maxQueued;
    this.#socket = socket;
    this.#hold = hold;
    this.#onError = onError;
  }

  /** Bytes accepted and not yet written. */
  get queued(): number {
    return this.#queued;
  }

  /**
   * Queues one frame. Throws synchronously if the frame is invalid or the
   * writer is closed; otherwise returns the promise of the frame's batch.
   */
  enqueue(payload: Uint8Array): Promise<void> {
    // Set by a failure too: one test on the way of every frame.
    if (this.#ended) throw this.#closedError();
    const framing = this.#framing;
    const header = framing.check(payload);
    const size = payload.byteLength;
    const trailer = this.#trailer;
    const bytes = header + size + trailer.byteLength;
    if (this.#queued + bytes > this.#maxQueued) {
      throw new WriteBufferFullError(this.#queued + bytes, this.#maxQueued);
    }
    if (size >= BY_REFERENCE_SIZE) {
      this.#reserve(header);
      framing.writeHeader(size, this.#buffer, this.#length);
      this.#length += header;
      this.#cut();
      this.#segments.push(payload);
      this.#reserve(trailer.byteLength);
      if (trailer.byteLength > 0) this.#buffer.set(trailer, this.#length);
      this.#length += trailer.byteLength;
    } else {
      if (this.#length + bytes > this.#buffer.byteLength) this.#reserve(bytes);
      const buffer = this.#buffer;
      const at = this.#length;
      if (header > 0) framing.writeHeader(size, buffer, at);
      buffer.set(payload, at + header);
      if (trailer.byteLength > 0) buffer.set(trailer, at + header + size);
      this.#length = at + bytes;
    }
    this.#queued += bytes;
    this.#batchBytes += bytes;
    const batch = this.#batch ??= new Batch();
    if (this.#batchBytes >= FLUSH_THRESHOLD) {
      if (!this.#flushing) this.#flush();
    } else if (!(this.#scheduled || this.#watching || this.#flushing)) {
      // Only the first frame of a burst gets here.
      this.#schedule();
    }
    return batch.promise;
  }

  #closedError(): ConnectionClosedError {
    return this.#failure
      ? new ConnectionClosedError("send", { cause: this.#failure.reason })
      : new ConnectionClosedError("send");
  }

  /** Writes what is queued now: the reader has no more frames to answer. */
  uncork(): void {
    if (this.#batchBytes > 0 && !this.#flushing) this.#flush();
  }

  /**
   * Refuses further frames and resolves once every queued frame is written.
   * Rejects if writing fails.
   */
  end(): Promise<void> {
    this.#ended = true;
    if (this.#failure) return Promise.reject(this.#failure.reason);
    const last = this.#batch ?? this.#inFlight;
    if (!last) return Promise.resolve();
    if (!this.#flushing) this.#flush();
    return last.promise;
  }

  /** Drops every queued frame, rejecting their promises with `reason`. */
  abort(reason: unknown): void {
    if (this.#failure) return;
    this.#failure = { reason };
    this.#ended = true;
    this.#inFlight?.reject(reason);
    this.#batch?.reject(reason);
    this.#inFlight = this.#batch = undefined;
    this.#segments = [];
    this.#start =
      this.#length =
      this.#batchBytes =
      this.#queued =
        0;
  }

  #reserve(bytes: number): void {
    const needed = this.#length + bytes;
    if (needed <= this.#buffer.byteLength) return;
    const pending = this.#length - this.#start;
    if (pending > 0 && pending + bytes > CHUNK_SIZE) {
      this.#seal();
      this.#buffer = new Uint8Array(CHUNK_SIZE);
      this.#start = this.#length = 0;
      return;
    }
    // A buffer cut for a frame sent by reference must not go on doubling.
    let size = Math.min(
      Math.max(this.#buffer.byteLength * 2, INITIAL_BUFFER_SIZE),
      CHUNK_SIZE,
    );
    while (size < pending + bytes) size *= 2;
    // Earlier segments of this batch may still point into the old buffer.
    const grown = new Uint8Array(size);
    grown.set(this.#buffer.subarray(this.#start, this.#length));
    this.#buffer = grown;
    this.#start = 0;
    this.#length = pending;
  }

  /**
   * Cuts the pending bytes of a buffer that takes no more, copied when they
   * fill less than three quarters of it so the unused room is not held.
   */
  #seal(): void {
    const buffer = this.#buffer;
    if ((this.#length - this.#start) * 4 >= buffer.byteLength * 3) this.#cut();
    else this.#segments.push(buffer.slice(this.#start, this.#length));
  }

  #cut(): void {
    if (this.#length > this.#start) {
      this.#segments.push(this.#buffer.subarray(this.#start, this.#length));
      this.#start = this.#length;
    }
  }

  /** Arranges for the batch to be written once the burst ends. */
  #schedule(): void {
    if (this.#hold.held()) {
      this.#watch();
    } else {
      this.#scheduled = true;
      microtask(() => {
        this.#scheduled = false;
        this.uncork();
      });
    }
  }

  /**
   * Writes the held batch once the current task is over: an application
   * still holding frames then waits for something else, and its replies
   * must not wait too.
   */
  #watch(): void {
    this.#watching = true;
    let turns = 0;
    const turn = () => {
      if (this.#batchBytes === 0 || this.#flushing || this.#failure) {
        this.#watching = false;
      } else if (++turns < POLL_TURNS) {
        microtask(turn);
      } else {
        afterTask(() => {
          this.#watching = false;
          this.uncork();
        });
      }
    };
    microtask(turn);
  }

  #flush(): void {
    this.#flushing = true;
    this.#writeBatch();
  }

  // A `then` per write rather than an async loop, whose frame and promise
  // would cost more than the write's own.
  #writeBatch(): void {
    if (this.#batchBytes === 0 || this.#failure) {
      this.#flushing = false;
      return;
    }
    this.#cut();
    const segments = this.#segments;
    const written = this.#buffer;
    const bytes = this.#batchBytes;
    const batch = this.#inFlight = this.#batch;
    this.#segments = [];
    this.#batch = undefined;
    this.#batchBytes = 0;
    this.#buffer = this.#spare ?? NO_BUFFER;
    this.#spare = undefined;
    this.#start = this.#length = 0;
    let writing: Promise<void>;
    try {
      writing = this.#writeSegments(segments, 0);
    } catch (error) {
      writing = Promise.reject(error);
    }
    writing.then(
      () => {
        if (this.#failure) {
          this.#flushing = false;
          return;
        }
        this.#queued -= bytes;
        this.#inFlight = undefined;
        if (written.byteLength <= MAX_RETAINED_SIZE) {
          // A quiet connection keeps one buffer, not two.
          if (this.#buffer === NO_BUFFER) this.#buffer = written;
          else this.#spare = written;
        }
        batch?.resolve();
        this.#writeBatch();
      },
      (error) => {
        this.#flushing = false;
        if (this.#failure) return;
        this.abort(error);
        this.#onError(error);
      },
    );
  }

  #writeSegments(segments: Uint8Array[], index: number): Promise<void> {
    const write = this.#socket.write(segments[index]!);
    return index + 1 === segments.length
      ? write
      : write.then(() => this.#writeSegments(segments, index + 1));
  }
}
