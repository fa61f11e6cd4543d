/**
 * Messaging on top of frames: request/reply with many requests in flight on
 * one connection, replies in any order, server push, heartbeats that cannot
 * collide with data, and a graceful goaway when a server shuts down. Both
 * ends first exchange a hello with the protocol's version, so incompatible
 * peers fail clearly instead of misreading each other.
 *
 * The raw framing of {@linkcode listen} and {@linkcode connect} stays as it
 * is; this layer is opt-in, and both of its ends must use it.
 *
 * ```ts
 * import { createMessageClient, listenMessages } from "@tether/tcp/messaging";
 * import assert from "node:assert/strict";
 *
 * await using server = await listenMessages({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   onRequest: (payload) => new TextDecoder().decode(payload).toUpperCase(),
 * });
 * await using client = createMessageClient({ port: server.addr.port });
 * const reply = await client.request("hello");
 * assert.equal(new TextDecoder().decode(reply), "HELLO");
 * ```
 *
 * @module
 */
export { createMessageClient, MessageClient } from "./message_client.ts";
export type {
  MessageClientOptions,
  MessageSession,
  RequestOptions,
} from "./message_client_options.ts";
export { listenMessages } from "./message_server.ts";
export type {
  MessagePeer,
  MessageServer,
  MessageServerOptions,
  Reply,
  RequestHandler,
} from "./message_server.ts";
export {
  ProtocolError,
  ProtocolVersionError,
  RemoteError,
  RequestInterruptedError,
  RequestTimeoutError,
  TooManyRequestsError,
} from "./errors.ts";
