import {
  BY_REFERENCE_SIZE,
  COPY_MIN,
  MAX_READ_SIZE,
  MIN_READ_SIZE,
} from "../_sizes.ts";

// The frames of a batch in this buffer must stay smaller than what a writer
// sends by reference, since `send()` copies them before the buffer is read
// into again.
const MAX_SIZE = Math.min(MAX_READ_SIZE, BY_REFERENCE_SIZE);
// Memory is let go once this many reads went by without needing it, so that
// a burst of large reads or frames does not leave a connection that has
// gone back to small ones holding the burst's memory for good.
const KEEP_READS = 64;
// The views kept for handing out again: enough for the frames of a full
// pipeline in one read, few enough that a connection holds little.
const MAX_VIEWS = 128;

/**
 * The memory a frame reader offers the socket when the application has said
 * that the frames of a batch are not needed once it asks for the next one:
 * the reads go into the same buffer again and again, where every read would
 * otherwise need fresh memory, which costs more than decoding what it holds.
 *
 * A runtime that reads into memory of its own (`Conn.readsIntoTarget` is not
 * set) is offered none. Its chunks are copied into the buffer instead, unless
 * they are too small or too large to be worth it: a small copy, after which
 * the frames lie where the frames of earlier batches lay, so that their views
 * can be handed out again (see `LendingSink`).
 *
 * The frames of a chunk in the buffer get their views from it: a frame at
 * the same place and of the same length as the frame in the same order in
 * the chunk before gets that frame's view again, which on JavaScriptCore
 * costs a fraction of a new one. A view is free whenever its bytes are:
 * only a read for a batch of reused memory goes into the buffer, once every
 * frame handed out before is done with.
 *
 * The buffer grows while reads fill it, and shrinks again, as frame memory
 * is dropped, once a run of reads has not needed it. Views go with the
 * memory they view.
 */
export class ReadBuffer {
  #buffer: Uint8Array | undefined;
  #used = 0;
  #size = MIN_READ_SIZE;
  // Whether a read was asked for and its chunk not yet taken note of, whether
  // it may start over, and the memory it was offered, if any.
  #asked = false;
  #rewind = false;
  #offered: Uint8Array | undefined;
  // Whether the runtime reads into memory of its own.
  #copies: boolean;
  #frames: ArrayBuffer | undefined;
  // Reads asked for since the buffer was last sized, and the largest of them.
  #reads = 0;
  #largest = 0;
  // Reads of other kinds since frame memory was last lent.
  #sinceFrame = 0;
  // The views of the frames of the last chunk held, by their order in it,
  // and the order of the next frame of the chunk being decoded, or -1 while
  // no chunk in the buffer is.
  #views: Uint8Array[] | undefined;
  #viewAt = -1;

  /** @param readsIntoTarget Whether reads go where they are offered. */
  constructor(readsIntoTarget: boolean) {
    this.#copies = !readsIntoTarget;
  }

  /**
   * Where the next read should land, or `undefined` when the runtime reads
   * into memory of its own. Either way, the chunk the read brings goes to
   * {@linkcode ReadBuffer.filled}.
   *
   * @param rewind Whether nothing read into the buffer is in use any more,
   * so the read may start over at its beginning.
   */
  target(rewind: boolean): Uint8Array | undefined {
    if (this.#frames !== undefined && ++this.#sinceFrame > KEEP_READS) {
      this.#frames = undefined;
    }
    if (rewind && this.#reads >= KEEP_READS) {
      if (this.#copies && this.#largest < COPY_MIN) {
        this.#size = MIN_READ_SIZE;
        this.#buffer = this.#views = undefined;
      } else if (
        this.#largest * 8 < this.#size && this.#size > MIN_READ_SIZE
      ) {
        this.#size /= 2;
        this.#buffer = this.#views = undefined;
      }
      this.#reads = this.#largest = 0;
    }
    this.#asked = true;
    this.#rewind = rewind;
    return this.#copies ? undefined : this.#offered = this.#room(rewind);
  }

  /**
   * The free part of the buffer, at least `need` bytes, which is allocated
   * or replaced as needed.
   */
  #room(rewind: boolean, need = 0): Uint8Array {
    let buffer = this.#buffer;
    if (
      buffer === undefined || buffer.byteLength < this.#size ||
      // Bytes still in use stay where they are: the read goes after them,
      // into a new buffer once little room is left.
      (!rewind && buffer.byteLength - this.#used <
          Math.max(buffer.byteLength / 4, need))
    ) {
      buffer = this.#buffer = new Uint8Array(this.#size);
      this.#views = undefined;
      this.#used = 0;
    } else if (rewind) {
      this.#used = 0;
    }
    return this.#used === 0 ? buffer : buffer.subarray(this.#used);
  }

  /**
   * Memory for a frame that a decoder assembles itself (one too large to be
   * read in one piece): the same memory each time, as long as the frame is
   * one that `send()` copies. Whether it is free is the caller's to know:
   * the frame it held before went out in a batch the application is done
   * with.
   *
   * Runtimes that ignore read targets still gain: the decoder copies their
   * chunks into this memory instead of fresh memory.
   *
   * A bound function, to be handed to a lending decoder's `READ_TARGET` as
   * it is.
   */
  readonly frame = (byteLength: number): Uint8Array => {
    if (byteLength >= BY_REFERENCE_SIZE) return new Uint8Array(byteLength);
    this.#sinceFrame = 0;
    let frames = this.#frames;
    if (frames === undefined || frames.byteLength < byteLength) {
      frames = this.#frames = new ArrayBuffer(byteLength);
    }
    return new Uint8Array(frames, 0, byteLength);
  };

  /**
   * Takes note of the chunk a read brought, and returns where its bytes lie
   * in the buffer: where they were read to, or a copy when they are
   * elsewhere. They are in use until the next rewind.
   * Returns `undefined` when the chunk is decoded where it is: it is not
   * the outcome of a read asked for with {@linkcode ReadBuffer.target}, or
   * it is too small to be worth a copy, or too large for the buffer.
   */
  filled(chunk: Uint8Array): Uint8Array | undefined {
    if (!this.#asked) return undefined;
    this.#asked = false;
    const offered = this.#offered;
    this.#offered = undefined;
    const size = chunk.byteLength;
    this.#reads++;
    if (size > this.#largest) this.#largest = size;
    if (
      offered !== undefined && chunk.buffer === offered.buffer &&
      chunk.byteOffset === offered.byteOffset
    ) {
      // A read that filled all it was offered may have left bytes behind.
      if (size === offered.byteLength && this.#size < MAX_SIZE) {
        this.#size *= 2;
      }
      this.#used += size;
      this.#hold();
      return chunk;
    }
    if (size < COPY_MIN || size > MAX_SIZE) return undefined;
    while (this.#size < size) this.#size *= 2;
    const room = this.#room(this.#rewind, size);
    room.set(chunk);
    this.#used += size;
    this.#hold();
    return size === room.byteLength ? room : room.subarray(0, size);
  }

  #hold(): void {
    this.#views ??= [];
    this.#viewAt = 0;
  }

  /**
   * The view of a frame in the chunk {@linkcode ReadBuffer.filled} returned,
   * for the decoder (`LendingSink`): the view of the frame in the same
   * order in the chunk before, when it lay at the same place, or a new one.
   * Outside such a chunk, always a new one.
   */
  view(
    buffer: ArrayBufferLike,
    byteOffset: number,
    byteLength: number,
  ): Uint8Array {
    const at = this.#viewAt;
    if (at < 0 || at >= MAX_VIEWS) {
      return new Uint8Array(buffer, byteOffset, byteLength);
    }
    this.#viewAt = at + 1;
    const views = this.#views!;
    const view = views[at];
    if (
      view !== undefined && view.byteOffset === byteOffset &&
      view.byteLength === byteLength
    ) {
      return view;
    }
    return views[at] = new Uint8Array(buffer, byteOffset, byteLength);
  }

  /** Takes note that the chunk `filled()` returned is decoded. */
  decoded(): void {
    this.#viewAt = -1;
  }
}
