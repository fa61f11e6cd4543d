import type { NetAddr } from "../runtime/types.ts";

/**
 * The transport and address family a header announces. `UNKNOWN` is version
 * 1's `UNKNOWN` and version 2's `AF_UNSPEC`: the addresses are not given.
 */
export type ProxyTransport =
  | "TCP4"
  | "TCP6"
  | "UDP4"
  | "UDP6"
  | "UNIX_STREAM"
  | "UNIX_DGRAM"
  | "UNKNOWN";

/** One type-length-value field of a version 2 header, as sent. */
export interface ProxyTlv {
  /** The type, `0x00` to `0xff`: `0xe0` to `0xef` are for applications. */
  readonly type: number;
  /** The value, up to 65 535 bytes. */
  readonly value: Uint8Array;
}

/** The `PP2_TYPE_SSL` field: how the client reached the proxy over TLS. */
export interface ProxySsl {
  /**
   * The `client` bits: `0x01` the client connected over TLS, `0x02` it
   * presented a certificate on this connection, `0x04` in this session.
   */
  readonly client: number;
  /** The `verify` field: `0` when the client's certificate was verified. */
  readonly verify: number;
  /** The TLS version, such as `TLSv1.3` (`PP2_SUBTYPE_SSL_VERSION`). */
  readonly version?: string;
  /** The Common Name of the client's certificate (`PP2_SUBTYPE_SSL_CN`). */
  readonly cn?: string;
  /** The cipher, such as `ECDHE-RSA-AES128-GCM-SHA256`. */
  readonly cipher?: string;
  /** The algorithm that signed the proxy's certificate, such as `SHA256`. */
  readonly sigAlg?: string;
  /** The algorithm of the proxy's certificate's key, such as `RSA2048`. */
  readonly keyAlg?: string;
  /** Every sub-field, as sent, the ones above included. */
  readonly tlvs: readonly ProxyTlv[];
}

/**
 * What a PROXY protocol header says about a connection. It is also a valid
 * {@linkcode ProxyHeaderInit}, so a proxy can pass a header on.
 *
 * @example The header HAProxy's `send-proxy` writes
 * ```ts
 * import { parseProxyHeader } from "@tether/tcp/proxy";
 * import assert from "node:assert/strict";
 *
 * const bytes = new TextEncoder().encode(
 *   "PROXY TCP4 203.0.113.7 10.0.0.2 51234 7000\r\n",
 * );
 * const header = parseProxyHeader(bytes);
 * assert.equal(header?.length, bytes.byteLength);
 * assert.deepEqual(header?.info.source, { hostname: "203.0.113.7", port: 51234 });
 * ```
 */
export interface ProxyInfo {
  /** The version of the header: 1 (text) or 2 (binary). */
  readonly version: 1 | 2;
  /**
   * `PROXY` for a relayed connection; `LOCAL` for one the proxy opened
   * itself, such as a health check (version 2 only): its addresses are the
   * real ends of the connection.
   */
  readonly command: "PROXY" | "LOCAL";
  /** The transport and address family announced. */
  readonly transport: ProxyTransport;
  /**
   * The original client: the address a server reports as
   * `Connection.remoteAddr`. `undefined` for `LOCAL` and `UNKNOWN`. A
   * `UNIX_*` transport gives `{ transport: "unix", path }`.
   */
  readonly source: NetAddr | undefined;
  /** The address the client connected to, as `source`. */
  readonly destination: NetAddr | undefined;
  /** The application protocol (`PP2_TYPE_ALPN`), such as `h2`. */
  readonly alpn?: string;
  /** The host name the client asked for (`PP2_TYPE_AUTHORITY`: TLS SNI). */
  readonly authority?: string;
  /** The proxy's opaque id of the connection (`PP2_TYPE_UNIQUE_ID`). */
  readonly uniqueId?: Uint8Array;
  /** How the client reached the proxy over TLS (`PP2_TYPE_SSL`). */
  readonly ssl?: ProxySsl;
  /** The proxy's network namespace (`PP2_TYPE_NETNS`). */
  readonly netns?: string;
  /**
   * Every type-length-value field, as sent and in order, the decoded ones
   * included. A `PP2_TYPE_CRC32C` field has been checked.
   */
  readonly tlvs: readonly ProxyTlv[];
}

/**
 * A header to send, for {@linkcode encodeProxyHeader} and
 * `connect({ proxyHeader })`. A {@linkcode ProxyInfo} is one.
 *
 * @example A version 2 header with an application field
 * ```ts
 * import { encodeProxyHeader, type ProxyHeaderInit } from "@tether/tcp/proxy";
 * import assert from "node:assert/strict";
 *
 * const init: ProxyHeaderInit = {
 *   source: { hostname: "2001:db8::7", port: 51234 },
 *   destination: { hostname: "2001:db8::1", port: 443 },
 *   authority: "example.com",
 *   tlvs: [{ type: 0xe0, value: new Uint8Array([1]) }],
 *   crc32c: true,
 * };
 * assert.equal(encodeProxyHeader(init)[12], 0x21); // version 2, PROXY
 * ```
 */
export interface ProxyHeaderInit {
  /**
   * The version to write.
   *
   * @default {2}
   */
  version?: 1 | 2;
  /**
   * `PROXY` relays `source` and `destination`; `LOCAL` says the connection
   * is the proxy's own, and sends no addresses (version 1 writes
   * `PROXY UNKNOWN`).
   *
   * @default {"PROXY"}
   */
  command?: "PROXY" | "LOCAL";
  /**
   * The transport to announce.
   *
   * @default {TCP4 or TCP6 from the addresses, UNIX_STREAM for Unix sockets, UNKNOWN without addresses}
   */
  transport?: ProxyTransport;
  /** The original client. Without it, the header says `UNKNOWN`. */
  source?: NetAddr | undefined;
  /** The address the client connected to, required with `source`. */
  destination?: NetAddr | undefined;
  /** A `PP2_TYPE_ALPN` field (version 2). */
  alpn?: string;
  /** A `PP2_TYPE_AUTHORITY` field (version 2). */
  authority?: string;
  /** A `PP2_TYPE_UNIQUE_ID` field of up to 128 bytes (version 2). */
  uniqueId?: Uint8Array;
  /** A `PP2_TYPE_NETNS` field (version 2). */
  netns?: string;
  /**
   * More fields (version 2), written after the ones above. A field of a
   * type written from the fields above, or a `PP2_TYPE_CRC32C`, is skipped;
   * `ssl` is not encoded, so pass its field here.
   */
  tlvs?: readonly ProxyTlv[];
  /**
   * Whether to add a `PP2_TYPE_CRC32C` checksum (version 2).
   *
   * @default {false}
   */
  crc32c?: boolean;
}

/** Options of a {@linkcode ProxyHeaderParser}. */
export interface ProxyParserOptions {
  /**
   * The versions to accept; another version is `PROXY_INVALID`.
   *
   * @default {[1, 2]}
   */
  versions?: readonly (1 | 2)[];
  /**
   * The largest version 2 header to accept, in bytes, 16 to 65 551; a larger
   * one is refused as `PROXY_INVALID` before it is read. Version 1 headers
   * are at most 107 bytes.
   *
   * @default {65551}
   */
  maxHeaderSize?: number;
}

/** A complete header, and the bytes of its chunk that follow it. */
export interface ProxyParseResult {
  /** What the header says. */
  readonly info: ProxyInfo;
  /** The rest of the last chunk: the first bytes after the header. */
  readonly rest: Uint8Array;
}
