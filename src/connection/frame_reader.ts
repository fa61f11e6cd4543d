import { FrameQueue } from "./_frame_queue.ts";
import { DONE, pullStream } from "../_pull.ts";
import { ReadBuffer } from "./_read_buffer.ts";
import {
  chunksOf,
  type ChunkSource,
  type ReadableConn,
} from "./_chunk_source.ts";
import { FrameLimits, type FrameReaderLimits } from "./_frame_limits.ts";
import { type Clock, systemClock } from "../clock.ts";
import type { FrameDecoder } from "../framing/framing.ts";
import {
  type LendingDecoder,
  lendingOf,
  type LendingSink,
  READ_TARGET,
  VIEW,
} from "../framing/_lending.ts";
import type { ChunkSink } from "../runtime/types.ts";

export type { FrameReaderLimits } from "./_frame_limits.ts";

const EMPTY = new Uint8Array(0);
// Frames one decoding step may queue, so that the views of a read of tiny
// frames (on Bun, up to 512 KiB of them) never all exist at once.
const MAX_DECODED = 1024;

/**
 * The frames of a {@linkcode FrameReader} as an async iterator: one frame
 * per step, or with `batches` the frames received so far, with `reuse` in
 * memory that the next step may read into again.
 */
class FramesOf<T extends Uint8Array | Uint8Array[]>
  implements AsyncIterableIterator<T> {
  #reader: FrameReader;
  #batches: boolean;
  #reuse: boolean;

  constructor(reader: FrameReader, batches: boolean, reuse = false) {
    this.#reader = reader;
    this.#batches = batches;
    this.#reuse = reuse;
  }

  next(): Promise<IteratorResult<T, undefined>> {
    return (this.#batches
      ? this.#reader.nextBatch(this.#reuse)
      : this.#reader.next()) as Promise<IteratorResult<T, undefined>>;
  }

  return(): Promise<IteratorResult<T, undefined>> {
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

/** What a {@linkcode FrameReader} reports to its connection. */
export interface FrameReaderHooks {
  /**
   * Bytes arrived.
   *
   * @param now When, by the connection's clock.
   */
  onChunk(now: number): void;
  /** The application found no frame waiting: the burst is over. */
  onDry(): void;
  /** Reading failed (socket error or bad input); the reader has ended. */
  onError(error: unknown): void;
  /**
   * Takes control frames (heartbeats) out of the stream: returns true for a
   * frame it consumed.
   */
  control?: (frame: Uint8Array) => boolean;
}

/**
 * The read side of a connection: decodes the byte stream into a queue of
 * frames and hands them out through a lean async iterator.
 *
 * The socket is read when the application asks for a frame and none is
 * waiting, so TCP pushes back on a sender that outpaces it; `readAhead`
 * frames may be read in advance. A `ReadableStream` view is built only when
 * asked for: iterating costs one resolved promise per frame, not the
 * machinery of a stream.
 */
export class FrameReader implements LendingSink, ChunkSink {
  #source: ChunkSource;
  #decoder: FrameDecoder;
  // The decoder, when it keeps the lending contract: only then may reads go
  // into memory the reader lends.
  #lending: LendingDecoder | undefined;
  #hooks: FrameReaderHooks;
  #readAhead: number;
  #control: ((frame: Uint8Array) => boolean) | undefined;
  #queue = new FrameQueue();
  #end: { error: unknown } | undefined;
  #reading = false;
  // Whether a socket read is under way: reads must not overlap.
  #pulling = false;
  // Told how the read under way ended (true: nothing more to read), when
  // `discard` waits for it.
  #settled: ((ended: boolean) => void) | undefined;
  #draining = false;
  #peerFinished = false;
  #readable: ReadableStream<Uint8Array> | undefined;
  #count = 0;
  #limits: FrameLimits | undefined;
  #waitingSince = 0;
  // Whether the application waits for a batch whose frames it lets go of
  // when it asks for the next one.
  #reuseWaiting = false;
  #reads: ReadBuffer | undefined;
  // The time of reads, for the limits and the wait of `discard`.
  #clock: Clock;
  // The part of the last chunk not decoded yet (`decodeSome`), and when the
  // chunk arrived, since its frames count against the rate of that moment.
  #rest: Uint8Array | undefined;
  #restArrived = 0;

  constructor(
    conn: ReadableConn,
    decoder: FrameDecoder,
    readAhead: number,
    hooks: FrameReaderHooks,
    limits: FrameReaderLimits = { frameTimeout: 0, maxFrameRate: 0 },
    clock: Clock = systemClock,
  ) {
    this.#clock = clock;
    this.#source = chunksOf(conn);
    this.#decoder = decoder;
    this.#lending = lendingOf(decoder);
    this.#readAhead = readAhead;
    this.#hooks = hooks;
    this.#control = hooks.control;
    if (limits.frameTimeout > 0 || limits.maxFrameRate > 0) {
      this.#limits = new FrameLimits(limits, clock, decoder, this, (error) => {
        this.#finish(error);
        this.#source.cancel();
        this.#hooks.onError(error);
      });
    }
  }

  /**
   * Takes a frame from the decoder: the reader is its sink, which spares
   * every connection a sink object of its own.
   */
  enqueue(frame: Uint8Array): void {
    this.#count++;
    if (!this.#control?.(frame)) this.#push(frame);
  }

  /**
   * Builds the view of a frame for the decoder: the reused buffer's, which
   * may be one handed out before (see {@linkcode ReadBuffer.view}).
   */
  [VIEW](
    buffer: ArrayBufferLike,
    byteOffset: number,
    byteLength: number,
  ): Uint8Array {
    // A flood of empty frames costs a slot in the queue each, not a view.
    if (byteLength === 0) return EMPTY;
    const reads = this.#reads;
    return reads === undefined
      ? new Uint8Array(buffer, byteOffset, byteLength)
      : reads.view(buffer, byteOffset, byteLength);
  }

  /**
   * Takes the outcome of a socket read: the reader is its own
   * {@linkcode ChunkSink}, which spares every read a promise.
   */
  chunk(value: Uint8Array | null): void {
    this.#pulling = false;
    if (this.#settled) this.#settle(value === null);
    else this.#received(value);
  }

  /** Takes the failure of a socket read. */
  fail(error: unknown): void {
    this.#pulling = false;
    if (this.#settled) this.#settle(true);
    else this.#readFailed(error);
  }

  #settle(ended: boolean): void {
    const settled = this.#settled!;
    this.#settled = undefined;
    this.#reading = false;
    settled(ended);
  }

  /**
   * When the socket read under way began, or `undefined` when the reader is
   * not waiting on the peer (the application has not asked for more).
   */
  get waitingSince(): number | undefined {
    return this.#reading ? this.#waitingSince : undefined;
  }

  /** Whether frames wait for the application. */
  get buffered(): boolean {
    return this.#queue.size > 0 || this.#rest !== undefined;
  }

  /** The frames as a `ReadableStream`, sharing this reader's queue. */
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= pullStream(
      () => this.next(),
      () => this.cancel(),
    );
  }

  /** The next frame, or done once the peer has finished sending. */
  next(): Promise<IteratorResult<Uint8Array>> {
    const taken = this.#queue.take();
    if (taken) {
      if (this.#readAhead > 0) this.#fill();
      return taken;
    }
    const next = this.#queue.wait();
    this.#reuseWaiting = false;
    // The replies go out before the socket is asked for more, since the peer
    // waits on them.
    if (this.#rest === undefined) this.#hooks.onDry();
    this.#fill();
    return next;
  }

  /**
   * The frames received so far, at least one, or done once the peer has
   * finished sending: one promise per batch instead of one per frame. With
   * `reuse`, the application is done with the frames it was given before,
   * and the frames of this batch may be read over by the next request.
   */
  nextBatch(reuse = false): Promise<IteratorResult<Uint8Array[], undefined>> {
    const taken = this.#queue.takeBatch();
    if (taken) {
      if (this.#readAhead > 0) this.#fill();
      return taken;
    }
    const next = this.#queue.waitBatch();
    this.#reuseWaiting = reuse && this.#lending !== undefined;
    if (this.#rest === undefined) this.#hooks.onDry();
    this.#fill();
    return next;
  }

  /** An iterator over the batches of {@linkcode FrameReader.nextBatch}. */
  batches(reuse = false): AsyncIterableIterator<Uint8Array[]> {
    return new FramesOf<Uint8Array[]>(this, true, reuse);
  }

  /** An iterator over the frames; leaving it early stops nothing. */
  iterator(): AsyncIterableIterator<Uint8Array> {
    return new FramesOf<Uint8Array>(this, false);
  }

  /**
   * Stops reading: frames already decoded are still handed out, then the
   * iteration ends, even inside an unfinished frame.
   */
  drain(): void {
    if (this.#end || this.#draining) return;
    this.#draining = true;
    const error = this.#decodeRest();
    if (error !== undefined) {
      this.#readFailed(error);
      return;
    }
    // The socket itself stays readable: a graceful close still has to take
    // in what the peer sends until it finishes (see `discard`).
    this.#finish(undefined);
  }

  /**
   * Ends the application's reading, then reads and drops what still arrives
   * until the peer finishes sending, `timeout` milliseconds pass or `signal`
   * aborts.
   */
  async discard(timeout: number, signal: AbortSignal): Promise<void> {
    const peerDone = this.#end !== undefined && this.#end.error === undefined &&
      this.#peerFinished;
    this.#queue.clear();
    this.#finish(undefined);
    if (peerDone) return;
    let timer: unknown;
    let stop: (() => void) | undefined;
    const expired = new Promise<void>((resolve) => {
      stop = resolve;
      // A close in progress is awaited work: it keeps the process alive.
      timer = this.#clock.setTimeout(resolve, timeout, true);
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", stop, { once: true });
    });
    const drained = (async () => {
      try {
        // A read the application asked for may still be under way.
        if (this.#pulling) {
          const ended = await new Promise<boolean>((resolve) => {
            this.#settled = resolve;
          });
          if (ended) return;
        }
        while ((await this.#source.read()) !== null) { /* dropped */ }
      } catch {
        // The connection failed: there is nothing left to wait for.
      }
    })();
    await Promise.race([drained, expired]);
    this.#clock.clearTimeout(timer);
    signal.removeEventListener("abort", stop!);
  }

  /** Stops reading at once; what is queued is dropped. */
  cancel(): Promise<void> {
    this.#queue.clear();
    this.#finish(undefined);
    this.#source.cancel();
    return Promise.resolve();
  }

  /**
   * Ends reading with `error` after the frames already decoded: they are
   * still handed out, then reads reject with it.
   */
  interrupt(error: unknown): void {
    // Reading ends with `error` either way: a bad frame in the rest only
    // ends the frames handed out before it.
    this.#decodeRest();
    this.#finish(error);
    this.#source.cancel();
  }

  /**
   * Ends reading: with no `error`, the frames already decoded are still
   * handed out; with one, they are dropped and the next read rejects.
   */
  end(error?: unknown): void {
    if (error !== undefined) this.#queue.clear();
    else error = this.#decodeRest();
    this.#finish(error);
    this.#source.cancel();
  }

  /**
   * Decodes what is left of the last read: its frames were received, and are
   * handed out before an end. Returns the error of a bad frame among them.
   */
  #decodeRest(): unknown {
    const rest = this.#rest;
    if (rest === undefined || this.#end) return undefined;
    this.#rest = undefined;
    try {
      this.#decoder.decode(rest, this);
    } catch (error) {
      return error;
    }
    return undefined;
  }

  #push(frame: Uint8Array): void {
    // Aborted while decoding (a reply overflowed the write buffer): drop.
    if (this.#end && this.#end.error !== undefined) return;
    this.#queue.push(frame);
  }

  #finish(error: unknown): void {
    if (this.#end) return;
    this.#end = { error };
    this.#rest = undefined;
    this.#limits?.stop();
    this.#queue.end(error);
  }

  #fill(): void {
    if (this.#reading || this.#end) return;
    this.#reading = true;
    // The application asked for frames: from now on, silence is the peer's.
    this.#waitingSince = this.#clock.now();
    this.#readMore();
  }

  // Reads until the application has what it asked for, with callbacks: every
  // idle connection has a read pending here, and a suspended async function
  // holds several times the memory of a callback.
  #readMore(): void {
    for (;;) {
      if (
        this.#end ||
        !(this.#queue.waiting || this.#queue.size < this.#readAhead)
      ) {
        this.#reading = false;
        return;
      }
      // The rest of the last read comes before the socket.
      const rest = this.#rest;
      if (rest === undefined) break;
      this.#rest = undefined;
      if (!this.#decoded(rest, this.#restArrived)) return;
      this.#queue.wake();
    }
    this.#pulling = true;
    // Only a read for a waiting batch of reused memory goes into it, since
    // every frame handed out before is then done with.
    const reads = this.#reuseWaiting && this.#queue.waiting
      ? this.#reads ??= new ReadBuffer(this.#source.readsIntoTarget)
      : undefined;
    let target = this.#lending?.[READ_TARGET]?.(reads?.frame);
    if (target === undefined && reads) {
      target = reads.target(this.#decoder.buffered === 0);
    }
    try {
      this.#source.pull(this, target);
    } catch (error) {
      this.#pulling = false;
      this.#readFailed(error);
    }
  }

  #received(value: Uint8Array | null): void {
    if (this.#end) {
      this.#reading = false;
      return;
    }
    try {
      if (value === null) {
        this.#peerFinished = !this.#draining;
        // A drained stream may stop inside a frame; a peer may not.
        if (!this.#draining) this.#decoder.end();
        this.#finish(undefined);
        this.#reading = false;
        return;
      }
    } catch (error) {
      this.#readFailed(error);
      return;
    }
    // Undefined unless this read was one for the reused buffer, and its
    // bytes are in it.
    const held = this.#reads?.filled(value);
    // One clock reading per chunk serves every check: a reading costs
    // about as much as decoding a few small frames.
    const now = this.#clock.now();
    this.#hooks.onChunk(now);
    let decoded: boolean;
    if (held === undefined) {
      decoded = this.#decoded(value, now);
    } else {
      decoded = this.#decoded(held, now);
      this.#reads!.decoded();
    }
    if (!decoded) return;
    this.#queue.wake();
    this.#readMore();
  }

  /**
   * Decodes `bytes`, or as many of their frames as one step may queue,
   * keeping the rest for later, and applies the limits; false once reading
   * has failed.
   */
  #decoded(bytes: Uint8Array, now: number): boolean {
    try {
      const before = this.#count;
      const decoder = this.#decoder;
      if (decoder.decodeSome === undefined) {
        decoder.decode(bytes, this);
      } else {
        // Frames read ahead count too: a batch holds at most MAX_DECODED.
        const room = Math.max(1, MAX_DECODED - this.#queue.size);
        const used = decoder.decodeSome(bytes, this, room);
        if (used < bytes.byteLength && !this.#end) {
          this.#rest = bytes.subarray(used);
          this.#restArrived = now;
        }
      }
      this.#limits?.enforce(this.#count - before, now);
      return true;
    } catch (error) {
      this.#readFailed(error);
      return false;
    }
  }

  #readFailed(error: unknown): void {
    this.#reading = false;
    if (this.#end) return;
    this.#finish(error);
    this.#hooks.onError(error);
  }
}
