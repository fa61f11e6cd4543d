import { DIRECT_FREE, DIRECT_MIN, HEADER_READ_MIN } from "../_sizes.ts";
import { FrameTooLargeError, FrameTruncatedError } from "../errors.ts";
import type { FrameDecoder, FrameSink, Framing } from "./framing.ts";
import { checkOptions, checkSize, formatValue } from "./_check_options.ts";
import {
  frameView,
  type LendingDecoder,
  LENDS,
  READ_TARGET,
} from "./_lending.ts";
import { PendingBytes } from "./_pending.ts";

/** The default of `maxFrameSize`. */
export const DEFAULT_MAX_FRAME_SIZE: number = 8 * 1024 * 1024;

/**
 * Options of {@linkcode lengthPrefixed}.
 *
 * @example A 2-byte little-endian prefix
 * ```ts
 * import { encodeFrame, lengthPrefixed, type LengthPrefixedOptions } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const options: LengthPrefixedOptions = { headerSize: 2, byteOrder: "little" };
 * const wire = encodeFrame(lengthPrefixed(options), new Uint8Array([9]));
 * assert.deepEqual(wire, new Uint8Array([1, 0, 9]));
 * ```
 */
export interface LengthPrefixedOptions {
  /**
   * The width in bytes of the unsigned length field in front of each payload.
   *
   * @default {4}
   */
  headerSize?: 1 | 2 | 4 | 8;
  /**
   * The byte order of the length field.
   *
   * @default {"big"}
   */
  byteOrder?: "big" | "little";
  /**
   * The largest payload in bytes accepted in either direction; the header is
   * not counted. A non-negative safe integer. The effective limit is the
   * smaller of this and the largest length the header can hold (255 for a
   * 1-byte header, 65 535 for 2 bytes, 4 294 967 295 for 4 bytes,
   * `Number.MAX_SAFE_INTEGER` for 8 bytes), so with a 1- or 2-byte header the
   * default is lowered to fit.
   *
   * @default {8388608}
   */
  maxFrameSize?: number;
}

/**
 * Creates the length-prefixed framing: each payload is preceded by its length
 * in bytes as an unsigned integer of `headerSize` bytes. The default is a
 * 4-byte big-endian length, so the payload `[1, 2, 3]` is sent as
 * `[0, 0, 0, 3, 1, 2, 3]`.
 *
 * The decoder checks each declared length against `maxFrameSize` as soon as
 * the header is complete, before it buffers or allocates anything, and its
 * memory grows only with the bytes that actually arrive. Zero-length payloads
 * are valid. Length fields of 8 bytes whose value exceeds
 * `Number.MAX_SAFE_INTEGER` are always over the limit.
 *
 * @param options The header layout and the size limit.
 * @returns The framing.
 * @throws {RangeError} If `headerSize` is not 1, 2, 4 or 8, `byteOrder` is not
 * `"big"` or `"little"`, or `maxFrameSize` is not a non-negative safe integer.
 * @throws {TypeError} If `options` is not an object, or `maxFrameSize` is not
 * a number.
 *
 * @example Round-tripping frames
 * ```ts
 * import { encodeFrame, lengthPrefixed } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const framing = lengthPrefixed();
 * const wire = encodeFrame(framing, new Uint8Array([1, 2, 3]));
 * assert.deepEqual(wire, new Uint8Array([0, 0, 0, 3, 1, 2, 3]));
 *
 * const frames: Uint8Array[] = [];
 * const decoder = framing.createDecoder();
 * decoder.decode(wire, { enqueue: (frame) => frames.push(frame) });
 * decoder.end();
 * assert.deepEqual(frames, [new Uint8Array([1, 2, 3])]);
 * ```
 *
 * @example Clamping the limit to the header width
 * ```ts
 * import { lengthPrefixed } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * assert.equal(lengthPrefixed({ headerSize: 2 }).maxFrameSize, 65_535);
 * assert.equal(lengthPrefixed({ maxFrameSize: 1024 }).maxFrameSize, 1024);
 * ```
 */
export function lengthPrefixed(options?: LengthPrefixedOptions): Framing {
  checkOptions(options);
  const headerSize = options?.headerSize ?? 4;
  if (
    headerSize !== 1 && headerSize !== 2 && headerSize !== 4 && headerSize !== 8
  ) {
    throw new RangeError(
      `Cannot create framing as 'headerSize' must be 1, 2, 4 or 8: current value is ${
        formatValue(headerSize)
      }`,
    );
  }
  const byteOrder = options?.byteOrder ?? "big";
  if (byteOrder !== "big" && byteOrder !== "little") {
    throw new RangeError(
      `Cannot create framing as 'byteOrder' must be "big" or "little": current value is ${
        formatValue(byteOrder)
      }`,
    );
  }
  const maxFrameSize = checkSize(
    "maxFrameSize",
    options?.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
    0,
  );
  const headerMax = headerSize === 8
    ? Number.MAX_SAFE_INTEGER
    : 2 ** (8 * headerSize) - 1;
  return new LengthPrefixedFraming(
    headerSize,
    byteOrder === "little",
    Math.min(maxFrameSize, headerMax),
  );
}

class LengthPrefixedFraming implements Framing {
  readonly name = "length-prefixed";
  readonly maxFrameSize: number;
  readonly trailer: Uint8Array = new Uint8Array(0);
  readonly #headerSize: 1 | 2 | 4 | 8;
  readonly #little: boolean;

  constructor(
    headerSize: 1 | 2 | 4 | 8,
    little: boolean,
    maxFrameSize: number,
  ) {
    this.#headerSize = headerSize;
    this.#little = little;
    this.maxFrameSize = maxFrameSize;
    Object.freeze(this);
  }

  createDecoder(): FrameDecoder {
    return new LengthPrefixedDecoder(
      this.#headerSize,
      this.#little,
      this.maxFrameSize,
    );
  }

  check(payload: Uint8Array): number {
    if (payload.byteLength > this.maxFrameSize) {
      throw new FrameTooLargeError(payload.byteLength, this.maxFrameSize);
    }
    return this.#headerSize;
  }

  writeHeader(payloadLength: number, target: Uint8Array, offset: number): void {
    // A length that does not fit would silently desynchronise the peer, so
    // this is checked even though callers are meant to call check() first.
    if (
      !Number.isInteger(payloadLength) || payloadLength < 0 ||
      payloadLength > this.maxFrameSize
    ) {
      throw new RangeError(
        `Cannot write header as 'payloadLength' must be an integer from 0 to ${this.maxFrameSize}: current value is ${payloadLength}`,
      );
    }
    if (!(offset >= 0 && offset + this.#headerSize <= target.byteLength)) {
      throw new RangeError(
        `Cannot write header as it does not fit in the target at 'offset': current value is ${offset}`,
      );
    }
    const little = this.#little;
    switch (this.#headerSize) {
      case 1:
        target[offset] = payloadLength;
        break;
      case 2:
        writeUint16(target, offset, payloadLength, little);
        break;
      case 4:
        writeUint32(target, offset, payloadLength, little);
        break;
      case 8: {
        const high = Math.floor(payloadLength / 0x1_0000_0000);
        const low = payloadLength >>> 0;
        writeUint32(target, little ? offset + 4 : offset, high, little);
        writeUint32(target, little ? offset : offset + 4, low, little);
        break;
      }
    }
  }
}

const EMPTY = new Uint8Array(0);

class LengthPrefixedDecoder implements LendingDecoder {
  readonly #headerSize: 1 | 2 | 4 | 8;
  readonly #little: boolean;
  readonly #limit: number;
  /** Holds a header split across chunks. */
  // Allocated when a header first splits across chunks: most connections
  // never need it.
  #scratch: Uint8Array | undefined;
  /** Header bytes in `#scratch` while the header is incomplete. */
  #headerHave = 0;
  /** Declared payload length of the unfinished frame, or -1 between frames. */
  #need = -1;
  readonly #pending = new PendingBytes();
  /** The unfinished frame's final buffer, once reads go straight into it. */
  #frame: Uint8Array | undefined = undefined;
  /** Bytes of `#frame` received. */
  #filled = 0;
  #error: Error | undefined = undefined;
  /** Whether the last frame was large enough to read the next header alone. */
  #afterLarge = false;
  /** Where a header read on its own lands. */
  #headerTarget: Uint8Array | undefined;

  constructor(headerSize: 1 | 2 | 4 | 8, little: boolean, limit: number) {
    this.#headerSize = headerSize;
    this.#little = little;
    this.#limit = limit;
  }

  get buffered(): number {
    // The header is counted once read, so that `buffered > 0` exactly when a
    // frame is unfinished, even before its first payload byte arrives.
    return this.#need >= 0
      ? this.#headerSize + this.#pending.byteLength + this.#filled
      : this.#headerHave;
  }

  get [LENDS](): true {
    return true;
  }

  [READ_TARGET](
    allocate?: (byteLength: number) => Uint8Array,
  ): Uint8Array | undefined {
    const need = this.#need;
    if (need < 0) {
      // The decoder owns this target and copies nothing out of it: only a
      // zero-length frame can come out of a chunk that holds just a header.
      return this.#afterLarge && this.#headerHave === 0
        ? this.#headerTarget ??= new Uint8Array(this.#headerSize)
        : undefined;
    }
    let frame = this.#frame;
    if (frame === undefined) {
      const have = this.#pending.byteLength;
      if (need - have < DIRECT_MIN || (need > DIRECT_FREE && have * 2 < need)) {
        return undefined;
      }
      frame = this.#frame = this.#pending.take(EMPTY, need, allocate);
      this.#filled = have;
    }
    return frame.subarray(this.#filled);
  }

  decode(chunk: Uint8Array, sink: FrameSink): void {
    this.decodeSome(chunk, sink, Infinity);
  }

  decodeSome(chunk: Uint8Array, sink: FrameSink, maxFrames: number): number {
    if (this.#error !== undefined) throw this.#error;
    const end = chunk.byteLength;
    let pos = 0;
    let frames = 0;
    if (this.#headerHave > 0 || this.#need >= 0) {
      pos = this.#resume(chunk, sink);
      if (pos < 0) return end;
      frames = 1;
    }
    // The hot path: frames that lie wholly inside this chunk are handed out
    // as views with no allocation but the view itself.
    const size = this.#headerSize;
    const little = this.#little;
    const limit = this.#limit;
    const buffer = chunk.buffer;
    const base = chunk.byteOffset;
    let last = -1;
    while (pos + size <= end) {
      const length = readLength(chunk, pos, size, little);
      if (length > limit) throw this.#tooLarge(length);
      const start = pos + size;
      const stop = start + length;
      if (stop > end) {
        this.#need = length;
        if (start < end) this.#pending.append(chunk.subarray(start), length);
        return end;
      }
      // Only a whole frame is left for later: the caller sees a rest exactly
      // when more frames are ready.
      if (frames === maxFrames) break;
      sink.enqueue(frameView(sink, buffer, base + start, length));
      frames++;
      last = length;
      pos = stop;
    }
    if (last >= 0) this.#afterLarge = last >= HEADER_READ_MIN;
    if (frames === maxFrames && pos + size <= end) return pos;
    let have = 0;
    if (pos < end) {
      const scratch = this.#scratch ??= new Uint8Array(this.#headerSize);
      while (pos < end) scratch[have++] = chunk[pos++]!;
    }
    this.#headerHave = have;
    return end;
  }

  end(): void {
    if (this.#error !== undefined) throw this.#error;
    if (this.#need >= 0) {
      const size = this.#headerSize;
      this.#error = new FrameTruncatedError(
        size + this.#pending.byteLength + this.#filled,
        size + this.#need,
      );
      this.#pending.clear();
      this.#frame = undefined;
      throw this.#error;
    }
    if (this.#headerHave > 0) {
      this.#error = new FrameTruncatedError(this.#headerHave);
      throw this.#error;
    }
  }

  /**
   * Continues the unfinished frame with the start of `chunk`. Returns the
   * offset after the frame once it is complete, or -1 if `chunk` ended
   * first.
   */
  #resume(chunk: Uint8Array, sink: FrameSink): number {
    const end = chunk.byteLength;
    let pos = 0;
    if (this.#need < 0) {
      const size = this.#headerSize;
      const scratch = this.#scratch ??= new Uint8Array(this.#headerSize);
      let have = this.#headerHave;
      while (have < size && pos < end) scratch[have++] = chunk[pos++]!;
      this.#headerHave = have;
      if (have < size) return -1;
      const length = readLength(scratch, 0, size, this.#little);
      if (length > this.#limit) throw this.#tooLarge(length);
      this.#headerHave = 0;
      this.#need = length;
    }
    if (this.#frame !== undefined) return this.#fill(chunk, pos, sink);
    const pending = this.#pending;
    const missing = this.#need - pending.byteLength;
    if (end - pos < missing) {
      if (pos < end) {
        pending.append(pos === 0 ? chunk : chunk.subarray(pos), missing);
      }
      return -1;
    }
    const stop = pos + missing;
    const frame = pending.byteLength > 0
      ? pending.take(chunk.subarray(pos, stop), this.#need)
      : frameView(sink, chunk.buffer, chunk.byteOffset + pos, missing);
    this.#need = -1;
    this.#afterLarge = frame.byteLength >= HEADER_READ_MIN;
    sink.enqueue(frame);
    return stop;
  }

  /** Continues a frame being received into its final buffer. */
  #fill(chunk: Uint8Array, pos: number, sink: FrameSink): number {
    const frame = this.#frame!;
    const filled = this.#filled;
    const count = Math.min(frame.byteLength - filled, chunk.byteLength - pos);
    // A chunk read straight into the frame is in place already.
    const inPlace = pos === 0 && chunk.buffer === frame.buffer &&
      chunk.byteOffset === frame.byteOffset + filled;
    if (!inPlace) frame.set(chunk.subarray(pos, pos + count), filled);
    this.#filled = filled + count;
    if (this.#filled < frame.byteLength) return -1;
    this.#frame = undefined;
    this.#filled = 0;
    this.#need = -1;
    this.#afterLarge = frame.byteLength >= HEADER_READ_MIN;
    sink.enqueue(frame);
    return pos + count;
  }

  #tooLarge(length: number): Error {
    this.#error = new FrameTooLargeError(length, this.#limit);
    return this.#error;
  }
}

/**
 * Reads an unsigned length field. 8-byte fields are read as two 32-bit
 * halves; values above `Number.MAX_SAFE_INTEGER` come out rounded, which
 * keeps them above every limit.
 */
function readLength(
  bytes: Uint8Array,
  at: number,
  size: 1 | 2 | 4 | 8,
  little: boolean,
): number {
  switch (size) {
    case 1:
      return bytes[at]!;
    case 2:
      return little
        ? bytes[at]! | (bytes[at + 1]! << 8)
        : (bytes[at]! << 8) | bytes[at + 1]!;
    case 4:
      return readUint32(bytes, at, little);
    case 8:
      return little
        ? readUint32(bytes, at + 4, true) * 0x1_0000_0000 +
          readUint32(bytes, at, true)
        : readUint32(bytes, at, false) * 0x1_0000_0000 +
          readUint32(bytes, at + 4, false);
  }
}

function readUint32(bytes: Uint8Array, at: number, little: boolean): number {
  // `>>> 0` keeps the top bit from turning the value negative.
  return little
    ? (bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) |
      (bytes[at + 3]! << 24)) >>> 0
    : ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) |
      bytes[at + 3]!) >>> 0;
}

function writeUint16(
  target: Uint8Array,
  at: number,
  value: number,
  little: boolean,
): void {
  target[little ? at : at + 1] = value & 0xff;
  target[little ? at + 1 : at] = value >>> 8;
}

function writeUint32(
  target: Uint8Array,
  at: number,
  value: number,
  little: boolean,
): void {
  target[little ? at : at + 3] = value & 0xff;
  target[little ? at + 1 : at + 2] = (value >>> 8) & 0xff;
  target[little ? at + 2 : at + 1] = (value >>> 16) & 0xff;
  target[little ? at + 3 : at] = value >>> 24;
}
