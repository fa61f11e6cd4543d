import type { Clock } from "../clock.ts";
import { FrameRateError, FrameTimeoutError } from "../errors.ts";
import type { FrameDecoder } from "../framing/framing.ts";

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

/** What the limits need to know of the reader they watch. */
export interface WatchedReader {
  /**
   * When the socket read under way began, or `undefined` while the
   * application has not asked for more.
   */
  readonly waitingSince: number | undefined;
}

/**
 * The rate limit and the frame deadline of one frame reader, made only for a
 * reader that has either: a connection without limits holds none of this.
 */
export class FrameLimits {
  #frameTimeout: number;
  #maxFrameRate: number;
  #clock: Clock;
  #decoder: FrameDecoder;
  #reader: WatchedReader;
  #expired: (error: FrameTimeoutError) => void;
  #frameStart: number | undefined;
  #frameTimer: unknown;
  #stopped = false;
  #rateWindow = 0;
  #rateCount = 0;

  /** @param expired Told once the frame deadline has passed. */
  constructor(
    limits: FrameReaderLimits,
    clock: Clock,
    decoder: FrameDecoder,
    reader: WatchedReader,
    expired: (error: FrameTimeoutError) => void,
  ) {
    this.#frameTimeout = limits.frameTimeout;
    this.#maxFrameRate = limits.maxFrameRate;
    this.#clock = clock;
    this.#decoder = decoder;
    this.#reader = reader;
    this.#expired = expired;
  }

  /**
   * Applies the rate limit to `decoded` frames that arrived `now`, and starts
   * or stops the frame deadline.
   *
   * @throws {FrameRateError} If the peer sent frames too fast.
   */
  enforce(decoded: number, now: number): void {
    const maxFrameRate = this.#maxFrameRate;
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
    const frameTimeout = this.#frameTimeout;
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

  /** Stops the frame deadline for good: reading has ended. */
  stop(): void {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#frameTimer);
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
    if (start === undefined || this.#stopped) return;
    const timeout = this.#frameTimeout;
    const waitingSince = this.#reader.waitingSince;
    if (waitingSince === undefined) {
      // The application is not reading, so the rest of the frame may wait in
      // the kernel through no fault of the peer: the clock waits too.
      this.#armFrameTimer(timeout);
      return;
    }
    // Only time spent waiting on the peer counts.
    const elapsed = this.#clock.now() - Math.max(start, waitingSince);
    if (elapsed < timeout) {
      this.#armFrameTimer(timeout - elapsed);
      return;
    }
    this.#expired(new FrameTimeoutError(timeout, this.#decoder.buffered));
  }
}
