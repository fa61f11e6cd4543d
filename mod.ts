/**
 * Framed, self-healing TCP for Deno, Bun and Node, with no runtime
 * dependencies.
 *
 * TCP delivers a byte stream: messages stick together or arrive in halves.
 * tether turns it into whole frames (length-prefixed, newline-delimited or
 * fixed-size) on both ends, with one API on every runtime.
 *
 * ```ts
 * import { connect, listen } from "@tether/tcp";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: async (conn) => {
 *     for await (const frame of conn) {
 *       conn.send(`received: ${new TextDecoder().decode(frame)}`);
 *     }
 *   },
 * });
 *
 * await using conn = await connect({ port: server.addr.port });
 * await conn.send("hello");
 * for await (const reply of conn) {
 *   console.log(new TextDecoder().decode(reply)); // "received: hello"
 *   break;
 * }
 * ```
 *
 * @module
 */
export { connect } from "./src/connection/connect.ts";
export type { ConnectOptions } from "./src/connection/connect.ts";
export { listen } from "./src/server/server.ts";
export type {
  ConnectionHandler,
  ListenOptions,
  Server,
} from "./src/server/options.ts";
export { Client, createClient } from "./src/client/client.ts";
export type { ClientOptions } from "./src/client/client_options.ts";
export type { ClientCloseReason, ClientState } from "./src/client/lifecycle.ts";
export {
  isRetriable,
  type ReconnectOptions,
} from "./src/client/reconnect_policy.ts";
export { type ClientStatus, StatusEvent } from "./src/client/status_tracker.ts";
export type { BackoffOptions } from "./src/client/backoff.ts";
export type { QueueOptions } from "./src/client/send_queue.ts";
export type { HeartbeatOptions } from "./src/connection/heartbeat.ts";
export { Connection } from "./src/connection/connection.ts";
export type {
  BatchOptions,
  ConnectionLimits,
  ConnectionOptions,
  HeartbeatFrames,
} from "./src/connection/options.ts";
export type { FramingOption } from "./src/framing/framing_option.ts";
export type { Clock } from "./src/clock.ts";
export type { NetAddr, Runtime } from "./src/runtime/types.ts";
export {
  CloseTimeoutError,
  ConnectionClosedError,
  ConnectTimeoutError,
  FrameRateError,
  FrameTimeoutError,
  FrameTooLargeError,
  FrameTruncatedError,
  HeartbeatTimeoutError,
  IdleTimeoutError,
  InvalidFrameError,
  NetError,
  OpenTimeoutError,
  QueueFullError,
  ReconnectError,
  TetherError,
  WriteBufferFullError,
} from "./src/errors.ts";
export type { NetErrorCode, TetherErrorCode } from "./src/errors.ts";
