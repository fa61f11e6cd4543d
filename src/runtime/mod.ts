/**
 * What a runtime adapter provides, for code that works with raw sockets or
 * brings a runtime of its own: {@linkcode detectRuntime} picks the adapter of
 * the runtime it runs on, and the types describe the byte connections that
 * `Connection` frames.
 *
 * @example Framing a raw runtime connection
 * ```ts
 * import { Connection } from "@tether/tcp";
 * import { detectRuntime } from "@tether/tcp/runtime";
 * import assert from "node:assert/strict";
 *
 * const runtime = await detectRuntime();
 * const listener = await runtime.listen({ hostname: "127.0.0.1", port: 0 });
 * const raw = await runtime.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * await using peer = new Connection((await listener.accept())!);
 * listener.close();
 *
 * await using conn = new Connection(raw);
 * await peer.send("hi");
 * for await (const frame of conn) {
 *   assert.equal(new TextDecoder().decode(frame), "hi");
 *   break;
 * }
 * ```
 *
 * @module
 */
export { detectRuntime } from "./detect.ts";
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
} from "./types.ts";
export type { NetOperation } from "../errors.ts";
