import { FrameTruncatedError } from "../errors.ts";
import type { FrameSink } from "./framing.ts";
import { type LendingDecoder, LENDS } from "./_lending.ts";
import { PendingBytes } from "./_pending.ts";

/**
 * What the line and fixed-size decoders share: the bytes of the unfinished
 * frame, and the error after which the stream stays broken.
 */
export abstract class PendingDecoder implements LendingDecoder {
  protected readonly pending: PendingBytes = new PendingBytes();
  protected error: Error | undefined = undefined;
  readonly #expected: number | undefined;

  /** @param expected The frame size a truncated frame reports, if fixed. */
  constructor(expected: number | undefined) {
    this.#expected = expected;
  }

  get [LENDS](): true {
    return true;
  }

  get buffered(): number {
    return this.pending.byteLength;
  }

  decode(chunk: Uint8Array, sink: FrameSink): void {
    this.decodeSome(chunk, sink, Infinity);
  }

  abstract decodeSome(
    chunk: Uint8Array,
    sink: FrameSink,
    maxFrames: number,
  ): number;

  end(): void {
    if (this.error !== undefined) throw this.error;
    const held = this.pending.byteLength;
    if (held > 0) {
      throw this.fail(new FrameTruncatedError(held, this.#expected));
    }
  }

  /** Drops the unfinished frame and breaks the stream with `error`. */
  protected fail(error: Error): Error {
    this.pending.clear();
    this.error = error;
    return error;
  }
}
