/**
 * Message framing over a TCP byte stream: turn payloads into bytes on the
 * wire and a stream of bytes, split anywhere, back into payloads.
 *
 * Three wire formats are built in, each with a size limit that is checked
 * before anything is buffered: {@linkcode lengthPrefixed} (a 1, 2, 4 or
 * 8-byte length in front of each payload; 4-byte big-endian by default),
 * {@linkcode lineDelimited} (`\n` or `\r\n` terminated lines) and
 * {@linkcode fixedSize}. Each has a pair of web `TransformStream`s, such as
 * {@linkcode LengthPrefixedEncoderStream} and
 * {@linkcode LengthPrefixedDecoderStream}, and any {@linkcode Framing} works
 * with {@linkcode FrameEncoderStream} and {@linkcode FrameDecoderStream}.
 * Decoders hand out frames that lie inside one input chunk as zero-copy
 * views, and copy a frame that spans chunks once.
 *
 * ```ts
 * import { LengthPrefixedDecoderStream, LengthPrefixedEncoderStream } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const payloads = [new Uint8Array([1, 2, 3]), new Uint8Array(0)];
 * const received = await Array.fromAsync(
 *   ReadableStream.from(payloads)
 *     .pipeThrough(new LengthPrefixedEncoderStream())
 *     .pipeThrough(new LengthPrefixedDecoderStream()),
 * );
 * assert.deepEqual(received, payloads);
 * ```
 *
 * @module
 */

export { encodeFrame } from "./framing.ts";
export type { FrameDecoder, FrameSink, Framing } from "./framing.ts";
export { lengthPrefixed } from "./length_prefixed.ts";
export type { LengthPrefixedOptions } from "./length_prefixed.ts";
export { lineDelimited } from "./line_delimited.ts";
export type { LineDelimitedOptions } from "./line_delimited.ts";
export { fixedSize } from "./fixed_size.ts";
export {
  FixedSizeDecoderStream,
  FixedSizeEncoderStream,
  FrameDecoderStream,
  FrameEncoderStream,
  LengthPrefixedDecoderStream,
  LengthPrefixedEncoderStream,
  LineDecoderStream,
  LineEncoderStream,
} from "./frame_streams.ts";
export {
  FrameTooLargeError,
  FrameTruncatedError,
  InvalidFrameError,
  TetherError,
} from "../errors.ts";
