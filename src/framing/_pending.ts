// Private helpers shared by the decoders. Not exported from mod.ts.
import type { FrameSink } from "./framing.ts";

/**
 * Fragments at least this large that also fill at least half of their
 * `ArrayBuffer` are kept by reference; anything else is copied.
 */
const REFERENCE_MIN = 4096;
/** Capacity of the first staging block of a frame. */
const FIRST_BLOCK = 256;
/** Staging blocks double up to this capacity. */
const MAX_BLOCK = 65536;

/**
 * The bytes received so far of one unfinished frame.
 *
 * Large fragments are kept as references, so a big frame is copied only once,
 * when it completes. Small fragments are copied into staging blocks instead:
 * a 1-byte read on Deno is a view of a fresh 64 KiB `ArrayBuffer`, so keeping
 * such views would let a peer that trickles bytes pin 64 KiB per byte sent,
 * and one object per byte would cost far more than the byte itself. Blocks
 * grow geometrically and never beyond what the frame can still hold, so the
 * memory held stays within a small constant factor of the bytes received.
 */
export class PendingBytes {
  #parts: Uint8Array[] = [];
  #block: Uint8Array | undefined = undefined;
  /** Start of the bytes in `#block` that are not yet in `#parts`. */
  #runStart = 0;
  #used = 0;
  #nextBlock = FIRST_BLOCK;
  #byteLength = 0;

  /** The bytes held. */
  get byteLength(): number {
    return this.#byteLength;
  }

  /**
   * Adds the next fragment of the frame.
   *
   * @param fragment Bytes to add; must not be empty.
   * @param room The most bytes the frame can still take, `fragment`
   * included, so that staging never allocates past the frame's end.
   */
  append(fragment: Uint8Array, room: number): void {
    const n = fragment.byteLength;
    this.#byteLength += n;
    if (n >= REFERENCE_MIN && n * 2 >= fragment.buffer.byteLength) {
      this.#seal();
      this.#parts.push(fragment);
      return;
    }
    let from = 0;
    while (from < n) {
      let block = this.#block;
      if (block === undefined || this.#used === block.byteLength) {
        this.#seal();
        block = new Uint8Array(Math.min(this.#nextBlock, room - from));
        this.#block = block;
        this.#nextBlock = Math.min(this.#nextBlock * 2, MAX_BLOCK);
        this.#used = 0;
        this.#runStart = 0;
      }
      const count = Math.min(n - from, block.byteLength - this.#used);
      if (count === 1) {
        block[this.#used] = fragment[from]!;
      } else {
        block.set(
          count === n ? fragment : fragment.subarray(from, from + count),
          this.#used,
        );
      }
      this.#used += count;
      from += count;
    }
  }

  /** The last byte held, or -1 when empty. */
  lastByte(): number {
    if (this.#block !== undefined && this.#used > this.#runStart) {
      return this.#block[this.#used - 1]!;
    }
    const last = this.#parts[this.#parts.length - 1];
    return last === undefined ? -1 : last[last.byteLength - 1]!;
  }

  /**
   * Completes the frame: copies the first `length` bytes of the held bytes
   * followed by `tail` into a buffer of exactly `length` bytes, then
   * empties itself.
   *
   * @param tail The frame's last fragment, still in the caller's chunk.
   * @param length The size of the frame to hand out.
   * @param allocate Where the buffer comes from; fresh memory without it.
   * @returns The frame.
   */
  take(
    tail: Uint8Array,
    length: number,
    allocate?: (byteLength: number) => Uint8Array,
  ): Uint8Array {
    this.#seal();
    const out = allocate ? allocate(length) : new Uint8Array(length);
    let at = 0;
    for (const part of this.#parts) {
      at = copyInto(out, at, part);
      if (at === length) break;
    }
    if (at < length) copyInto(out, at, tail);
    this.clear();
    return out;
  }

  /** Drops everything held. */
  clear(): void {
    this.#parts = [];
    this.#block = undefined;
    this.#used = 0;
    this.#runStart = 0;
    this.#nextBlock = FIRST_BLOCK;
    this.#byteLength = 0;
  }

  #seal(): void {
    if (this.#block !== undefined && this.#used > this.#runStart) {
      this.#parts.push(this.#block.subarray(this.#runStart, this.#used));
      this.#runStart = this.#used;
    }
  }
}

/** Copies as much of `source` as fits at `at` and returns the new offset. */
function copyInto(target: Uint8Array, at: number, source: Uint8Array): number {
  const count = Math.min(source.byteLength, target.byteLength - at);
  target.set(
    count === source.byteLength ? source : source.subarray(0, count),
    at,
  );
  return at + count;
}

/**
 * The view of a frame that lies wholly inside the chunk being decoded:
 * `sink`'s own when it builds views ({@linkcode FrameSink.view}), a new one
 * otherwise. A view built from the buffer costs V8 about half of what
 * `subarray` does, which looks up the constructor to use first.
 */
export function frameView(
  sink: FrameSink,
  buffer: ArrayBufferLike,
  byteOffset: number,
  byteLength: number,
): Uint8Array {
  return sink.view !== undefined
    ? sink.view(buffer, byteOffset, byteLength)
    : new Uint8Array(buffer, byteOffset, byteLength);
}

/**
 * Formats a rejected option value for a message: strings quoted, everything
 * else as `String` shows it.
 */
export function formatValue(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/**
 * Validates that an options argument is an object or absent.
 *
 * @throws {TypeError} If `options` is anything else.
 */
export function checkOptions(options: unknown): void {
  if (
    options !== undefined && (typeof options !== "object" || options === null)
  ) {
    throw new TypeError(
      `Cannot create framing as 'options' must be an object: current value is ${
        formatValue(options)
      }`,
    );
  }
}

/**
 * Validates a size option: a non-negative (or, with `min` 1, positive) safe
 * integer.
 *
 * @throws {TypeError} If `value` is not a number.
 * @throws {RangeError} If `value` is not a safe integer of at least `min`.
 */
export function checkSize(name: string, value: unknown, min: 0 | 1): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot create framing as '${name}' must be a number: current type is ${typeof value}`,
    );
  }
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(
      `Cannot create framing as '${name}' must be a ${
        min === 0 ? "non-negative" : "positive"
      } safe integer: current value is ${value}`,
    );
  }
  return value;
}
