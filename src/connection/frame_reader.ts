import { FrameQueue } from "./_frame_queue.ts";
import { DONE, pullStream } from "../_pull.ts";
import { ReadBuffer } from "./_read_buffer.ts";
import { type Clock, systemClock } from "../clock.ts";
import { FrameRateError, FrameTimeoutError } from "../errors.ts";
import type { FrameDecoder, FrameSink } from "../framing/framing.ts";
import { pulled } from "../runtime/_streams.ts";
import type { ChunkSink, Conn } from "../runtime/types.ts";

const EMPTY = new Uint8Array(0);
// Frames one decoding step may queue for the application. A read of tiny
// frames (on Bun, up to 512 KiB of them) is decoded a step at a time as they
// are taken, so that their views never all exist at once: what a connection
// holds stays within its read and one step's views, whatever the peer sends.
const MAX_DECODED = 1024;

/** The chunks of a connection, read one at a time. */
interface ChunkSource {
  /** Hands the next chunk to `sink`; read into `target`, if the source can. */
  pull(sink: ChunkSink, target?: Uint8Array): void;
  /** The next chunk, as a promise. */
  read(): Promise<Uint8Array | null>;
  /** Stops reading; a read under way may still settle. */
  cancel(): void;
}

/** Hands the outcome of a promised read to `sink`. */
function settle(read: Promise<Uint8Array | null>, sink: ChunkSink): void {
  read.then((bytes) => sink.chunk(bytes), (error) => sink.fail(error));
}

// A runtime's `pull()` or `read()` spares a stream per chunk, and `pull()` a
// promise too.
class ConnChunks implements ChunkSource {
  #conn: Pick<Conn, "read" | "pull">;

  constructor(conn: Pick<Conn, "read" | "pull">) {
    this.#conn = conn;
  }

  pull(sink: ChunkSink, target?: Uint8Array): void {
    const conn = this.#conn;
    if (conn.pull) conn.pull(sink, target);
    else settle(conn.read!(target), sink);
  }

  read(): Promise<Uint8Array | null> {
    const conn = this.#conn;
    return conn.read ? conn.read() : pulled((sink) => conn.pull!(sink));
  }

  cancel(): void {}
}

// `readable` is the fallback every runtime has.
function chunksOf(
  conn: Pick<Conn, "read" | "pull" | "readable">,
): ChunkSource {
  if (conn.pull || conn.read) return new ConnChunks(conn);
  const reader = conn.readable.getReader();
  const read = async () => {
    const { value, done } = await reader.read();
    return done ? null : value;
  };
  return {
    pull: (sink) => settle(read(), sink),
    read,
    cancel: () => {
      reader.cancel().catch(() => {});
    },
  };
}

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

/** Limits on what a peer may send, beyond the framing's size limit. */
export interface FrameReaderLimits {
  /**
   * Milliseconds a frame may take to arrive, from its first byte; 0 for no
   * limit. Only time spent waiting on the socket counts.
   */
  frameTimeout: number;
  /** Frames per second the peer may send; 0 for no limit. */
  maxFrameRate: number;
}

/** What a {@linkcode FrameReader} reports to its connection. */
export interface FrameReaderHooks {
  /**
   * Bytes arrived.
   *
   * @param now When, by the system clock.
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
export class FrameReader implements FrameSink, ChunkSink {
  #source: ChunkSource;
  #decoder: FrameDecoder;
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
  #limits: FrameReaderLimits;
  #frameStart: number | undefined;
  #frameTimer: unknown;
  #waitingSince = 0;
  #rateWindow = 0;
  #rateCount = 0;
  // Whether the application waits for a batch whose frames it lets go of
  // when it asks for the next one.
  #reuseWaiting = false;
  #reads: ReadBuffer | undefined;
  // The frame timeout's and the rate limit's, and the wait of `discard`.
  #clock: Clock;
  // The part of the last chunk not decoded yet, for decoders that can stop
  // (`FrameDecoder.decodeSome`), and when the chunk arrived: its frames
  // count against the rate limit of that moment.
  #rest: Uint8Array | undefined;
  #restArrived = 0;

  constructor(
    conn: Pick<Conn, "read" | "pull" | "readable">,
    decoder: FrameDecoder,
    readAhead: number,
    hooks: FrameReaderHooks,
    limits: FrameReaderLimits = { frameTimeout: 0, maxFrameRate: 0 },
    clock: Clock = systemClock,
  ) {
    this.#clock = clock;
    this.#source = chunksOf(conn);
    this.#decoder = decoder;
    this.#readAhead = readAhead;
    this.#hooks = hooks;
    this.#limits = limits;
    this.#control = hooks.control;
  }

  /**
   * Takes a frame from the decoder: the reader is its {@linkcode FrameSink},
   * which spares every connection a sink object of its own.
   */
  enqueue(frame: Uint8Array): void {
    this.#count++;
    if (!this.#control?.(frame)) this.#push(frame);
  }

  /**
   * Builds the view of a frame for the decoder: the reused buffer's, which
   * may be one handed out before (see {@linkcode ReadBuffer.view}).
   */
  view(
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
    // The replies go out before the socket is asked for more: the peer
    // waits on them, and asking costs a runtime call of its own.
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
    this.#reuseWaiting = reuse;
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
    this.#clock.clearTimeout(this.#frameTimer);
    this.#queue.end(error);
  }

  /** Applies the rate limit and starts or stops the frame deadline. */
  #enforce(decoded: number, now: number): void {
    const { frameTimeout, maxFrameRate } = this.#limits;
    if (maxFrameRate > 0) {
      if (now - this.#rateWindow >= 1000) {
        this.#rateWindow = now;
        this.#rateCount = 0;
      }
      this.#rateCount += decoded;
      if (this.#rateCount > maxFrameRate) {
        throw new FrameRateError(maxFrameRate);
      }
    }
    if (frameTimeout > 0) {
      if (this.#decoder.buffered === 0) {
        this.#frameStart = undefined;
      } else if (decoded > 0 || this.#frameStart === undefined) {
        // An unfinished frame began in this chunk: its clock starts now.
        this.#frameStart = now;
        if (this.#frameTimer === undefined) this.#armFrameTimer(frameTimeout);
      }
    }
  }

  #armFrameTimer(ms: number): void {
    this.#frameTimer = this.#clock.setTimeout(
      () => this.#checkFrame(),
      ms,
      false,
    );
  }

  #checkFrame(): void {
    this.#frameTimer = undefined;
    const start = this.#frameStart;
    if (start === undefined || this.#end) return;
    const timeout = this.#limits.frameTimeout;
    if (!this.#reading) {
      // The application is not reading: the rest of the frame may wait in
      // the kernel through no fault of the peer. The clock waits too.
      this.#armFrameTimer(timeout);
      return;
    }
    // Only time spent waiting on the peer counts.
    const elapsed = this.#clock.now() - Math.max(start, this.#waitingSince);
    if (elapsed < timeout) {
      this.#armFrameTimer(timeout - elapsed);
      return;
    }
    const error = new FrameTimeoutError(timeout, this.#decoder.buffered);
    this.#finish(error);
    this.#source.cancel();
    this.#hooks.onError(error);
  }

  #fill(): void {
    if (this.#reading || this.#end) return;
    this.#reading = true;
    // The application asked for frames: from now on, silence is the peer's.
    this.#waitingSince = this.#clock.now();
    this.#readMore();
  }

  // Reads until the application has what it asked for. Callbacks rather than
  // an async loop: every idle connection has a read pending here, and a
  // suspended async function holds several times the memory of a callback.
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
    // Only a read for a waiting batch of reused memory goes into it: every
    // frame it brings is that batch's, and every frame handed out before is
    // done with. Earlier reads into it are over once no unfinished frame may
    // still hold their bytes.
    const reads = this.#reuseWaiting && this.#queue.waiting
      ? this.#reads ??= new ReadBuffer()
      : undefined;
    let target = this.#decoder.readTarget?.(reads?.frame);
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
      if (this.#limits.frameTimeout > 0 || this.#limits.maxFrameRate > 0) {
        this.#enforce(this.#count - before, now);
      }
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
