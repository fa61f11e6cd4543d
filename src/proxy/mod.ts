/**
 * The PROXY protocol, versions 1 and 2, as HAProxy defines it: a load
 * balancer that forwards TCP tells the server who the client is in a header
 * before the client's bytes.
 *
 * tether reads it with `listen({ proxyProtocol })` and sends it with
 * `connect({ proxyHeader })`; this module has their types, the error, and
 * the parser and encoder for use on their own.
 *
 * ```ts
 * import { connect, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   proxyProtocol: { trusted: ["127.0.0.1"] },
 *   handler: async (conn) => {
 *     await conn.send(`hello ${conn.remoteAddr.hostname}`);
 *   },
 * });
 * await using conn = await connect({
 *   port: server.addr.port,
 *   proxyHeader: {
 *     source: { hostname: "203.0.113.7", port: 51234 },
 *     destination: { hostname: "127.0.0.1", port: server.addr.port },
 *   },
 * });
 * for await (const frame of conn) {
 *   assert.equal(new TextDecoder().decode(frame), "hello 203.0.113.7");
 * }
 * ```
 *
 * @module
 */
export { encodeProxyHeader } from "./encoder.ts";
export {
  MAX_V1_HEADER_SIZE,
  MAX_V2_HEADER_SIZE,
  parseProxyHeader,
  ProxyHeaderParser,
} from "./parser.ts";
export type {
  ProxyHeaderInit,
  ProxyInfo,
  ProxyParseResult,
  ProxyParserOptions,
  ProxySsl,
  ProxyTlv,
  ProxyTransport,
} from "./types.ts";
export { ProxyProtocolError, type ProxyProtocolErrorCode } from "./errors.ts";
export type { ProxyProtocolOptions } from "./options.ts";
