/**
 * Framed, self-healing TCP for Deno and Bun, with no runtime dependencies.
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
export { connect, DEFAULT_CONNECT_TIMEOUT } from "./src/client.ts";
export type { ConnectOptions } from "./src/client.ts";
export {
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_SHUTDOWN_TIMEOUT,
  listen,
} from "./src/server.ts";
export type { ConnectionHandler, ListenOptions, Server } from "./src/server.ts";
export { Connection } from "./src/connection.ts";
export type { ConnectionOptions } from "./src/connection.ts";
export type { FramingOption } from "./src/_options.ts";
export {
  ConnectionClosedError,
  ConnectTimeoutError,
  FrameTooLargeError,
  FrameTruncatedError,
  InvalidFrameError,
  NetError,
  TetherError,
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
export { detectRuntime } from "./src/runtime/detect.ts";
export type {
  Conn,
  Listener,
  NetAddr,
  Runtime,
  RuntimeConnectOptions,
  RuntimeListenOptions,
} from "./src/runtime/types.ts";
