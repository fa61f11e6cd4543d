import type { Connection } from "../connection/connection.ts";
import { FrameQueue } from "../connection/_frame_queue.ts";
import type { Heartbeat } from "../connection/heartbeat.ts";
import type { WriteHold } from "../connection/write_hold.ts";
import { ConnectionClosedError } from "../errors.ts";

/**
 * Sees each incoming frame, with the connection it came on, before the
 * client's stream; returns true for a frame it consumed.
 */
export type FrameFilter = (frame: Uint8Array, conn: Connection) => boolean;

// Frames received but not yet read by the application; past this the
// client stops reading and TCP pushes back on the server.
const INBOX_SIZE = 1024;

/**
 * The frames of every connection of a client, on their way to the
 * application: a pump moves them in from each connection in turn, holding
 * the connection's replies while the application still has frames to
 * answer, and stops reading while the application falls behind.
 */
export class Inbox {
  #frames = new FrameQueue();
  // The application took a frame and has not asked for the next one yet.
  #handedOut = false;
  // The pump is moving a frame from the connection to the inbox.
  #inTransit = false;
  #roomMade: (() => void) | undefined;
  #openHold: () => WriteHold | undefined;

  /** @param openHold The write hold of the open connection, if any. */
  constructor(openHold: () => WriteHold | undefined) {
    this.#openHold = openHold;
  }

  /** The next frame: one resolved promise when the inbox holds one. */
  next(): Promise<IteratorResult<Uint8Array>> {
    return this.#take(false) as Promise<IteratorResult<Uint8Array>>;
  }

  /** Every frame in the inbox, at least one: one promise per batch. */
  nextBatch(): Promise<IteratorResult<Uint8Array[], undefined>> {
    return this.#take(true) as Promise<
      IteratorResult<Uint8Array[], undefined>
    >;
  }

  /** Drops the frames not yet taken. */
  clear(): void {
    this.#frames.clear();
  }

  /** Ends the stream once the frames before are taken, with `error` if any. */
  end(error: unknown): void {
    this.#frames.end(error);
  }

  /** Takes the next frame, or with `batch` every frame, from the inbox. */
  #take(
    batch: boolean,
  ): Promise<IteratorResult<Uint8Array | Uint8Array[], undefined>> {
    this.#handedOut = false;
    const frames = this.#frames;
    const queued = frames.size;
    // Frames received before the end are all delivered first.
    const taken = batch ? frames.takeBatch() : frames.take();
    if (taken) {
      if (queued > 0) {
        this.#handedOut = true;
        this.#madeRoom();
      }
      return taken;
    }
    // The application has answered every frame it had: its replies go.
    if (!this.#inTransit) this.#openHold()?.release();
    if (!batch) return frames.wait();
    return frames.waitBatch().then((result) => {
      // A batch past the inbox's bound may have stopped the pump.
      if (!result.done) this.#madeRoom();
      return result;
    });
  }

  /** Wakes the pump if it waits for room in the inbox, and there is some. */
  #madeRoom(): void {
    // Waking it for every frame taken would let a whole read in each time.
    if (this.#frames.size >= INBOX_SIZE) return;
    this.#roomMade?.();
    this.#roomMade = undefined;
  }

  /**
   * Moves the frames of `conn` that `filter` leaves into the inbox until the
   * connection ends.
   *
   * @param conn The connection.
   * @param hold The connection's write hold.
   * @param filter Takes the frames of a protocol built on the client.
   * @param beat The connection's heartbeat, suspended while the inbox is full.
   * @returns What ended the connection.
   */
  async pump(
    conn: Connection,
    hold: WriteHold,
    filter: FrameFilter | undefined,
    beat: Heartbeat | undefined,
  ): Promise<unknown> {
    // A batch per read: a promise per frame here would be paid again by an
    // application that reads the inbox in batches.
    const batches = conn.batches();
    const frames = this.#frames;
    // A frame the application is handling, or still has to take from the
    // inbox, may be answered: the connection holds its replies until the
    // application comes back for more and finds none.
    hold.hold(() => this.#handedOut || this.#inTransit || frames.size > 0);
    const ended = new Promise<void>((resolve) => {
      if (conn.signal.aborted) resolve();
      conn.signal.addEventListener("abort", () => resolve(), { once: true });
    });
    try {
      while (true) {
        this.#inTransit = hold.hasFrames;
        const { value, done } = await batches.next();
        this.#inTransit = false;
        if (done) {
          return conn.signal.aborted
            ? conn.signal.reason
            : new ConnectionClosedError("read", {
              cause: new Error("The server closed the connection"),
            });
        }
        for (const frame of value) {
          if (!filter?.(frame, conn)) frames.push(frame);
        }
        if (frames.wake()) this.#handedOut = true;
        // The inbox may pass its bound by one batch: what one read brought.
        if (frames.size >= INBOX_SIZE) {
          // The application is not reading: that silence is not the peer's.
          beat?.suspend();
          await Promise.race([
            new Promise<void>((resolve) => this.#roomMade = resolve),
            ended,
          ]);
          beat?.resume();
        }
      }
    } catch (error) {
      this.#inTransit = false;
      return error;
    }
  }
}
