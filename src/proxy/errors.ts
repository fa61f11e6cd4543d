/**
 * The error of the PROXY protocol layer.
 *
 * @module
 */
import { formatAddress, TetherError } from "../errors.ts";
import type { NetAddr } from "../runtime/types.ts";

/**
 * Why a connection was refused for its PROXY protocol header:
 *
 * - `PROXY_UNTRUSTED`: the peer is not one of the `trusted` proxies, and
 *   either sent a header or a header is required.
 * - `PROXY_INVALID`: the header is malformed, larger than allowed, of a
 *   version not accepted, or cut off by the end of the stream.
 * - `PROXY_TIMEOUT`: the header (and, with TLS, the handshake after it) did
 *   not complete within `timeout`.
 * - `PROXY_MISSING`: the first bytes are not a PROXY protocol header, and one
 *   is required.
 */
export type ProxyProtocolErrorCode =
  | "PROXY_UNTRUSTED"
  | "PROXY_INVALID"
  | "PROXY_TIMEOUT"
  | "PROXY_MISSING";

/**
 * A connection was closed before it was served, for its PROXY protocol
 * header; also what the header parser throws. Only that connection is
 * affected; a server reports it to `onError` without a connection.
 *
 * @example Telling the reasons apart
 * ```ts
 * import { ProxyHeaderParser, ProxyProtocolError } from "@tether/tcp/proxy";
 * import assert from "node:assert/strict";
 *
 * const parser = new ProxyHeaderParser();
 * try {
 *   parser.push(new TextEncoder().encode("GET / HTTP/1.1\r\n"));
 * } catch (error) {
 *   assert.ok(error instanceof ProxyProtocolError);
 *   assert.equal(error.code, "PROXY_MISSING");
 * }
 * ```
 */
export class ProxyProtocolError<
  Code extends ProxyProtocolErrorCode = ProxyProtocolErrorCode,
> extends TetherError {
  /** Why the connection was refused. */
  declare readonly code: Code;
  /** The address of the peer that sent the header, when known. */
  readonly remoteAddr: NetAddr | undefined;

  /**
   * Creates the error.
   *
   * @param code Why the connection was refused.
   * @param reason What was wrong, as the end of the message.
   * @param remoteAddr The address of the peer, when known.
   */
  constructor(
    code: Code,
    reason: string,
    remoteAddr?: NetAddr,
    options?: ErrorOptions,
  ) {
    const from = remoteAddr ? ` from ${formatAddress(remoteAddr)}` : "";
    super(code, `Cannot accept the connection${from} as ${reason}`, options);
    this.name = "ProxyProtocolError";
    this.remoteAddr = remoteAddr;
  }
}
