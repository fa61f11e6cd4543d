import { BY_REFERENCE_SIZE } from "./frame_writer.ts";

// Reads offered this much room fill it often with small frames: the buffer
// starts here, so that an idle connection waiting to read holds little.
const MIN_SIZE = 1024;
// A read rarely brings more than 64 KiB; frames beyond it are assembled by
// the decoder, in memory of `frame()`. The frames of a batch in this buffer
// must stay smaller than what a writer sends by reference: `send()` copies
// them before the buffer is read into again.
const MAX_SIZE = Math.min(64 * 1024, BY_REFERENCE_SIZE);
// Memory is let go once this many reads went by without needing it, so that
// a burst of large reads or frames does not leave a connection that has
// gone back to small ones holding the burst's memory for good.
const KEEP_READS = 64;

/**
 * The memory a frame reader offers the socket when the application has said
 * that the frames of a batch are not needed once it asks for the next one:
 * the reads go into the same buffer again and again, where every read would
 * otherwise need fresh memory, which costs more than decoding what it holds.
 *
 * A runtime that reads into memory of its own (one that ignores a read's
 * target) has its chunks copied into the buffer instead, when they fit: a
 * small copy, after which the frames lie where the frames of earlier
 * batches lay, so that their views can be handed out again (see
 * `FrameSink.view`). The buffer grows while reads fill it, and shrinks
 * again, as frame memory is dropped, once a run of reads has not needed it.
 */
export class ReadBuffer {
  #buffer: Uint8Array | undefined;
  #used = 0;
  #size = MIN_SIZE;
  #offered: Uint8Array | undefined;
  #frames: ArrayBuffer | undefined;
  // Reads into the buffer since it was last sized, and the largest of them.
  #reads = 0;
  #largest = 0;
  // Reads of other kinds since frame memory was last lent.
  #sinceFrame = 0;

  /**
   * Where the next read should land.
   *
   * @param rewind Whether nothing read into the buffer is in use any more,
   * so the read may start over at its beginning.
   */
  target(rewind: boolean): Uint8Array {
    if (this.#frames !== undefined && ++this.#sinceFrame > KEEP_READS) {
      this.#frames = undefined;
    }
    if (rewind && this.#reads >= KEEP_READS) {
      if (this.#largest * 8 < this.#size && this.#size > MIN_SIZE) {
        this.#size /= 2;
        this.#buffer = undefined;
      }
      this.#reads = this.#largest = 0;
    }
    let buffer = this.#buffer;
    if (
      buffer === undefined || buffer.byteLength < this.#size ||
      // Bytes still in use stay where they are: the read goes after them,
      // into a new buffer once little room is left.
      (!rewind && buffer.byteLength - this.#used < buffer.byteLength / 4)
    ) {
      buffer = this.#buffer = new Uint8Array(this.#size);
      this.#used = 0;
    } else if (rewind) {
      this.#used = 0;
    }
    return this.#offered = this.#used === 0
      ? buffer
      : buffer.subarray(this.#used);
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
   * A bound function, to be handed to `FrameDecoder.readTarget` as it is.
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
   * in the buffer: where they were read to, or a copy when the runtime read
   * them into memory of its own. They are in use until the next rewind.
   * Returns `undefined` when the read was offered no target, or brought
   * more than fits in what it was offered; the chunk is decoded where it is.
   */
  filled(chunk: Uint8Array): Uint8Array | undefined {
    const offered = this.#offered;
    if (offered === undefined) return undefined;
    this.#offered = undefined;
    const size = chunk.byteLength;
    let bytes = chunk;
    if (
      chunk.buffer !== offered.buffer ||
      chunk.byteOffset !== offered.byteOffset
    ) {
      if (size > offered.byteLength) {
        // Room for a chunk like it next time.
        while (this.#size < size && this.#size < MAX_SIZE) this.#size *= 2;
        return undefined;
      }
      offered.set(chunk);
      bytes = offered.subarray(0, size);
    } else if (size === offered.byteLength && this.#size < MAX_SIZE) {
      // A read that filled all it was offered may have left bytes behind.
      this.#size *= 2;
    }
    this.#used += size;
    this.#reads++;
    if (size > this.#largest) this.#largest = size;
    return bytes;
  }
}
