import { encodeFrame, type Framing } from "./framing.ts";
import { fixedSize } from "./fixed_size.ts";
import {
  lengthPrefixed,
  type LengthPrefixedOptions,
} from "./length_prefixed.ts";
import { lineDelimited, type LineDelimitedOptions } from "./line_delimited.ts";

/**
 * Encodes each payload written to it into one frame of `framing`: header,
 * payload and trailer in a single new chunk, ready for one socket write.
 *
 * A payload the framing refuses errors the stream with the framing's error.
 *
 * @example Encoding with any framing
 * ```ts
 * import { FrameEncoderStream, lengthPrefixed } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const wire = await Array.fromAsync(
 *   ReadableStream.from([new Uint8Array([1, 2, 3])])
 *     .pipeThrough(new FrameEncoderStream(lengthPrefixed())),
 * );
 * assert.deepEqual(wire, [new Uint8Array([0, 0, 0, 3, 1, 2, 3])]);
 * ```
 */
export class FrameEncoderStream
  extends TransformStream<Uint8Array, Uint8Array> {
  /**
   * Creates the stream.
   *
   * @param framing The wire format.
   */
  constructor(framing: Framing) {
    super({
      transform(payload, controller) {
        checkChunk(payload, "encode frame");
        controller.enqueue(encodeFrame(framing, payload));
      },
    });
  }
}

/**
 * Decodes the byte stream written to it into the payloads of `framing`, one
 * chunk per frame, whatever the sizes and boundaries of the input chunks.
 *
 * Frames that lie inside one input chunk are zero-copy views of it: input
 * chunks must not be reused, and a small frame kept for long keeps its whole
 * input chunk alive (copy it with `frame.slice()` if that matters). An
 * oversize frame errors the stream with {@linkcode FrameTooLargeError} and an
 * input that ends inside a frame with {@linkcode FrameTruncatedError}.
 *
 * @example Decoding with any framing
 * ```ts
 * import { FrameDecoderStream, lengthPrefixed } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const frames = await Array.fromAsync(
 *   ReadableStream.from([new Uint8Array([0, 0, 0, 2, 7]), new Uint8Array([8, 0, 0, 0, 0])])
 *     .pipeThrough(new FrameDecoderStream(lengthPrefixed())),
 * );
 * assert.deepEqual(frames, [new Uint8Array([7, 8]), new Uint8Array(0)]);
 * ```
 */
export class FrameDecoderStream
  extends TransformStream<Uint8Array, Uint8Array> {
  /**
   * Creates the stream, with a decoder of its own.
   *
   * @param framing The wire format.
   */
  constructor(framing: Framing) {
    const decoder = framing.createDecoder();
    super({
      transform(chunk, controller) {
        checkChunk(chunk, "decode chunk");
        // The controller is a FrameSink itself: no callback per chunk.
        decoder.decode(chunk, controller);
      },
      flush() {
        decoder.end();
      },
    });
  }
}

/**
 * Encodes each payload written to it as a length-prefixed frame; see
 * {@linkcode lengthPrefixed}.
 *
 * @example Sending a length-prefixed frame
 * ```ts
 * import { LengthPrefixedEncoderStream } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const wire = await Array.fromAsync(
 *   ReadableStream.from([new Uint8Array([1, 2, 3])])
 *     .pipeThrough(new LengthPrefixedEncoderStream({ headerSize: 2 })),
 * );
 * assert.deepEqual(wire, [new Uint8Array([0, 3, 1, 2, 3])]);
 * ```
 */
export class LengthPrefixedEncoderStream extends FrameEncoderStream {
  /**
   * Creates the stream.
   *
   * @param options The header layout and the size limit.
   * @throws {RangeError} If an option is out of range.
   * @throws {TypeError} If an option has the wrong type.
   */
  constructor(options?: LengthPrefixedOptions) {
    super(lengthPrefixed(options));
  }
}

/**
 * Decodes a length-prefixed byte stream into its payloads; see
 * {@linkcode lengthPrefixed} and {@linkcode FrameDecoderStream}.
 *
 * @example Decoding length-prefixed frames
 * ```ts
 * import { LengthPrefixedDecoderStream } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const wire = new Uint8Array([0, 0, 0, 1, 42, 0, 0, 0, 0]);
 * const frames = await Array.fromAsync(
 *   ReadableStream.from([wire.subarray(0, 2), wire.subarray(2)])
 *     .pipeThrough(new LengthPrefixedDecoderStream()),
 * );
 * assert.deepEqual(frames, [new Uint8Array([42]), new Uint8Array(0)]);
 * ```
 */
export class LengthPrefixedDecoderStream extends FrameDecoderStream {
  /**
   * Creates the stream.
   *
   * @param options The header layout and the size limit.
   * @throws {RangeError} If an option is out of range.
   * @throws {TypeError} If an option has the wrong type.
   */
  constructor(options?: LengthPrefixedOptions) {
    super(lengthPrefixed(options));
  }
}

/**
 * Encodes each payload written to it as a line ending in `\n`; see
 * {@linkcode lineDelimited}.
 *
 * @example Sending text lines
 * ```ts
 * import { LineEncoderStream } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const wire = await Array.fromAsync(
 *   ReadableStream.from(["PING", "QUIT"])
 *     .pipeThrough(new TextEncoderStream())
 *     .pipeThrough(new LineEncoderStream())
 *     .pipeThrough(new TextDecoderStream()),
 * );
 * assert.equal(wire.join(""), "PING\nQUIT\n");
 * ```
 */
export class LineEncoderStream extends FrameEncoderStream {
  /**
   * Creates the stream.
   *
   * @param options The size limit.
   * @throws {RangeError} If `maxLineLength` is out of range.
   * @throws {TypeError} If an option has the wrong type.
   */
  constructor(options?: LineDelimitedOptions) {
    super(lineDelimited(options));
  }
}

/**
 * Decodes a byte stream into lines, without their `\n` or `\r\n` line ends;
 * see {@linkcode lineDelimited} and {@linkcode FrameDecoderStream}.
 *
 * @example Reading text lines
 * ```ts
 * import { LineDecoderStream } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const bytes = new TextEncoder().encode("PING\r\nQUIT\n");
 * const lines = await Array.fromAsync(
 *   ReadableStream.from([bytes.subarray(0, 3), bytes.subarray(3)])
 *     .pipeThrough(new LineDecoderStream()),
 *   (line) => new TextDecoder().decode(line),
 * );
 * assert.deepEqual(lines, ["PING", "QUIT"]);
 * ```
 */
export class LineDecoderStream extends FrameDecoderStream {
  /**
   * Creates the stream.
   *
   * @param options The size limit.
   * @throws {RangeError} If `maxLineLength` is out of range.
   * @throws {TypeError} If an option has the wrong type.
   */
  constructor(options?: LineDelimitedOptions) {
    super(lineDelimited(options));
  }
}

/**
 * Passes through payloads of exactly `size` bytes, refusing any other size;
 * see {@linkcode fixedSize}.
 *
 * @example Sending fixed-size records
 * ```ts
 * import { FixedSizeEncoderStream } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const wire = await Array.fromAsync(
 *   ReadableStream.from([new Uint8Array([1, 2]), new Uint8Array([3, 4])])
 *     .pipeThrough(new FixedSizeEncoderStream(2)),
 * );
 * assert.deepEqual(wire, [new Uint8Array([1, 2]), new Uint8Array([3, 4])]);
 * ```
 */
export class FixedSizeEncoderStream extends FrameEncoderStream {
  /**
   * Creates the stream.
   *
   * @param size The size in bytes of every frame.
   * @throws {RangeError} If `size` is not a positive safe integer.
   * @throws {TypeError} If `size` is not a number.
   */
  constructor(size: number) {
    super(fixedSize(size));
  }
}

/**
 * Splits a byte stream into frames of exactly `size` bytes; see
 * {@linkcode fixedSize} and {@linkcode FrameDecoderStream}.
 *
 * @example Reading fixed-size records
 * ```ts
 * import { FixedSizeDecoderStream } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const frames = await Array.fromAsync(
 *   ReadableStream.from([new Uint8Array([1, 2, 3]), new Uint8Array([4])])
 *     .pipeThrough(new FixedSizeDecoderStream(2)),
 * );
 * assert.deepEqual(frames, [new Uint8Array([1, 2]), new Uint8Array([3, 4])]);
 * ```
 */
export class FixedSizeDecoderStream extends FrameDecoderStream {
  /**
   * Creates the stream.
   *
   * @param size The size in bytes of every frame.
   * @throws {RangeError} If `size` is not a positive safe integer.
   * @throws {TypeError} If `size` is not a number.
   */
  constructor(size: number) {
    super(fixedSize(size));
  }
}

/**
 * Rejects chunks that are not bytes, which would otherwise be framed as
 * garbage (a string has no `byteLength`, for one).
 */
function checkChunk(chunk: unknown, action: string): void {
  if (!(chunk instanceof Uint8Array)) {
    throw new TypeError(
      `Cannot ${action} as the chunk must be a Uint8Array: current type is ${
        chunk === null
          ? "null"
          : typeof chunk === "object"
          ? chunk.constructor?.name ?? "object"
          : typeof chunk
      }`,
    );
  }
}
