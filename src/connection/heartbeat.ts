import type { Clock } from "../clock.ts";
import { HeartbeatTimeoutError } from "../errors.ts";

/**
 * Options for the client's heartbeats.
 *
 * @example Measuring the round-trip time with custom pings
 * ```ts
 * import { createClient, type HeartbeatOptions, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   heartbeat: { ping: "ping?", pong: "pong!" },
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.send(frame);
 *   },
 * });
 * const heartbeat: HeartbeatOptions = {
 *   interval: 20,
 *   timeout: 1000,
 *   ping: "ping?",
 *   pong: "pong!",
 * };
 * const client = createClient({ port: server.addr.port, heartbeat });
 * for await (const status of client.statuses()) {
 *   if (status.rtt !== undefined) break; // the server answered a ping
 * }
 * assert.equal(typeof client.status.rtt, "number");
 * await client.close();
 * ```
 */
export interface HeartbeatOptions {
  /**
   * Milliseconds without any incoming frame after which a ping is sent, at
   * least 1. A link that carries traffic is never pinged.
   *
   * @default {30000}
   */
  interval?: number;
  /**
   * Milliseconds to wait for any frame after a ping before the link is
   * declared dead with {@linkcode HeartbeatTimeoutError}, at least 1.
   *
   * @default {10000}
   */
  timeout?: number;
  /**
   * The payload of a ping frame, sent as is in the connection's framing.
   *
   * @default {"PING"}
   */
  ping?: Uint8Array | string;
  /**
   * The payload of the answer to a ping.
   *
   * @default {"PONG"}
   */
  pong?: Uint8Array | string;
}

/** The default heartbeat interval: 30 seconds. */
export const DEFAULT_HEARTBEAT_INTERVAL = 30_000;
/** The default heartbeat timeout: 10 seconds. */
export const DEFAULT_HEARTBEAT_TIMEOUT = 10_000;

/** What a {@linkcode Heartbeat} does to its connection. */
export interface HeartbeatTarget {
  /** Sends a ping frame. */
  ping(): void;
  /** Reports a round-trip time in milliseconds, measured by a pong. */
  rtt(ms: number): void;
  /** The link is dead: tear it down with `error`. */
  dead(error: HeartbeatTimeoutError): void;
  /**
   * Whether the connection reads now, so that silence is the peer's; while
   * it does not, no ping goes out and no timeout fires.
   */
  listening?(): boolean;
}

/**
 * Watches one connection for signs of life. Any incoming frame counts; a ping
 * goes out only after `interval` of silence, and silence for `timeout` after
 * it declares the link dead. The monitor lives as long as `signal`, on one
 * timer that traffic never touches and that never keeps the process alive.
 */
export class Heartbeat {
  #interval: number;
  #timeout: number;
  #clock: Clock;
  #target: HeartbeatTarget;
  #lastActivity: number;
  #pingSentAt: number | undefined;
  #timer: unknown;
  #stopped = false;
  #suspended = false;
  // Whether the timeout has given reading its one last turn.
  #lastLook = false;

  constructor(
    options: { interval: number; timeout: number },
    clock: Clock,
    target: HeartbeatTarget,
    signal?: AbortSignal,
  ) {
    this.#interval = options.interval;
    this.#timeout = options.timeout;
    this.#clock = clock;
    this.#target = target;
    this.#lastActivity = clock.now();
    if (signal?.aborted) {
      this.#stopped = true;
      return;
    }
    signal?.addEventListener("abort", () => this.stop(), { once: true });
    this.#arm(this.#interval);
  }

  /** Records that something arrived. */
  activity(): void {
    this.#lastActivity = this.#clock.now();
  }

  /**
   * Stops expecting traffic: the application is not reading, so silence
   * proves nothing. No ping goes out and no timeout fires until `resume`.
   */
  suspend(): void {
    this.#suspended = true;
  }

  /** Expects traffic again, counting from now. */
  resume(): void {
    this.#suspended = false;
    this.#pingSentAt = undefined;
    this.activity();
  }

  /** Records a pong: something arrived, and the round trip is known. */
  pong(): void {
    const now = this.#clock.now();
    this.#lastActivity = now;
    if (this.#pingSentAt !== undefined) {
      this.#target.rtt(now - this.#pingSentAt);
    }
  }

  #arm(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => this.#check(), ms, false);
  }

  #check(): void {
    const now = this.#clock.now();
    if (this.#suspended) {
      this.#arm(this.#interval);
      return;
    }
    if (this.#target.listening?.() === false) {
      // A pong may wait unread: the next round starts from now.
      this.#pingSentAt = undefined;
      this.#lastActivity = now;
      this.#arm(this.#interval);
      return;
    }
    const pinged = this.#pingSentAt;
    if (pinged !== undefined && this.#lastActivity < pinged) {
      if (now - pinged < this.#timeout) {
        this.#arm(pinged + this.#timeout - now);
      } else if (!this.#lastLook) {
        // A stalled event loop runs timers before reading: a pong that came
        // meanwhile waits unread, so reading gets one turn first.
        this.#lastLook = true;
        this.#arm(0);
      } else {
        this.stop();
        this.#target.dead(new HeartbeatTimeoutError(this.#timeout));
      }
      return;
    }
    const silent = now - this.#lastActivity;
    if (silent < this.#interval) {
      this.#pingSentAt = undefined;
      this.#arm(this.#interval - silent);
      return;
    }
    this.#pingSentAt = now;
    this.#lastLook = false;
    this.#target.ping();
    this.#arm(this.#timeout);
  }

  /** Stops for good: no ping, no timeout, no timer left behind. */
  stop(): void {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
  }
}
