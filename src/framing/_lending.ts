// The contract between the built-in decoders and the frame reader that lends
// them memory: internal, so that the public types stay free of it.
import type { FrameDecoder, FrameSink } from "./framing.ts";

// Symbols, not names: a sink or decoder of the application's own never
// enters the contract through a method that happens to share a name.
export const LENDS: unique symbol = Symbol("lends");
export const VIEW: unique symbol = Symbol("view");
export const READ_TARGET: unique symbol = Symbol("readTarget");

/**
 * A sink that builds the views of the frames it takes: the frame reader, which
 * may hand out the view of an earlier frame at the same place again.
 */
export interface LendingSink extends FrameSink {
  /**
   * The view to enqueue for a frame that lies wholly inside the chunk being
   * decoded, `byteLength` bytes at `byteOffset` of `buffer`, the chunk's
   * memory: a `Uint8Array` over exactly those bytes.
   */
  [VIEW](
    buffer: ArrayBufferLike,
    byteOffset: number,
    byteLength: number,
  ): Uint8Array;
}

/**
 * A decoder that keeps the lending contract, as the built-in ones do: it
 * holds no bytes of earlier chunks while `buffered` is 0, so a reader may
 * read into their memory again; a frame that lies inside a chunk it builds
 * with {@linkcode frameView}; and it may offer memory to read into.
 */
export interface LendingDecoder extends FrameDecoder {
  readonly [LENDS]: true;
  /**
   * Where the next bytes of the stream may be read to, when they continue a
   * large frame, or begin the one likely to follow a large frame: a reader
   * that reads straight into it and passes the filled start of it to
   * `decode` spares the decoder a copy, and the process fresh memory.
   *
   * @param allocate Where the memory of a frame begun now comes from, when
   * the reader has memory to lend; fresh memory without it. It returns
   * exactly `byteLength` bytes of any content: the decoder writes every byte
   * of the frame into it before handing it out, and keeps nothing else in
   * it, since the reader may lend it again once the frame is handed out.
   * @returns The free part of the frame being received, room for the next
   * header alone, or `undefined`.
   */
  [READ_TARGET]?(
    allocate?: (byteLength: number) => Uint8Array,
  ): Uint8Array | undefined;
}

/** `decoder` if it keeps the lending contract, `undefined` otherwise. */
export function lendingOf(decoder: FrameDecoder): LendingDecoder | undefined {
  return (decoder as Partial<LendingDecoder>)[LENDS] === true
    ? decoder as LendingDecoder
    : undefined;
}

/**
 * The view of a frame that lies wholly inside the chunk being decoded: a
 * lending sink's own, a new one otherwise. A view built from the buffer costs
 * V8 about half of what `subarray` does, which looks up the constructor first.
 */
export function frameView(
  sink: FrameSink,
  buffer: ArrayBufferLike,
  byteOffset: number,
  byteLength: number,
): Uint8Array {
  return (sink as Partial<LendingSink>)[VIEW] !== undefined
    ? (sink as LendingSink)[VIEW](buffer, byteOffset, byteLength)
    : new Uint8Array(buffer, byteOffset, byteLength);
}
