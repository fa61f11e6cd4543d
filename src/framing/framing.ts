/**
 * Receives the frames a {@linkcode FrameDecoder} completes. Both
 * `TransformStreamDefaultController` and `ReadableStreamDefaultController`
 * fit, so a decoder can feed a stream without a callback per chunk.
 *
 * @example Collecting lines
 * ```ts
 * import { type FrameSink, lineDelimited } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const sink: FrameSink = {
 *   enqueue: (frame) => lines.push(new TextDecoder().decode(frame)),
 * };
 * const decoder = lineDelimited().createDecoder();
 * decoder.decode(new TextEncoder().encode("one\ntw"), sink);
 * decoder.decode(new TextEncoder().encode("o\n"), sink);
 * decoder.end();
 * assert.deepEqual(lines, ["one", "two"]);
 * ```
 */
export interface FrameSink {
  /** Takes one complete frame. */
  enqueue(frame: Uint8Array): void;
}

/**
 * The incremental decoding state of one byte stream. It accepts chunks of
 * any size, split anywhere, and hands out each frame as soon as its last
 * byte arrives.
 *
 * Frames that lie inside one input chunk are handed out as zero-copy views
 * of that chunk; frames that span chunks are copied once into a buffer of
 * exactly their size. A decoder never allocates a declared length before
 * checking it against its limit, and never buffers more than one frame.
 *
 * @example Decoding by hand
 * ```ts
 * import { lengthPrefixed } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const decoder = lengthPrefixed().createDecoder();
 * const frames: Uint8Array[] = [];
 * decoder.decode(new Uint8Array([0, 0, 0, 2, 7]), { enqueue: (f) => frames.push(f) });
 * decoder.decode(new Uint8Array([8]), { enqueue: (f) => frames.push(f) });
 * decoder.end();
 * assert.deepEqual(frames, [new Uint8Array([7, 8])]);
 * ```
 */
export interface FrameDecoder {
  /**
   * Decodes one chunk, passing each completed frame to `sink` in order.
   *
   * @param chunk The next bytes of the stream; not modified, and frames may
   * be views of it, so it must not be reused by the caller.
   * @param sink Receives the completed frames.
   * @throws {FrameTooLargeError} If a frame exceeds the limit. The decoder is
   * unusable afterwards.
   */
  decode(chunk: Uint8Array, sink: FrameSink): void;
  /**
   * Optional: decodes like {@linkcode FrameDecoder.decode}, but stops at the
   * frame boundary after `maxFrames` frames when a whole frame follows, and
   * returns how many bytes of `chunk` it took; the caller passes the rest
   * again, and nothing else, when it wants more. A reader that holds the
   * frames of one read until the application takes them can so bound how
   * many there are, whatever a read brings: 64 KiB of empty lines are
   * 65 536 frames.
   *
   * @param maxFrames At least 1.
   * @returns The bytes of `chunk` decoded; `chunk.byteLength` when all were.
   * @throws {FrameTooLargeError} As {@linkcode FrameDecoder.decode} does.
   */
  decodeSome?(chunk: Uint8Array, sink: FrameSink, maxFrames: number): number;
  /**
   * Declares the end of the stream.
   *
   * @throws {FrameTruncatedError} If an unfinished frame is buffered.
   */
  end(): void;
  /** Bytes of an unfinished frame held by the decoder. */
  readonly buffered: number;
}

/**
 * A wire format: how a payload becomes bytes on the wire and how a byte
 * stream becomes payloads again. Create one with
 * {@linkcode lengthPrefixed}, {@linkcode lineDelimited} or
 * {@linkcode fixedSize}; a `Framing` is immutable and can be shared by any
 * number of connections.
 *
 * An encoded frame is `header`, then the payload, then `trailer`.
 *
 * @example Encoding a frame by hand
 * ```ts
 * import { encodeFrame, lengthPrefixed } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const wire = encodeFrame(lengthPrefixed(), new Uint8Array([1, 2]));
 * assert.deepEqual(wire, new Uint8Array([0, 0, 0, 2, 1, 2]));
 * ```
 */
export interface Framing {
  /** A short name for messages and logs, such as `length-prefixed`. */
  readonly name: string;
  /** The largest payload in bytes this framing accepts in either direction. */
  readonly maxFrameSize: number;
  /** Bytes written after each payload, such as `\n`; may be empty. */
  readonly trailer: Uint8Array;
  /** Creates the decoding state for one byte stream. */
  createDecoder(): FrameDecoder;
  /**
   * Checks that `payload` can be sent in this framing and returns the size in
   * bytes of its header.
   *
   * @param payload The payload to send.
   * @returns The header size in bytes (0 for framings without a header).
   * @throws {FrameTooLargeError} If the payload exceeds `maxFrameSize`.
   * @throws {InvalidFrameError} If the payload cannot be framed, such as a
   * line containing the delimiter.
   */
  check(payload: Uint8Array): number;
  /**
   * Writes the header of a frame whose payload has `payloadLength` bytes. Call
   * only after {@linkcode Framing.check} accepted the payload.
   *
   * @param payloadLength The payload size in bytes.
   * @param target Where to write.
   * @param offset The offset in `target` of the header's first byte.
   */
  writeHeader(payloadLength: number, target: Uint8Array, offset: number): void;
}

/**
 * Encodes one payload into a new buffer holding header, payload and trailer.
 *
 * @param framing The wire format.
 * @param payload The payload.
 * @returns The encoded frame.
 * @throws {FrameTooLargeError} If the payload exceeds the framing's limit.
 * @throws {InvalidFrameError} If the payload cannot be framed.
 *
 * @example Framing a line
 * ```ts
 * import { encodeFrame, lineDelimited } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const wire = encodeFrame(lineDelimited(), new TextEncoder().encode("hi"));
 * assert.equal(new TextDecoder().decode(wire), "hi\n");
 * ```
 */
export function encodeFrame(framing: Framing, payload: Uint8Array): Uint8Array {
  const header = framing.check(payload);
  const trailer = framing.trailer;
  const out = new Uint8Array(header + payload.byteLength + trailer.byteLength);
  framing.writeHeader(payload.byteLength, out, 0);
  out.set(payload, header);
  if (trailer.byteLength > 0) out.set(trailer, header + payload.byteLength);
  return out;
}
