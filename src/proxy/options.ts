/**
 * The options of a server that reads PROXY protocol headers.
 *
 * @module
 */

/** The default of {@linkcode ProxyProtocolOptions.timeout}: 3 seconds. */
export const DEFAULT_PROXY_TIMEOUT = 3000;

/**
 * How a server reads the PROXY protocol header that a load balancer (HAProxy,
 * AWS NLB, ...) sends before the client's bytes, for
 * `listen({ proxyProtocol })`.
 *
 * Each connection's header is read before any framing (and, with `tls`,
 * before the handshake); `Connection.remoteAddr` is then the original
 * client, and `Connection.proxy` the whole header. A connection whose header
 * is refused is closed, its {@linkcode ProxyProtocolError} goes to `onError`
 * (without a connection) and nothing else is affected. A connection that
 * ends before its first byte, such as a load balancer's health check, is
 * closed without a report.
 *
 * @example Behind HAProxy on the same host
 * ```ts
 * import { listen } from "@tether/tcp";
 * import type { ProxyProtocolOptions } from "@tether/tcp/proxy";
 *
 * const proxyProtocol: ProxyProtocolOptions = {
 *   trusted: ["127.0.0.1", "::1"],
 *   timeout: 5000,
 * };
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   proxyProtocol,
 *   handler: (conn) => console.log(conn.remoteAddr, conn.proxy?.version),
 * });
 * ```
 */
export interface ProxyProtocolOptions {
  /**
   * The proxies allowed to send headers: IP addresses or networks, such as
   * `10.0.0.0/8` or `fd00::/8`. An IPv4 network also matches its addresses
   * IPv4-mapped (`::ffff:10.0.0.1`). A header from any other peer is
   * refused with `PROXY_UNTRUSTED`.
   */
  trusted: readonly string[];
  /**
   * The versions accepted; another is refused with `PROXY_INVALID`.
   *
   * @default {[1, 2]}
   */
  versions?: readonly (1 | 2)[];
  /**
   * Milliseconds from accepting a connection to the end of its header (and,
   * with `tls`, of the handshake after it); a connection still incomplete is
   * closed with `PROXY_TIMEOUT`; `0` waits as long as the peer does.
   *
   * @default {3000}
   */
  timeout?: number;
  /**
   * Whether a trusted proxy must send a header. With `false`, a trusted
   * peer's connection that does not start with one is served with the
   * peer's own address, and so is any untrusted peer's unless it sends a
   * header. With `true`, a connection from an untrusted peer is refused
   * with `PROXY_UNTRUSTED` before anything is read, and one without a header
   * with `PROXY_MISSING`. With `false`, a client that waits for the server
   * to speak first is closed after `timeout`, and a proxy that ever forwards
   * a connection without a header lets its client claim any address.
   *
   * @default {true}
   */
  required?: boolean;
  /**
   * The largest version 2 header accepted, in bytes, 16 to 65 551: only that
   * much is ever held for a header. Version 1 headers are at most 107 bytes.
   *
   * @default {65551}
   */
  maxHeaderSize?: number;
}
