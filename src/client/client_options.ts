import type { Clock } from "../clock.ts";
import type { ConnectOptions } from "../connection/connect.ts";
import type { Connection } from "../connection/connection.ts";
import type { HeartbeatOptions } from "../connection/heartbeat.ts";
import type { ReconnectOptions } from "./reconnect_policy.ts";
import type { QueueOptions } from "./send_queue.ts";

/**
 * Options for {@linkcode createClient}.
 *
 * @example A line client with heartbeats and a greeting
 * ```ts
 * import { type ClientOptions, createClient, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   framing: "line",
 *   heartbeat: true,
 *   handler: async (conn) => {
 *     for await (const line of conn) conn.send(line);
 *   },
 * });
 * const options: ClientOptions = {
 *   port: server.addr.port,
 *   framing: "line",
 *   reconnect: { minTimeout: 100, maxAttempts: 5 },
 *   heartbeat: { interval: 5000, timeout: 2000 },
 *   queue: { maxLength: 100 },
 *   onConnect: (conn) => conn.send("HELLO"),
 * };
 * await using client = createClient(options);
 * for await (const line of client) {
 *   assert.equal(new TextDecoder().decode(line), "HELLO");
 *   break;
 * }
 * ```
 */
export interface ClientOptions extends Omit<ConnectOptions, "signal"> {
  /** Aborting it closes the client at once, rejecting what is unsent. */
  signal?: AbortSignal;
  /**
   * The reconnection policy, or `false` to close the client when its first
   * connection fails or ends.
   *
   * @default {{}}
   */
  reconnect?: ReconnectOptions | false;
  /**
   * Heartbeats that detect half-open links, or `false` for none. The server
   * must answer pings (see `ListenOptions.heartbeat`).
   *
   * @default {false}
   */
  heartbeat?: HeartbeatOptions | false;
  /** Limits of the queue that holds frames sent while disconnected. */
  queue?: QueueOptions;
  /**
   * Runs after each (re)connection, before queued frames are sent and before
   * the state becomes `open`: re-announce a session, authenticate,
   * resubscribe. If it throws, the connection is dropped and the error is
   * handled like a failed attempt. The connection ending, the client
   * closing or `openTimeout` passing fails the attempt without waiting for
   * it.
   */
  onConnect?: (conn: Connection) => void | Promise<void>;
  /**
   * Milliseconds that `onConnect`, and the opening of a protocol built on
   * the client (the messaging handshake), may take before the attempt fails
   * with {@linkcode OpenTimeoutError} and the connection is aborted.
   *
   * @default {30000}
   */
  openTimeout?: number;
  /**
   * The time source of the client's own waits: backoff, heartbeats and the
   * connect and open timeouts. A connection's limits keep the system clock.
   *
   * @default {the system clock}
   */
  clock?: Clock;
  /**
   * The random source of the backoff jitter, returning numbers in [0, 1).
   *
   * @default {Math.random}
   */
  random?: () => number;
}
