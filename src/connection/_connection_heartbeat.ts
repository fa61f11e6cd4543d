import type { Clock } from "../clock.ts";
import { type HeartbeatTimeoutError, WriteBufferFullError } from "../errors.ts";
import type { FrameWriter } from "./frame_writer.ts";
import { Heartbeat, type HeartbeatTarget } from "./heartbeat.ts";
import type { HeartbeatFrames } from "./options.ts";

/** What the heartbeat of a connection needs of it. */
interface Host {
  abort(reason: unknown): void;
}

/** What the heartbeat of a connection needs of its reader. */
interface Reading {
  readonly waitingSince: number | undefined;
}

/**
 * The heartbeat frames of one connection: answers pings and reports pongs,
 * and, given an interval and a timeout, probes a silent peer. It is the
 * probe's target itself, so a connection pays no closure per callback.
 */
export class ConnectionHeartbeat implements HeartbeatTarget {
  /** Pings a silent peer, for frames given an interval and a timeout. */
  readonly probe: Heartbeat | undefined;
  #ping: Uint8Array;
  #pong: Uint8Array;
  #onPong: (() => void) | undefined;
  #host: Host;
  #reader: Reading;
  #writer: FrameWriter;

  constructor(
    frames: HeartbeatFrames,
    host: Host,
    reader: Reading,
    writer: FrameWriter,
    clock: Clock,
  ) {
    this.#ping = frames.ping;
    this.#pong = frames.pong;
    this.#onPong = frames.onPong;
    this.#host = host;
    this.#reader = reader;
    this.#writer = writer;
    const { interval = 0, timeout = 0 } = frames;
    if (interval > 0 && timeout > 0) {
      this.probe = new Heartbeat({ interval, timeout }, clock, this);
    }
  }

  /** Takes a ping or a pong out of the frames: true for one it consumed. */
  take(frame: Uint8Array): boolean {
    if (equalBytes(frame, this.#ping)) {
      this.#send(this.#pong);
      return true;
    }
    if (equalBytes(frame, this.#pong)) {
      this.probe?.pong();
      this.#onPong?.();
      return true;
    }
    return false;
  }

  /** Sends a ping, for the probe. */
  ping(): void {
    this.#send(this.#ping);
  }

  /** Round trips are not reported on a plain connection. */
  rtt(): void {}

  /** Aborts the connection, for the probe. */
  dead(error: HeartbeatTimeoutError): void {
    this.#host.abort(error);
  }

  /**
   * Whether silence is the peer's, for the probe: a pong queued behind a
   * backlog the peer still reads is late, not missing.
   */
  listening(): boolean {
    return this.#reader.waitingSince !== undefined &&
      this.#writer.queued === 0;
  }

  #send(frame: Uint8Array): void {
    try {
      void this.#writer.enqueue(frame);
    } catch (error) {
      // A closed write side has nobody left to answer; a full one ends it.
      if (error instanceof WriteBufferFullError) this.#host.abort(error);
    }
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
