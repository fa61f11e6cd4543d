import { NetError, type NetErrorCode, type NetOperation } from "../errors.ts";
import type { NetAddr } from "./types.ts";

const CODES: ReadonlySet<string> = new Set<NetErrorCode>([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EADDRINUSE",
  "EADDRNOTAVAIL",
  "EACCES",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTSUP",
]);

// OpenSSL-style certificate and handshake codes, as Bun reports them.
const TLS_CODE = /CERT|TLS|SSL|UNABLE_TO_VERIFY|SELF_SIGNED|ALTNAME/;

// Deno's error classes; most also carry a Node-style `code`, but
// BadResource and a few others do not.
const BY_NAME: Readonly<Record<string, NetErrorCode>> = {
  ConnectionRefused: "ECONNREFUSED",
  ConnectionReset: "ECONNRESET",
  ConnectionAborted: "ECONNABORTED",
  BrokenPipe: "EPIPE",
  TimedOut: "ETIMEDOUT",
  AddrInUse: "EADDRINUSE",
  AddrNotAvailable: "EADDRNOTAVAIL",
  PermissionDenied: "EACCES",
  NotCapable: "EACCES",
  BadResource: "ECLOSED",
  Interrupted: "ECLOSED",
  NotConnected: "ECLOSED",
  InvalidData: "ETLS",
};

/**
 * Turns a runtime's socket error into a {@linkcode NetError}. Abort reasons
 * and errors tether raised itself pass through unchanged.
 */
export function toNetError(
  error: unknown,
  operation: NetOperation,
  address?: NetAddr,
): unknown {
  if (!(error instanceof Error)) return error;
  if (error instanceof NetError) return error;
  if (error.name === "AbortError" || error.name === "TimeoutError") {
    return error;
  }
  const raw = (error as { code?: unknown }).code;
  let code: NetErrorCode | undefined = typeof raw === "string" && CODES.has(raw)
    ? raw as NetErrorCode
    : BY_NAME[error.name];
  if (code === undefined && typeof raw === "string" && TLS_CODE.test(raw)) {
    code = "ETLS";
  }
  // A Unix socket whose file is missing has no server, as a refused port.
  if (
    code === undefined && operation === "connect" &&
    (raw === "ENOENT" || error.name === "NotFound")
  ) {
    code = "ECONNREFUSED";
  }
  if (code === undefined) {
    code = /lookup address|getaddrinfo|name or service/i.test(error.message)
      ? "ENOTFOUND"
      : /certificate|handshake|tls|ssl/i.test(error.message)
      ? "ETLS"
      : "EUNKNOWN";
  }
  return new NetError(code, operation, address && copyAddr(address), {
    cause: error,
  });
}

/** The fields of a {@linkcode NetAddr}, and no others. */
export function copyAddr(address: NetAddr): NetAddr {
  const { hostname, port } = address;
  return address.transport === "unix"
    ? unixAddr(address.path ?? "")
    : { hostname, port };
}

/** The address of the Unix socket at `path` (`""` for an unnamed one). */
export function unixAddr(path: string): NetAddr {
  return { transport: "unix", hostname: "", port: 0, path };
}

/** Where `options` point: the Unix socket at `path`, or a host and port. */
export function targetAddr(
  options: { hostname: string; port: number; path?: string },
): NetAddr {
  const { hostname, port, path } = options;
  return path === undefined ? { hostname, port } : unixAddr(path);
}

// What is wrong when a runtime refuses the TLS settings of an operation.
const INVALID_TLS = {
  listen: "TLS certificate or key is invalid",
  connect: "TLS settings are invalid",
} as const;

/**
 * Turns an error a runtime raised while it took in TLS settings, before any
 * handshake, into a {@linkcode NetError}. A TLS or unnamed error there means
 * the settings are invalid, and the message says so rather than blame a
 * handshake that never happened.
 */
export function toTlsSettingsError(
  error: unknown,
  operation: keyof typeof INVALID_TLS,
  address: NetAddr,
): unknown {
  const net = toNetError(error, operation, address);
  if (
    !(net instanceof NetError) ||
    (net.code !== "ETLS" && net.code !== "EUNKNOWN")
  ) {
    return net;
  }
  return new NetError("ETLS", operation, net.address ?? address, {
    cause: error,
    reason: INVALID_TLS[operation],
  });
}

/** The error for an operation on a socket this side already closed. */
export function closedError(operation: NetOperation): NetError {
  return new NetError("ECLOSED", operation);
}
