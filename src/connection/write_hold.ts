import type { FrameReader } from "./frame_reader.ts";
import type { FrameWriter } from "./frame_writer.ts";

/**
 * Holds a connection's outgoing batch while replies are still coming: while
 * its reader holds received frames, and while a layer that takes frames out
 * of the connection before the application reads them (a client's inbox)
 * says it still has some to hand out. Each connection has one; a layer above
 * passes its own in to reach it.
 */
export class WriteHold {
  #reader: FrameReader | undefined;
  #writer: FrameWriter | undefined;
  #backlog: (() => boolean) | undefined;

  /** Wires the hold to the reader and writer of the connection it serves. */
  attach(reader: FrameReader, writer: FrameWriter): void {
    this.#reader = reader;
    this.#writer = writer;
  }

  /**
   * Holds writes while `backlog()` is true too. The layer calls
   * {@linkcode WriteHold.release} once the application finds it empty.
   */
  hold(backlog: () => boolean): void {
    this.#backlog = backlog;
  }

  /** Whether the connection holds received frames not yet taken from it. */
  get hasFrames(): boolean {
    return this.#reader?.buffered ?? false;
  }

  /** The application ran out of frames to answer: what is held goes. */
  release(): void {
    // Frames still in the connection will be answered too: its reader's
    // running dry releases the writes then.
    if (this.#reader && !this.#reader.buffered) this.#writer!.uncork();
  }

  /** Whether more replies are coming, for the writer. */
  held(): boolean {
    return this.#reader!.buffered || (this.#backlog?.() ?? false);
  }

  /** The reader found no frame waiting, for the reader. */
  dry(): void {
    if (!this.#backlog?.()) this.#writer!.uncork();
  }
}
