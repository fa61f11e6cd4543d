/**
 * TLS on a connection that is already open, through `node:tls` over a
 * stream of the connection's bytes: the server and client sides of a TLS
 * handshake after a PROXY protocol header. It runs on Node, and on Bun and
 * Deno through their Node compatibility.
 */
import { Buffer } from "node:buffer";
import { isIP } from "node:net";
import { Duplex } from "node:stream";
import {
  checkServerIdentity,
  connect as connectTls,
  createSecureContext,
  type PeerCertificate,
  type SecureContext,
  TLSSocket,
} from "node:tls";
import { NetError } from "../errors.ts";
import { toNetError, toTlsSettingsError } from "./_net_error.ts";
import type {
  Conn,
  NetAddr,
  RuntimeConnectOptions,
  TlsListenOptions,
} from "./types.ts";

/** Makes a runtime connection of a TLS socket, with the plain one's ends. */
export type WrapTls = (socket: TLSSocket, plain: Conn) => Conn;

/** A Node stream of `conn`'s bytes, for a `TLSSocket` to run on. */
function duplexOf(conn: Conn): Duplex {
  let reading = false;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const next = (): Promise<Uint8Array | null> => {
    if (conn.read) return conn.read();
    reader ??= conn.readable.getReader();
    return reader.read().then(({ value }) => value ?? null);
  };
  const duplex: Duplex = new Duplex({
    allowHalfOpen: true,
    read() {
      if (reading) return;
      reading = true;
      const pump = (): void => {
        next().then((chunk) => {
          if (chunk === null) {
            reading = false;
            duplex.push(null);
          } else if (duplex.push(chunk)) pump();
          else reading = false;
        }, (error) => {
          reading = false;
          duplex.destroy(error as Error);
        });
      };
      pump();
    },
    write(chunk: Uint8Array, _encoding, callback) {
      conn.write(chunk).then(() => callback(), callback);
    },
    final(callback) {
      conn.closeWrite().then(() => callback(), callback);
    },
    destroy(error, callback) {
      conn.close();
      callback(error);
    },
  });
  return duplex;
}

/** Waits for `event` on a TLS socket, or its failure or `signal`. */
function handshake(
  socket: TLSSocket,
  event: "secure" | "secureConnect",
  fail: (error: unknown) => unknown,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: unknown) => {
      socket.off(event, onReady);
      socket.off("error", onError);
      socket.off("close", onClose);
      socket.off("end", onClose);
      signal?.removeEventListener("abort", onAbort);
      if (error === undefined) return resolve();
      // Nobody holds the socket any more: whatever it still reports must
      // not become an uncaught error.
      socket.on("error", () => {});
      socket.destroy();
      reject(error);
    };
    const onReady = () => settle();
    const onError = (error: Error) => settle(fail(error));
    const onClose = () => settle(fail(undefined));
    const onAbort = () => settle(signal?.reason);
    if (signal?.aborted) return onAbort();
    socket.once(event, onReady);
    socket.once("error", onError);
    socket.once("close", onClose);
    // Half-open, a socket whose peer ended mid-handshake emits only `end`.
    socket.once("end", onClose);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function tlsFailure(operation: "connect" | "listen", address: NetAddr) {
  return (error: unknown) =>
    error === undefined
      ? new NetError("ETLS", operation, address, {
        reason: "connection closed during the TLS handshake",
      })
      : (() => {
        const converted = toNetError(error, operation, address);
        // Anything the handshake raises is a TLS failure.
        return converted instanceof NetError && converted.code === "EUNKNOWN"
          ? new NetError("ETLS", operation, address, { cause: error })
          : converted;
      })();
}

/** The client side of TLS on `conn`, as `Runtime.startTls`. */
export async function startTlsOver(
  conn: Conn,
  options: RuntimeConnectOptions,
  wrap: WrapTls,
): Promise<Conn> {
  const { hostname, tls = {}, signal } = options;
  const name = tls.serverName ?? hostname;
  const address = { hostname, port: options.port };
  let socket: TLSSocket;
  try {
    socket = connectTls({
      socket: duplexOf(conn),
      // SNI carries host names only (RFC 6066); an IP is still verified.
      ...(isIP(name) ? {} : { servername: name }),
      checkServerIdentity: (_: string, cert: PeerCertificate) =>
        checkServerIdentity(name, cert),
      ...(tls.caCerts ? { ca: tls.caCerts } : {}),
    });
  } catch (error) {
    conn.close();
    throw toTlsSettingsError(error, "connect", address);
  }
  await handshake(
    socket,
    "secureConnect",
    tlsFailure("connect", address),
    signal,
  );
  return wrap(socket, conn);
}

/** The server side of TLS on accepted connections, as `Runtime.tlsAcceptor`. */
export function tlsAcceptorOver(
  options: TlsListenOptions,
  address: NetAddr,
  wrap: WrapTls,
): Promise<(conn: Conn) => Promise<Conn>> {
  let context: SecureContext;
  try {
    // Parsed here, so that a bad certificate or key fails `listen()`; as
    // buffers, empty ones are parsed too, not skipped.
    context = createSecureContext({
      cert: Buffer.from(options.cert),
      key: Buffer.from(options.key),
    });
  } catch (error) {
    return Promise.reject(toTlsSettingsError(error, "listen", address));
  }
  return Promise.resolve(async (conn: Conn) => {
    const socket = new TLSSocket(duplexOf(conn), {
      isServer: true,
      secureContext: context,
    });
    await handshake(socket, "secure", tlsFailure("listen", conn.remoteAddr));
    return wrap(socket, conn);
  });
}
