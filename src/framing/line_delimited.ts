import { FrameTooLargeError, InvalidFrameError } from "../errors.ts";
import type { FrameDecoder, FrameSink, Framing } from "./framing.ts";
import { checkOptions, checkSize } from "./_check_options.ts";
import { frameView } from "./_lending.ts";
import { PendingDecoder } from "./_pending_decoder.ts";

const LF = 10;
const CR = 13;

/** The default of `maxLineLength`. */
export const DEFAULT_MAX_LINE_LENGTH: number = 64 * 1024;

/**
 * Options of {@linkcode lineDelimited}.
 *
 * @example A small limit
 * ```ts
 * import { lineDelimited, type LineDelimitedOptions } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const options: LineDelimitedOptions = { maxLineLength: 512 };
 * assert.equal(lineDelimited(options).maxFrameSize, 512);
 * ```
 */
export interface LineDelimitedOptions {
  /**
   * The longest line in bytes accepted in either direction, a non-negative
   * safe integer. It counts the bytes before the `\n`, including a `\r` in
   * front of it that the decoder strips, so a received line of exactly
   * `maxLineLength` bytes is rejected if it ends in `\r\n`.
   *
   * @default {65536}
   */
  maxLineLength?: number;
}

/**
 * Creates the line-delimited framing: each payload is followed by `\n`.
 *
 * The decoder splits on `\n`, accepts both `\n` and `\r\n` line ends (one
 * `\r` before the `\n` is stripped) and hands out each line without its line
 * end. It scans each byte once, so input split into tiny chunks costs linear
 * time, and rejects a line as soon as it grows past `maxLineLength` without
 * buffering further. An unterminated line at the end of the stream is an
 * error, not a line. Bytes are not checked to be UTF-8.
 *
 * The encoder rejects payloads that contain `\n`, and payloads that end in
 * `\r`, which the decoder would strip.
 *
 * @param options The size limit.
 * @returns The framing.
 * @throws {RangeError} If `maxLineLength` is not a non-negative safe integer.
 * @throws {TypeError} If `options` is not an object, or `maxLineLength` is not
 * a number.
 *
 * @example Decoding lines with either line end
 * ```ts
 * import { lineDelimited } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const lines: string[] = [];
 * const decoder = lineDelimited().createDecoder();
 * const sink = { enqueue: (line: Uint8Array) => lines.push(new TextDecoder().decode(line)) };
 * decoder.decode(new TextEncoder().encode("HELO a\r\nQU"), sink);
 * decoder.decode(new TextEncoder().encode("IT\n\n"), sink);
 * decoder.end();
 * assert.deepEqual(lines, ["HELO a", "QUIT", ""]);
 * ```
 */
export function lineDelimited(options?: LineDelimitedOptions): Framing {
  checkOptions(options);
  return new LineFraming(
    checkSize(
      "maxLineLength",
      options?.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH,
      0,
    ),
  );
}

class LineFraming implements Framing {
  readonly name = "line-delimited";
  readonly maxFrameSize: number;
  readonly trailer: Uint8Array = new Uint8Array([LF]);

  constructor(maxLineLength: number) {
    this.maxFrameSize = maxLineLength;
    Object.freeze(this);
  }

  createDecoder(): FrameDecoder {
    return new LineDecoder(this.maxFrameSize);
  }

  check(payload: Uint8Array): number {
    const length = payload.byteLength;
    if (length > this.maxFrameSize) {
      throw new FrameTooLargeError(length, this.maxFrameSize);
    }
    const newline = payload.indexOf(LF);
    if (newline !== -1) {
      throw new InvalidFrameError(
        `Cannot encode line as it contains a newline at byte ${newline}`,
      );
    }
    if (length > 0 && payload[length - 1] === CR) {
      throw new InvalidFrameError(
        `Cannot encode line as it ends with a carriage return that the decoder would strip: byte ${
          length - 1
        } is 13`,
      );
    }
    return 0;
  }

  writeHeader(): void {}
}

class LineDecoder extends PendingDecoder {
  readonly #limit: number;

  constructor(limit: number) {
    super(undefined);
    this.#limit = limit;
  }

  override decodeSome(
    chunk: Uint8Array,
    sink: FrameSink,
    maxFrames: number,
  ): number {
    if (this.error !== undefined) throw this.error;
    const limit = this.#limit;
    const pending = this.pending;
    let pos = 0;
    let frames = 0;
    // Each search starts after the previous newline and buffered bytes are
    // never searched again, so every byte is scanned once.
    let newline = chunk.indexOf(LF);
    if (pending.byteLength > 0 && newline !== -1) {
      const length = pending.byteLength + newline;
      if (length > limit) throw this.#tooLarge(length);
      const last = newline > 0 ? chunk[newline - 1] : pending.lastByte();
      sink.enqueue(
        pending.take(
          chunk.subarray(0, newline),
          last === CR ? length - 1 : length,
        ),
      );
      frames = 1;
      pos = newline + 1;
      newline = chunk.indexOf(LF, pos);
    }
    const buffer = chunk.buffer;
    const base = chunk.byteOffset;
    while (newline !== -1) {
      if (frames === maxFrames) return pos;
      if (newline - pos > limit) throw this.#tooLarge(newline - pos);
      const length =
        (newline > pos && chunk[newline - 1] === CR ? newline - 1 : newline) -
        pos;
      sink.enqueue(frameView(sink, buffer, base + pos, length));
      frames++;
      pos = newline + 1;
      newline = chunk.indexOf(LF, pos);
    }
    const rest = chunk.byteLength - pos;
    if (rest > 0) {
      // Checked before buffering, so an endless line is refused at the
      // chunk that crosses the limit and is never held past it.
      const held = pending.byteLength;
      if (held + rest > limit) throw this.#tooLarge(held + rest);
      pending.append(pos === 0 ? chunk : chunk.subarray(pos), limit - held);
    }
    return chunk.byteLength;
  }

  #tooLarge(length: number): Error {
    return this.fail(new FrameTooLargeError(length, this.#limit));
  }
}
