// The typed errors of the core; messaging and the PROXY protocol have their
// own. An abort is never wrapped: it rejects with the signal's `reason`.
import type * as core from "./errors.ts";
import type * as messaging from "./messaging/errors.ts";
import type * as proxy from "./proxy/errors.ts";
import type { NetAddr } from "./runtime/types.ts";

/**
 * The `code` of every error tether raises itself, messaging included, read off
 * the error classes. OS-level failures use {@linkcode NetErrorCode} instead.
 */
export type TetherErrorCode = {
  [Name in keyof typeof core | keyof typeof messaging | keyof typeof proxy]:
    (typeof core & typeof messaging & typeof proxy)[Name] extends
      abstract new (...args: never) => { readonly code: infer Code }
      // Not the base class's `string`, nor NetError's OS-level codes.
      ? string extends Code ? never : Code extends NetErrorCode ? never : Code
      : never;
}[keyof typeof core | keyof typeof messaging | keyof typeof proxy];

/**
 * The base class of every error tether raises.
 *
 * @example Telling errors apart by class and by code
 * ```ts
 * import { IdleTimeoutError, NetError, TetherError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * function explain(error: unknown): string {
 *   // A subclass gives its fields; `code` is the same on every runtime.
 *   if (error instanceof NetError) {
 *     return `${error.operation} failed: ${error.code}`;
 *   }
 *   if (error instanceof TetherError && error.code === "IDLE_TIMEOUT") {
 *     return "the peer went quiet";
 *   }
 *   return "not tether's";
 * }
 * assert.equal(explain(new IdleTimeoutError(60_000)), "the peer went quiet");
 * assert.equal(explain(new NetError("EPIPE", "write")), "write failed: EPIPE");
 * assert.equal(explain(new Error("boom")), "not tether's");
 * ```
 */
export class TetherError extends Error {
  /** A stable, machine-readable code for the condition. */
  readonly code: string;

  /** Creates an error with `code`; `message` names the value involved. */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TetherError";
    this.code = code;
  }
}

/**
 * A frame is larger than `maxFrameSize`: a decoder saw its declared length (or
 * an unterminated line) before buffering it, or an encoder was given a payload
 * that does not fit. A decoder's connection is closed: it cannot resynchronise.
 */
export class FrameTooLargeError extends TetherError {
  /** Always `FRAME_TOO_LARGE`. */
  declare readonly code: "FRAME_TOO_LARGE";
  /** The size of the frame in bytes, as declared or as seen so far. */
  readonly size: number;
  /** The limit in bytes that `size` exceeds. */
  readonly limit: number;

  /** Creates the error; the arguments are the fields of the same names. */
  constructor(size: number, limit: number, options?: ErrorOptions) {
    super(
      "FRAME_TOO_LARGE",
      `Cannot accept frame as its size exceeds the limit of ${limit} bytes: size is ${size} bytes`,
      options,
    );
    this.name = "FrameTooLargeError";
    this.size = size;
    this.limit = limit;
  }
}

/**
 * The byte stream ended in the middle of a frame: in a header, a payload or
 * an unterminated line.
 */
export class FrameTruncatedError extends TetherError {
  /** Always `FRAME_TRUNCATED`. */
  declare readonly code: "FRAME_TRUNCATED";
  /** The bytes of the unfinished frame that did arrive. */
  readonly received: number;
  /** The full frame size in bytes, header included, if its length was read. */
  readonly expected: number | undefined;

  /** Creates the error; the arguments are the fields of the same names. */
  constructor(received: number, expected?: number, options?: ErrorOptions) {
    super(
      "FRAME_TRUNCATED",
      expected === undefined
        ? `Cannot finish frame as the stream ended: ${received} bytes of an unfinished frame were received`
        : `Cannot finish frame as the stream ended: ${received} of ${expected} bytes were received`,
      options,
    );
    this.name = "FrameTruncatedError";
    this.received = received;
    this.expected = expected;
  }
}

/**
 * A frame cannot be encoded in the chosen framing: a line contains the
 * delimiter, or a fixed-size frame has the wrong size.
 */
export class InvalidFrameError extends TetherError {
  /** Always `INVALID_FRAME`. */
  declare readonly code: "INVALID_FRAME";

  /** Creates the error; `message` says what is wrong with the frame. */
  constructor(message: string, options?: ErrorOptions) {
    super("INVALID_FRAME", message, options);
    this.name = "InvalidFrameError";
  }
}

/** A connection attempt did not complete within `connectTimeout`. */
export class ConnectTimeoutError extends TetherError {
  /** Always `CONNECT_TIMEOUT`. */
  declare readonly code: "CONNECT_TIMEOUT";
  /** The host that was dialled. */
  readonly hostname: string;
  /** The port that was dialled. */
  readonly port: number;
  /** The Unix socket that was dialled, if any. */
  readonly path: string | undefined;
  /** The timeout in milliseconds that expired. */
  readonly timeout: number;

  /** Creates the error; the arguments are the fields of the same names. */
  constructor(
    hostname: string,
    port: number,
    timeout: number,
    options?: ErrorOptions & { path?: string },
  ) {
    const path = options?.path;
    super(
      "CONNECT_TIMEOUT",
      `Cannot connect to ${
        formatAddress(
          path === undefined
            ? { hostname, port }
            : { transport: "unix", hostname, port, path },
        )
      } as no connection was established within ${timeout} ms`,
      options,
    );
    this.name = "ConnectTimeoutError";
    this.hostname = hostname;
    this.port = port;
    this.path = path;
    this.timeout = timeout;
  }
}

/**
 * A client's `onConnect`, or a protocol's opening such as the messaging
 * handshake, did not finish within `openTimeout`; the connection was aborted.
 */
export class OpenTimeoutError extends TetherError {
  /** Always `OPEN_TIMEOUT`. */
  declare readonly code: "OPEN_TIMEOUT";
  /** The milliseconds the opening was given. */
  readonly timeout: number;

  /** Creates the error; the arguments are the fields of the same names. */
  constructor(timeout: number, options?: ErrorOptions) {
    super(
      "OPEN_TIMEOUT",
      `Cannot open the connection as onConnect did not finish within ${timeout} ms`,
      options,
    );
    this.name = "OpenTimeoutError";
    this.timeout = timeout;
  }
}

/**
 * A graceful close did not finish within `closeTimeout` as the peer did not
 * read: the connection was aborted, dropping the `unsent` bytes.
 */
export class CloseTimeoutError extends TetherError {
  /** Always `CLOSE_TIMEOUT`. */
  declare readonly code: "CLOSE_TIMEOUT";
  /** The milliseconds the close was given. */
  readonly timeout: number;
  /** The bytes accepted by `send()` and never written. */
  readonly unsent: number;

  /** Creates the error; the arguments are the fields of the same names. */
  constructor(timeout: number, unsent: number, options?: ErrorOptions) {
    super(
      "CLOSE_TIMEOUT",
      `Cannot close gracefully as the peer did not read the last ${unsent} bytes within ${timeout} ms`,
      options,
    );
    this.name = "CloseTimeoutError";
    this.timeout = timeout;
    this.unsent = unsent;
  }
}

/**
 * An operation needs an open connection, but the connection is closed or its
 * write side has been shut down. `cause` is why it closed, when known.
 */
export class ConnectionClosedError extends TetherError {
  /** Always `CONNECTION_CLOSED`. */
  declare readonly code: "CONNECTION_CLOSED";

  /** Creates the error; `operation` is what could not be done: `send`. */
  constructor(operation: string, options?: ErrorOptions) {
    super(
      "CONNECTION_CLOSED",
      `Cannot ${operation} as the connection is closed`,
      options,
    );
    this.name = "ConnectionClosedError";
  }
}

/**
 * No frame arrived within `timeout` after a heartbeat ping, so the link was
 * taken for dead (half-open) and torn down.
 */
export class HeartbeatTimeoutError extends TetherError {
  /** Always `HEARTBEAT_TIMEOUT`. */
  declare readonly code: "HEARTBEAT_TIMEOUT";
  /** The milliseconds waited for an answer to the ping. */
  readonly timeout: number;

  /** Creates the error; the arguments are the fields of the same names. */
  constructor(timeout: number, options?: ErrorOptions) {
    super(
      "HEARTBEAT_TIMEOUT",
      `Cannot keep the connection as no frame arrived within ${timeout} ms of a ping`,
      options,
    );
    this.name = "HeartbeatTimeoutError";
    this.timeout = timeout;
  }
}

/** A server closed a connection that received no frame for `idleTimeout`. */
export class IdleTimeoutError extends TetherError {
  /** Always `IDLE_TIMEOUT`. */
  declare readonly code: "IDLE_TIMEOUT";
  /** The idle limit in milliseconds that was reached. */
  readonly timeout: number;

  /** Creates the error; the arguments are the fields of the same names. */
  constructor(timeout: number, options?: ErrorOptions) {
    super(
      "IDLE_TIMEOUT",
      `Cannot keep the connection as no frame arrived for ${timeout} ms`,
      options,
    );
    this.name = "IdleTimeoutError";
    this.timeout = timeout;
  }
}

/**
 * A frame took longer than `frameTimeout` to arrive, counted from its first
 * byte: the peer trickles bytes (a slowloris attack) or stalled mid-frame.
 */
export class FrameTimeoutError extends TetherError {
  /** Always `FRAME_TIMEOUT`. */
  declare readonly code: "FRAME_TIMEOUT";
  /** The deadline in milliseconds that passed. */
  readonly timeout: number;
  /** The bytes of the unfinished frame that had arrived. */
  readonly received: number;

  /** Creates the error; the arguments are the fields of the same names. */
  constructor(timeout: number, received: number, options?: ErrorOptions) {
    super(
      "FRAME_TIMEOUT",
      `Cannot finish frame as it did not complete within ${timeout} ms of its first byte: ${received} bytes arrived`,
      options,
    );
    this.name = "FrameTimeoutError";
    this.timeout = timeout;
    this.received = received;
  }
}

/**
 * A peer sent frames faster than `maxFrameRate` allows, such as a flood of
 * empty frames, and its connection was closed.
 */
export class FrameRateError extends TetherError {
  /** Always `FRAME_RATE_EXCEEDED`. */
  declare readonly code: "FRAME_RATE_EXCEEDED";
  /** The limit in frames per second that was exceeded. */
  readonly limit: number;

  /** Creates the error; the arguments are the fields of the same names. */
  constructor(limit: number, options?: ErrorOptions) {
    super(
      "FRAME_RATE_EXCEEDED",
      `Cannot accept frames as the peer sent more than the limit of ${limit} frames per second`,
      options,
    );
    this.name = "FrameRateError";
    this.limit = limit;
  }
}

/**
 * More bytes waited to be written than `maxWriteBuffer` allows: the peer reads
 * too slowly, and the connection was closed rather than let memory grow.
 */
export class WriteBufferFullError extends TetherError {
  /** Always `WRITE_BUFFER_FULL`. */
  declare readonly code: "WRITE_BUFFER_FULL";
  /** The bytes that would have been waiting. */
  readonly size: number;
  /** The limit in bytes. */
  readonly limit: number;

  /** Creates the error; the arguments are the fields of the same names. */
  constructor(size: number, limit: number, options?: ErrorOptions) {
    super(
      "WRITE_BUFFER_FULL",
      `Cannot queue frame as ${size} bytes would wait to be written, more than the limit of ${limit} bytes: the peer does not read fast enough`,
      options,
    );
    this.name = "WriteBufferFullError";
    this.size = size;
    this.limit = limit;
  }
}

/** A frame was refused and will never be sent: the offline queue is full. */
export class QueueFullError extends TetherError {
  /** Always `QUEUE_FULL`. */
  declare readonly code: "QUEUE_FULL";
  /** The size in bytes of the refused frame. */
  readonly size: number;
  /** The frames queued when it was refused. */
  readonly length: number;
  /** The limit on queued frames. */
  readonly maxLength: number;
  /** The limit on queued bytes. */
  readonly maxBytes: number;

  /** Creates the error; the arguments are the fields of the same names. */
  constructor(
    size: number,
    length: number,
    maxBytes: number,
    maxLength: number,
    options?: ErrorOptions,
  ) {
    super(
      "QUEUE_FULL",
      `Cannot queue frame of ${size} bytes as the offline queue is full: ${length} of ${maxLength} frames, limit ${maxBytes} bytes`,
      options,
    );
    this.name = "QueueFullError";
    this.size = size;
    this.length = length;
    this.maxLength = maxLength;
    this.maxBytes = maxBytes;
  }
}

/**
 * A client stopped reconnecting: its attempts or its time budget ran out, or
 * an error not worth retrying occurred. `cause` is the last error.
 */
export class ReconnectError extends TetherError {
  /** Always `RECONNECT_FAILED`. */
  declare readonly code: "RECONNECT_FAILED";
  /** The connection attempts made in the outage. */
  readonly attempts: number;
  /** The milliseconds the outage lasted. */
  readonly elapsed: number;

  /** Creates the error; the arguments are the fields of the same names. */
  constructor(attempts: number, elapsed: number, options?: ErrorOptions) {
    const last = options?.cause instanceof Error
      ? `: ${options.cause.message}`
      : "";
    super(
      "RECONNECT_FAILED",
      `Cannot reconnect after ${attempts} attempts in ${
        Math.round(elapsed)
      } ms${last}`,
      options,
    );
    this.name = "ReconnectError";
    this.attempts = attempts;
    this.elapsed = elapsed;
  }
}

/**
 * The OS-level conditions a {@linkcode NetError} reports, named after their
 * POSIX error codes. `ECLOSED` means the socket was already closed locally;
 * `EUNKNOWN` covers anything the runtime did not name.
 */
export type NetErrorCode =
  | "ECONNREFUSED"
  | "ECONNRESET"
  | "ECONNABORTED"
  | "EPIPE"
  | "ETIMEDOUT"
  | "EADDRINUSE"
  | "EADDRNOTAVAIL"
  | "EACCES"
  | "ENOTFOUND"
  | "EHOSTUNREACH"
  | "ENETUNREACH"
  | "ETLS"
  | "ENOTSUP"
  | "ECLOSED"
  | "EUNKNOWN";

/** The socket operation during which a {@linkcode NetError} happened. */
export type NetOperation = "connect" | "listen" | "read" | "write" | "close";

/**
 * A socket operation failed in the operating system or the runtime. `code` is
 * the same on every runtime; the runtime's own error is `cause`.
 */
export class NetError extends TetherError {
  /** The OS condition, the same on every runtime. */
  declare readonly code: NetErrorCode;
  /** The operation that failed. */
  readonly operation: NetOperation;
  /** The remote (connect) or local (listen) address involved, if known. */
  readonly address: NetAddr | undefined;

  /** Creates the error; `options.reason` replaces the wording of `code`. */
  constructor(
    code: NetErrorCode,
    operation: NetOperation,
    address?: NetAddr,
    options?: ErrorOptions & { reason?: string },
  ) {
    const where = address
      ? ` ${operation === "listen" ? "on" : "to"} ${formatAddress(address)}`
      : "";
    // One line, though some runtimes spread OpenSSL's detail over several.
    const detail = options?.cause instanceof Error
      ? `: ${options.cause.message.trim().replace(/\s*\n\s*/g, " ")}`
      : "";
    super(
      code,
      `Cannot ${operation}${where} as the ${
        options?.reason ?? DESCRIPTIONS[code]
      } (${code})${detail}`,
      options,
    );
    this.name = "NetError";
    this.operation = operation;
    this.address = address;
  }
}

const DESCRIPTIONS: Record<NetErrorCode, string> = {
  ECONNREFUSED: "connection was refused",
  ECONNRESET: "connection was reset by the peer",
  ECONNABORTED: "connection was aborted",
  EPIPE: "peer has closed the connection (broken pipe)",
  ETIMEDOUT: "operation timed out",
  EADDRINUSE: "address is already in use",
  EADDRNOTAVAIL: "address is not available",
  EACCES: "permission was denied",
  ENOTFOUND: "host name could not be resolved",
  EHOSTUNREACH: "host is unreachable",
  ENETUNREACH: "network is unreachable",
  ETLS: "TLS handshake failed",
  ENOTSUP: "runtime does not support the operation",
  ECLOSED: "socket is already closed",
  EUNKNOWN: "runtime reported an error",
};

/**
 * Formats an address: a host and port, bracketing IPv6 literals, or
 * `unix:PATH` for a Unix socket.
 */
export function formatAddress(address: NetAddr): string {
  const { transport, hostname, port, path } = address;
  if (transport === "unix") return `unix:${path || "(unnamed)"}`;
  return hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}
