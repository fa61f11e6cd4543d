import { InvalidFrameError } from "../errors.ts";
import type { FrameDecoder, FrameSink, Framing } from "./framing.ts";
import { checkSize } from "./_check_options.ts";
import { frameView } from "./_lending.ts";
import { PendingDecoder } from "./_pending_decoder.ts";

/**
 * Creates the fixed-size framing: every frame is exactly `size` bytes, with
 * no header and no trailer, as in many binary telemetry and sensor protocols.
 *
 * @param size The size in bytes of every frame, a positive safe integer. It
 * is also the framing's `maxFrameSize`.
 * @returns The framing.
 * @throws {RangeError} If `size` is not a positive safe integer.
 * @throws {TypeError} If `size` is not a number.
 *
 * @example Splitting a stream into 4-byte records
 * ```ts
 * import { fixedSize } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const frames: Uint8Array[] = [];
 * const decoder = fixedSize(4).createDecoder();
 * const sink = { enqueue: (frame: Uint8Array) => frames.push(frame) };
 * decoder.decode(new Uint8Array([1, 2, 3, 4, 5, 6]), sink);
 * decoder.decode(new Uint8Array([7, 8]), sink);
 * decoder.end();
 * assert.deepEqual(frames, [new Uint8Array([1, 2, 3, 4]), new Uint8Array([5, 6, 7, 8])]);
 * ```
 */
export function fixedSize(size: number): Framing {
  return new FixedSizeFraming(checkSize("size", size, 1));
}

class FixedSizeFraming implements Framing {
  readonly name = "fixed-size";
  readonly maxFrameSize: number;
  readonly trailer: Uint8Array = new Uint8Array(0);

  constructor(size: number) {
    this.maxFrameSize = size;
    Object.freeze(this);
  }

  createDecoder(): FrameDecoder {
    return new FixedSizeDecoder(this.maxFrameSize);
  }

  check(payload: Uint8Array): number {
    if (payload.byteLength !== this.maxFrameSize) {
      throw new InvalidFrameError(
        `Cannot encode frame as its size must be ${this.maxFrameSize} bytes: current size is ${payload.byteLength} bytes`,
      );
    }
    return 0;
  }

  writeHeader(): void {}
}

class FixedSizeDecoder extends PendingDecoder {
  readonly #size: number;

  constructor(size: number) {
    super(size);
    this.#size = size;
  }

  override decodeSome(
    chunk: Uint8Array,
    sink: FrameSink,
    maxFrames: number,
  ): number {
    if (this.error !== undefined) throw this.error;
    const size = this.#size;
    const pending = this.pending;
    const end = chunk.byteLength;
    let pos = 0;
    let frames = 0;
    if (pending.byteLength > 0) {
      const missing = size - pending.byteLength;
      if (end < missing) {
        if (end > 0) pending.append(chunk, missing);
        return end;
      }
      pos = missing;
      frames = 1;
      sink.enqueue(pending.take(chunk.subarray(0, missing), size));
    }
    const buffer = chunk.buffer;
    const base = chunk.byteOffset;
    while (end - pos >= size) {
      if (frames === maxFrames) return pos;
      sink.enqueue(frameView(sink, buffer, base + pos, size));
      pos += size;
      frames++;
    }
    if (pos < end) pending.append(chunk.subarray(pos), size);
    return end;
  }
}
