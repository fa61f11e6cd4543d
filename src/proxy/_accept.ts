import type { Clock } from "../clock.ts";
import { checkDuration } from "../_options.ts";
import { NetError } from "../errors.ts";
import type { Conn, NetAddr, Runtime } from "../runtime/types.ts";
import type { ListenOptions } from "../server/options.ts";
import { ProxyProtocolError } from "./errors.ts";
import { ProxyHeaderParser } from "./parser.ts";
import type { ProxyInfo } from "./types.ts";
import { inNetwork, ipKey, type Network, parseNetwork } from "./_ip.ts";
import { DEFAULT_PROXY_TIMEOUT, type ProxyProtocolOptions } from "./options.ts";
import { PrefixedConn } from "./_prefixed_conn.ts";

/** A connection ready to be framed, and what its header said. */
export interface Opened {
  /** The socket, with the bytes read after the header first. */
  conn: Conn;
  /** The header; `undefined` for a connection served without one. */
  proxy: ProxyInfo | undefined;
  /** The original client, or the peer when the header did not name one. */
  remoteAddr: NetAddr;
}

/** The server side of TLS on a plain connection, from the runtime. */
export type TlsAccept = (conn: Conn) => Promise<Conn>;

/**
 * What a server does with a connection before framing it: read its PROXY
 * protocol header, then run the TLS handshake, within one timeout.
 */
export class ProxyOpening {
  #networks: Network[];
  #versions: readonly (1 | 2)[] | undefined;
  #maxHeaderSize: number | undefined;
  #timeout: number;
  #required: boolean;
  #clock: Clock;
  #tls: TlsAccept | undefined;

  /**
   * @throws {TypeError} If `trusted` or `versions` is not valid.
   * @throws {RangeError} If `timeout` or `maxHeaderSize` is out of range.
   */
  constructor(options: ProxyProtocolOptions, clock: Clock, tls?: TlsAccept) {
    const { trusted, timeout = DEFAULT_PROXY_TIMEOUT } = options;
    if (!Array.isArray(trusted)) {
      throw new TypeError(
        `Cannot listen as 'proxyProtocol.trusted' must be an array of addresses or networks: current value is ${typeof trusted}`,
      );
    }
    this.#networks = trusted.map(parseNetwork);
    checkDuration("listen", "proxyProtocol.timeout", timeout);
    this.#timeout = timeout;
    this.#required = options.required ?? true;
    this.#versions = options.versions;
    this.#maxHeaderSize = options.maxHeaderSize;
    // Checks `versions` and `maxHeaderSize` now rather than per connection.
    this.#parser();
    this.#clock = clock;
    this.#tls = tls;
  }

  #parser(): ProxyHeaderParser {
    return new ProxyHeaderParser({
      ...(this.#versions ? { versions: this.#versions } : {}),
      ...(this.#maxHeaderSize !== undefined
        ? { maxHeaderSize: this.#maxHeaderSize }
        : {}),
    });
  }

  #trusts(address: NetAddr): boolean {
    const key = address.transport === "unix"
      ? undefined
      : ipKey(address.hostname);
    return key !== undefined &&
      this.#networks.some((network) => inNetwork(key, network));
  }

  /**
   * Reads the header of `raw` and runs the TLS handshake after it.
   *
   * @returns The connection to frame, or `null` when the peer went away
   * before its first byte (a health check): nothing worth a report.
   * @throws {ProxyProtocolError} If the header is refused; `raw` is closed.
   */
  async open(raw: Conn): Promise<Opened | null> {
    const peer = raw.remoteAddr;
    const trusted = this.#trusts(peer);
    if (!trusted && this.#required) {
      raw.close();
      // Node knows no address of a socket already reset: a health check.
      if (peer.transport !== "unix" && peer.hostname === "") return null;
      throw new ProxyProtocolError(
        "PROXY_UNTRUSTED",
        "the peer is not a trusted proxy",
        peer,
      );
    }
    let timedOut = false;
    let expire: (() => void) | undefined;
    const timer = this.#timeout > 0
      ? this.#clock.setTimeout(
        () => {
          timedOut = true;
          raw.close();
          expire?.();
        },
        this.#timeout,
        false,
      )
      : undefined;
    try {
      let opened = await this.#readHeader(raw, trusted, () => timedOut);
      if (!opened && !timedOut) {
        raw.close();
        return null;
      }
      if (opened && this.#tls) {
        if (timedOut) throw this.#timedOut(peer);
        // The timeout bounds the handshake even if the TLS layer never
        // settles.
        const expired = new Promise<never>((_, reject) =>
          expire = () => reject(this.#timedOut(peer))
        );
        expired.catch(() => {});
        const secure = await Promise.race([this.#tls(opened.conn), expired]);
        opened = { ...opened, conn: secure };
      }
      if (timedOut) throw this.#timedOut(peer);
      return opened;
    } catch (error) {
      raw.close();
      if (timedOut) throw this.#timedOut(peer);
      throw error;
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  #timedOut(peer: NetAddr): ProxyProtocolError {
    return new ProxyProtocolError(
      "PROXY_TIMEOUT",
      `the PROXY protocol header${
        this.#tls ? " and TLS handshake" : ""
      } did not complete within ${this.#timeout} ms`,
      peer,
    );
  }

  async #readHeader(
    raw: Conn,
    trusted: boolean,
    timedOut: () => boolean,
  ): Promise<Opened | null> {
    const peer = raw.remoteAddr;
    const parser = this.#parser();
    // The chunks read, kept only while a connection without a header may
    // still be served: the signature is decided within 12 bytes.
    const seen: Uint8Array[] = [];
    let received = 0;
    const reader = raw.read ? undefined : raw.readable.getReader();
    try {
      for (;;) {
        let chunk: Uint8Array | null;
        try {
          chunk = reader
            ? (await reader.read()).value ?? null
            : await raw.read!();
        } catch (error) {
          // A reset before the first byte is a health check too.
          if (received === 0 || timedOut()) return null;
          throw new ProxyProtocolError(
            "PROXY_INVALID",
            `the connection failed inside the PROXY protocol header`,
            peer,
            { cause: error },
          );
        }
        if (chunk === null) {
          if (received === 0 || timedOut()) return null;
          // Throws: the stream ended inside a signature or a header.
          parser.end();
          throw new ProxyProtocolError(
            "PROXY_INVALID",
            "the stream ended inside the PROXY protocol header",
            peer,
          );
        }
        if (chunk.byteLength === 0) continue;
        received += chunk.byteLength;
        if (!this.#required) seen.push(chunk);
        const result = parser.push(chunk);
        // A header it is: what was read can no longer be served as data.
        if (parser.version !== undefined) seen.length = 0;
        if (!trusted && parser.version !== undefined) {
          throw new ProxyProtocolError(
            "PROXY_UNTRUSTED",
            "the peer sent a PROXY protocol header but is not a trusted proxy",
            peer,
          );
        }
        if (result) {
          const { info, rest } = result;
          return {
            conn: rest.byteLength > 0 ? new PrefixedConn(raw, rest) : raw,
            proxy: info,
            remoteAddr: info.source ?? peer,
          };
        }
      }
    } catch (error) {
      if (!(error instanceof ProxyProtocolError)) throw error;
      if (error.code === "PROXY_MISSING" && !this.#required) {
        // Served as it is, with what was read so far first.
        return {
          conn: prefixed(raw, seen),
          proxy: undefined,
          remoteAddr: peer,
        };
      }
      throw error.remoteAddr ? error : withPeer(error, peer);
    } finally {
      reader?.releaseLock();
    }
  }
}

function prefixed(raw: Conn, chunks: Uint8Array[]): Conn {
  if (chunks.length === 0) return raw;
  if (chunks.length === 1) return new PrefixedConn(raw, chunks[0]!);
  let size = 0;
  for (const chunk of chunks) size += chunk.byteLength;
  const head = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    head.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new PrefixedConn(raw, head);
}

/** The parser's error, naming the peer that caused it. */
function withPeer(
  error: ProxyProtocolError,
  peer: NetAddr,
): ProxyProtocolError {
  const reason = error.message.replace(/^Cannot accept the connection as /, "");
  return new ProxyProtocolError(error.code, reason, peer, {
    cause: error.cause,
  });
}

/**
 * The opening of a server's connections with `proxyProtocol`, checked before
 * it binds: `undefined` without it.
 *
 * @throws {NetError} `ENOTSUP` with `tls` where the runtime cannot start TLS
 * on an accepted connection; `ETLS` for a certificate or key it refuses.
 */
export async function proxyOpening(
  options: ListenOptions,
  runtime: Runtime,
  clock: Clock,
): Promise<ProxyOpening | undefined> {
  const { proxyProtocol, tls } = options;
  if (proxyProtocol === undefined) return undefined;
  // A Unix peer has no address to trust: every connection would be refused.
  if (options.path !== undefined) {
    throw new TypeError(
      "Cannot listen as 'proxyProtocol' needs a TCP listener: leave 'path' out or 'proxyProtocol' out",
    );
  }
  // Checked before the TLS settings, so that bad options fail first.
  new ProxyOpening(proxyProtocol, clock);
  if (!tls) return new ProxyOpening(proxyProtocol, clock);
  const address = {
    hostname: options.hostname ?? "0.0.0.0",
    port: options.port ?? 0,
  };
  if (!runtime.tlsAcceptor) {
    throw new NetError("ENOTSUP", "listen", address, {
      reason:
        `runtime (${runtime.name}) cannot start TLS after a PROXY protocol header`,
    });
  }
  return new ProxyOpening(
    proxyProtocol,
    clock,
    await runtime.tlsAcceptor(tls, address),
  );
}
