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
export { connect, DEFAULT_CONNECT_TIMEOUT } from "./src/connection/connect.ts";
export {
  Client,
  createClient,
  isRetriable,
  StatusEvent,
} from "./src/client/client.ts";
export type {
  ClientCloseReason,
  ClientOptions,
  ClientState,
  ClientStatus,
  ReconnectOptions,
} from "./src/client/client.ts";
export {
  backoffDelay,
  DEFAULT_BACKOFF,
  resolveBackoff,
} from "./src/client/backoff.ts";
export type { BackoffOptions, ResolvedBackoffOptions } from "./src/client/backoff.ts";
export {
  DEFAULT_HEARTBEAT_INTERVAL,
  DEFAULT_HEARTBEAT_TIMEOUT,
} from "./src/connection/heartbeat.ts";
export type { HeartbeatOptions } from "./src/connection/heartbeat.ts";
export { DEFAULT_QUEUE_BYTES, DEFAULT_QUEUE_LENGTH } from "./src/client/send_queue.ts";
export type { QueueOptions } from "./src/client/send_queue.ts";
export { systemClock } from "./src/clock.ts";
export type { Clock } from "./src/clock.ts";
export type { ConnectOptions } from "./src/connection/connect.ts";
export {
  DEFAULT_FRAME_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_SHUTDOWN_TIMEOUT,
  listen,
} from "./src/server/server.ts";
export type { ConnectionHandler, ListenOptions, Server } from "./src/server/server.ts";
export { Connection, DEFAULT_MAX_WRITE_BUFFER } from "./src/connection/connection.ts";
export type {
  BatchOptions,
  ConnectionLimits,
  ConnectionOptions,
  HeartbeatFrames,
} from "./src/connection/connection.ts";
export type { FramingOption } from "./src/_options.ts";
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
  ProtocolError,
  ProtocolVersionError,
  QueueFullError,
  ReconnectError,
  RemoteError,
  RequestInterruptedError,
  RequestTimeoutError,
  TetherError,
  TooManyRequestsError,
  WriteBufferFullError,
} from "./src/errors.ts";
export type {
  NetErrorCode,
  NetOperation,
  TetherErrorCode,
} from "./src/errors.ts";
export {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_MAX_LINE_LENGTH,
  encodeFrame,
  fixedSize,
  FixedSizeDecoderStream,
  FixedSizeEncoderStream,
  FrameDecoderStream,
  FrameEncoderStream,
  lengthPrefixed,
  LengthPrefixedDecoderStream,
  LengthPrefixedEncoderStream,
  LineDecoderStream,
  lineDelimited,
  LineEncoderStream,
} from "./src/framing/mod.ts";
export type {
  FrameDecoder,
  FrameSink,
  Framing,
  LengthPrefixedOptions,
  LineDelimitedOptions,
} from "./src/framing/mod.ts";
export {
  createMessageClient,
  decodeEnvelope,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_MAX_CONCURRENCY,
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_REQUEST_TIMEOUT,
  encodeEnvelope,
  listenMessages,
  MessageClient,
  PROTOCOL_VERSION,
} from "./src/messaging/mod.ts";
export type {
  Envelope,
  MessageClientOptions,
  MessagePeer,
  MessageServer,
  MessageServerOptions,
  MessageSession,
  Reply,
  RequestHandler,
  RequestOptions,
} from "./src/messaging/mod.ts";
export { detectRuntime } from "./src/runtime/detect.ts";
export type {
  ChunkSink,
  Conn,
  Listener,
  NetAddr,
  Runtime,
  RuntimeConnectOptions,
  RuntimeListenOptions,
  TlsConnectOptions,
  TlsListenOptions,
} from "./src/runtime/types.ts";
