import {
  STAGING_FIRST_BLOCK,
  STAGING_MAX_BLOCK,
  STAGING_REFERENCE_MIN,
} from "../_sizes.ts";

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
  #nextBlock = STAGING_FIRST_BLOCK;
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
    if (n >= STAGING_REFERENCE_MIN && n * 2 >= fragment.buffer.byteLength) {
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
        this.#nextBlock = Math.min(this.#nextBlock * 2, STAGING_MAX_BLOCK);
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
    this.#nextBlock = STAGING_FIRST_BLOCK;
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
