/**
 * The typed errors tether raises. Every error extends {@linkcode TetherError}
 * and carries a stable `code`, so callers can branch on `error.code` without
 * parsing messages.
 *
 * Aborts are never wrapped: an operation cancelled through an `AbortSignal`
 * rejects with the signal's `reason`, as the web platform does.
 *
 * @module
 */

/**
 * The stable codes of {@linkcode TetherError}s raised by tether itself. OS
 * level failures use {@linkcode NetErrorCode} instead.
 *
 * @example A retry table the compiler keeps complete
 * ```ts
 * import {
 *   IdleTimeoutError,
 *   TetherError,
 *   type TetherErrorCode,
 * } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * // A Record over the union fails to compile if a code is left out.
 * const retry: Record<TetherErrorCode, boolean> = {
 *   FRAME_TOO_LARGE: false,
 *   FRAME_TRUNCATED: true,
 *   INVALID_FRAME: false,
 *   CONNECT_TIMEOUT: true,
 *   OPEN_TIMEOUT: true,
 *   CLOSE_TIMEOUT: false,
 *   CONNECTION_CLOSED: true,
 *   HEARTBEAT_TIMEOUT: true,
 *   IDLE_TIMEOUT: true,
 *   QUEUE_FULL: false,
 *   RECONNECT_FAILED: false,
 *   FRAME_TIMEOUT: true,
 *   FRAME_RATE_EXCEEDED: false,
 *   WRITE_BUFFER_FULL: true,
 *   PROTOCOL_ERROR: false,
 *   PROTOCOL_VERSION: false,
 *   REMOTE_ERROR: false,
 *   REQUEST_TIMEOUT: false,
 *   REQUEST_INTERRUPTED: false,
 *   TOO_MANY_REQUESTS: true,
 * };
 * const error: unknown = new IdleTimeoutError(60_000);
 * assert.ok(error instanceof TetherError);
 * assert.equal(retry[error.code as TetherErrorCode], true);
 * ```
 */
export type TetherErrorCode =
  | "FRAME_TOO_LARGE"
  | "FRAME_TRUNCATED"
  | "INVALID_FRAME"
  | "CONNECT_TIMEOUT"
  | "OPEN_TIMEOUT"
  | "CLOSE_TIMEOUT"
  | "CONNECTION_CLOSED"
  | "HEARTBEAT_TIMEOUT"
  | "IDLE_TIMEOUT"
  | "QUEUE_FULL"
  | "RECONNECT_FAILED"
  | "FRAME_TIMEOUT"
  | "FRAME_RATE_EXCEEDED"
  | "WRITE_BUFFER_FULL"
  | "PROTOCOL_ERROR"
  | "PROTOCOL_VERSION"
  | "REMOTE_ERROR"
  | "REQUEST_TIMEOUT"
  | "REQUEST_INTERRUPTED"
  | "TOO_MANY_REQUESTS";

/**
 * The base class of every error tether raises.
 *
 * @example Branching on the code
 * ```ts
 * import { FrameTooLargeError, TetherError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error: unknown = new FrameTooLargeError(10, 4);
 * assert.ok(error instanceof TetherError);
 * assert.equal(error.code, "FRAME_TOO_LARGE");
 * ```
 */
export class TetherError extends Error {
  /** A stable, machine-readable code for the condition. */
  readonly code: string;

  /**
   * Creates an error with a code.
   *
   * @param code A stable code for the condition.
   * @param message What happened, naming the value involved.
   * @param options Standard error options, such as `cause`.
   */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TetherError";
    this.code = code;
  }
}

/**
 * A frame is larger than the configured limit: a decoder saw a declared
 * length (or an unterminated line) above `maxFrameSize`, or an encoder was
 * asked to send a payload that does not fit.
 *
 * A decoder raises it before it buffers or allocates the frame, and the
 * connection it came from is closed: the stream cannot be resynchronised.
 *
 * @example Catching an oversize frame
 * ```ts
 * import { FrameTooLargeError, LengthPrefixedDecoderStream } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const oversize = new Uint8Array([0, 0, 1, 0]); // declares 256 bytes
 * const frames = ReadableStream.from([oversize])
 *   .pipeThrough(new LengthPrefixedDecoderStream({ maxFrameSize: 16 }));
 * await assert.rejects(Array.fromAsync(frames), FrameTooLargeError);
 * ```
 */
export class FrameTooLargeError extends TetherError {
  /** The size of the frame in bytes, as declared or as seen so far. */
  readonly size: number;
  /** The limit in bytes that `size` exceeds. */
  readonly limit: number;

  /**
   * Creates the error.
   *
   * @param size The frame size in bytes.
   * @param limit The limit in bytes.
   * @param options Standard error options.
   */
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
 * The byte stream ended in the middle of a frame: the peer closed the
 * connection (or the input ended) after sending part of a header, a payload
 * or an unterminated line.
 *
 * @example Detecting a truncated frame
 * ```ts
 * import { FrameTruncatedError, LengthPrefixedDecoderStream } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const half = new Uint8Array([0, 0, 0, 4, 1, 2]); // 4 declared, 2 sent
 * const frames = ReadableStream.from([half])
 *   .pipeThrough(new LengthPrefixedDecoderStream());
 * await assert.rejects(Array.fromAsync(frames), FrameTruncatedError);
 * ```
 */
export class FrameTruncatedError extends TetherError {
  /** The bytes of the unfinished frame that did arrive. */
  readonly received: number;
  /**
   * The full size of the unfinished frame in bytes, header included, when it
   * is known (a length prefix was read); otherwise `undefined`.
   */
  readonly expected: number | undefined;

  /**
   * Creates the error.
   *
   * @param received The bytes of the unfinished frame that arrived.
   * @param expected The full frame size, when known.
   * @param options Standard error options.
   */
  constructor(
    received: number,
    expected?: number,
    options?: ErrorOptions,
  ) {
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
 *
 * @example A line that contains a newline
 * ```ts
 * import { InvalidFrameError, LineEncoderStream } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const lines = ReadableStream.from([new TextEncoder().encode("a\nb")])
 *   .pipeThrough(new LineEncoderStream());
 * await assert.rejects(Array.fromAsync(lines), InvalidFrameError);
 * ```
 */
export class InvalidFrameError extends TetherError {
  /**
   * Creates the error.
   *
   * @param message What is wrong with the frame.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super("INVALID_FRAME", message, options);
    this.name = "InvalidFrameError";
  }
}

/**
 * A connection attempt did not complete within `connectTimeout`.
 *
 * @example Handling a connect timeout
 * ```ts
 * import { ConnectTimeoutError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error = new ConnectTimeoutError("127.0.0.1", 8080, 5000);
 * assert.equal(error.code, "CONNECT_TIMEOUT");
 * assert.equal(error.timeout, 5000);
 * ```
 */
export class ConnectTimeoutError extends TetherError {
  /** The host that was dialled. */
  readonly hostname: string;
  /** The port that was dialled. */
  readonly port: number;
  /** The timeout in milliseconds that expired. */
  readonly timeout: number;

  /**
   * Creates the error.
   *
   * @param hostname The host that was dialled.
   * @param port The port that was dialled.
   * @param timeout The timeout in milliseconds.
   * @param options Standard error options.
   */
  constructor(
    hostname: string,
    port: number,
    timeout: number,
    options?: ErrorOptions,
  ) {
    super(
      "CONNECT_TIMEOUT",
      `Cannot connect to ${
        formatAddress(hostname, port)
      } as no connection was established within ${timeout} ms`,
      options,
    );
    this.name = "ConnectTimeoutError";
    this.hostname = hostname;
    this.port = port;
    this.timeout = timeout;
  }
}

/**
 * A client's `onConnect`, or the opening of a protocol on the client such as
 * the messaging handshake, did not finish within `openTimeout`: the attempt
 * failed, and the connection was aborted.
 *
 * @example Recognising a stuck opening
 * ```ts
 * import { OpenTimeoutError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error = new OpenTimeoutError(10_000);
 * assert.equal(error.code, "OPEN_TIMEOUT");
 * assert.equal(error.timeout, 10_000);
 * ```
 */
export class OpenTimeoutError extends TetherError {
  /** The milliseconds the opening was given. */
  readonly timeout: number;

  /**
   * Creates the error.
   *
   * @param timeout The milliseconds the opening was given.
   * @param options Standard error options.
   */
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
 * A graceful close did not finish within `closeTimeout`: the peer did not
 * take what was still queued for it, so the connection was aborted and
 * `unsent` bytes were dropped.
 *
 * @example Recognising a peer that stopped reading
 * ```ts
 * import { CloseTimeoutError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error = new CloseTimeoutError(10_000, 8_388_612);
 * assert.equal(error.code, "CLOSE_TIMEOUT");
 * assert.equal(error.unsent, 8_388_612);
 * ```
 */
export class CloseTimeoutError extends TetherError {
  /** The milliseconds the close was given. */
  readonly timeout: number;
  /** The bytes accepted by `send()` and never written. */
  readonly unsent: number;

  /**
   * Creates the error.
   *
   * @param timeout The milliseconds the close was given.
   * @param unsent The bytes accepted and never written.
   * @param options Standard error options.
   */
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
 * write side has been shut down.
 *
 * @example Sending after close
 * ```ts
 * import { ConnectionClosedError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error = new ConnectionClosedError("send");
 * assert.equal(error.code, "CONNECTION_CLOSED");
 * ```
 */
export class ConnectionClosedError extends TetherError {
  /**
   * Creates the error.
   *
   * @param operation The operation that could not be done, such as `send`.
   * @param options Standard error options; `cause` is why it closed, if known.
   */
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
 * A heartbeat went unanswered: no frame arrived within `timeout` after a
 * ping, so the link is taken for dead (half-open) and torn down.
 *
 * @example Recognising a dead link
 * ```ts
 * import { HeartbeatTimeoutError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error = new HeartbeatTimeoutError(2000);
 * assert.equal(error.code, "HEARTBEAT_TIMEOUT");
 * ```
 */
export class HeartbeatTimeoutError extends TetherError {
  /** The milliseconds waited for an answer to the ping. */
  readonly timeout: number;

  /**
   * Creates the error.
   *
   * @param timeout The milliseconds waited for an answer.
   * @param options Standard error options.
   */
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

/**
 * A connection received no frame for `idleTimeout` milliseconds and was
 * closed by the server.
 *
 * @example Recognising a reaped connection
 * ```ts
 * import { IdleTimeoutError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * assert.equal(new IdleTimeoutError(60000).code, "IDLE_TIMEOUT");
 * ```
 */
export class IdleTimeoutError extends TetherError {
  /** The idle limit in milliseconds that was reached. */
  readonly timeout: number;

  /**
   * Creates the error.
   *
   * @param timeout The idle limit in milliseconds.
   * @param options Standard error options.
   */
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
 *
 * @example Recognising a stalled frame
 * ```ts
 * import { FrameTimeoutError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error = new FrameTimeoutError(30000, 12);
 * assert.equal(error.code, "FRAME_TIMEOUT");
 * assert.equal(error.received, 12);
 * ```
 */
export class FrameTimeoutError extends TetherError {
  /** The deadline in milliseconds that passed. */
  readonly timeout: number;
  /** The bytes of the unfinished frame that had arrived. */
  readonly received: number;

  /**
   * Creates the error.
   *
   * @param timeout The deadline in milliseconds.
   * @param received The bytes of the frame that had arrived.
   * @param options Standard error options.
   */
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
 *
 * @example Recognising a flood
 * ```ts
 * import { FrameRateError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error = new FrameRateError(1000);
 * assert.equal(error.code, "FRAME_RATE_EXCEEDED");
 * ```
 */
export class FrameRateError extends TetherError {
  /** The limit in frames per second that was exceeded. */
  readonly limit: number;

  /**
   * Creates the error.
   *
   * @param limit The limit in frames per second.
   * @param options Standard error options.
   */
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
 * More bytes waited to be written than `maxWriteBuffer` allows: the peer
 * reads too slowly (or not at all) for what is sent to it, and the connection
 * was closed rather than let memory grow.
 *
 * @example Recognising a hopeless consumer
 * ```ts
 * import { WriteBufferFullError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error = new WriteBufferFullError(20_000_000, 16_777_216);
 * assert.equal(error.code, "WRITE_BUFFER_FULL");
 * ```
 */
export class WriteBufferFullError extends TetherError {
  /** The bytes that would have been waiting. */
  readonly size: number;
  /** The limit in bytes. */
  readonly limit: number;

  /**
   * Creates the error.
   *
   * @param size The bytes that would have been waiting.
   * @param limit The limit in bytes.
   * @param options Standard error options.
   */
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

/**
 * A frame could not be queued while the client is disconnected because the
 * offline queue is full. A frame rejected this way is never sent.
 *
 * @example Handling a full queue
 * ```ts
 * import { QueueFullError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error = new QueueFullError(100, 1000, 65536, 1048576);
 * assert.equal(error.code, "QUEUE_FULL");
 * ```
 */
export class QueueFullError extends TetherError {
  /** The size in bytes of the refused frame. */
  readonly size: number;
  /** The frames queued when it was refused. */
  readonly length: number;
  /** The limit on queued frames. */
  readonly maxLength: number;
  /** The limit on queued bytes. */
  readonly maxBytes: number;

  /**
   * Creates the error.
   *
   * @param size The size of the refused frame in bytes.
   * @param length The frames already queued.
   * @param maxBytes The limit on queued bytes.
   * @param maxLength The limit on queued frames.
   * @param options Standard error options.
   */
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
 * an error that is not worth retrying occurred. The last error is `cause`.
 *
 * @example Reading why a client gave up
 * ```ts
 * import { ReconnectError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error = new ReconnectError(5, 31000, { cause: new Error("refused") });
 * assert.equal(error.attempts, 5);
 * ```
 */
export class ReconnectError extends TetherError {
  /** The connection attempts made in the outage. */
  readonly attempts: number;
  /** The milliseconds the outage lasted. */
  readonly elapsed: number;

  /**
   * Creates the error.
   *
   * @param attempts The attempts made.
   * @param elapsed The milliseconds the outage lasted.
   * @param options Standard error options; `cause` is the last error.
   */
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
 * The peer broke the tether messaging protocol: its first frame was not a
 * hello, an envelope is malformed or of an unknown kind, or a kind came the
 * wrong way (a request sent to a client). The connection is closed; an error
 * like this is not worth a reconnection.
 *
 * @example Decoding a frame that is not an envelope
 * ```ts
 * import { decodeEnvelope, ProtocolError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * // A request needs a kind byte and a 4-byte id: 3 bytes are too few.
 * assert.throws(
 *   () => decodeEnvelope(new Uint8Array([0x02, 0, 0])),
 *   ProtocolError,
 * );
 * ```
 */
export class ProtocolError extends TetherError {
  /**
   * Creates the error.
   *
   * @param message What the peer did wrong, naming the value involved.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super("PROTOCOL_ERROR", message, options);
    this.name = "ProtocolError";
  }
}

/**
 * The peer speaks another version of the tether messaging protocol. Both
 * sides fail with this error at the handshake, before any message is read.
 *
 * @example Telling the user to upgrade
 * ```ts
 * import { ProtocolVersionError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error = new ProtocolVersionError(1, 2);
 * assert.equal(error.code, "PROTOCOL_VERSION");
 * assert.ok(error.peerVersion > error.version); // this side is older
 * ```
 */
export class ProtocolVersionError extends TetherError {
  /** The protocol version of this side. */
  readonly version: number;
  /** The protocol version the peer announced. */
  readonly peerVersion: number;

  /**
   * Creates the error.
   *
   * @param version This side's protocol version.
   * @param peerVersion The peer's protocol version.
   * @param options Standard error options.
   */
  constructor(version: number, peerVersion: number, options?: ErrorOptions) {
    super(
      "PROTOCOL_VERSION",
      `Cannot talk to the peer as it speaks protocol version ${peerVersion}, not ${version}`,
      options,
    );
    this.name = "ProtocolVersionError";
    this.version = version;
    this.peerVersion = peerVersion;
  }
}

/**
 * The server's request handler failed. The server sends the error's message
 * and its `code` (when it has a string one), never its stack.
 *
 * @example Branching on the server's code
 * ```ts
 * import { RemoteError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error: unknown = new RemoteError("no such user: 42", "NOT_FOUND");
 * assert.ok(error instanceof RemoteError);
 * assert.equal(error.code, "REMOTE_ERROR");
 * assert.equal(error.remoteCode, "NOT_FOUND");
 * assert.equal(error.remoteMessage, "no such user: 42");
 * ```
 */
export class RemoteError extends TetherError {
  /** The message of the error the handler threw. */
  readonly remoteMessage: string;
  /** The `code` of the error the handler threw, if it had one. */
  readonly remoteCode: string | undefined;

  /**
   * Creates the error.
   *
   * @param remoteMessage The message of the server's error.
   * @param remoteCode The code of the server's error, if any.
   * @param options Standard error options.
   */
  constructor(
    remoteMessage: string,
    remoteCode?: string,
    options?: ErrorOptions,
  ) {
    super(
      "REMOTE_ERROR",
      `Cannot complete request as the server's handler failed${
        remoteCode ? ` (${remoteCode})` : ""
      }: ${remoteMessage}`,
      options,
    );
    this.name = "RemoteError";
    this.remoteMessage = remoteMessage;
    this.remoteCode = remoteCode;
  }
}

/**
 * No reply arrived within the request's `timeout`. The reply, should it come
 * later, is dropped.
 *
 * @example Telling a request that never left from one that got lost
 * ```ts
 * import { RequestTimeoutError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error = new RequestTimeoutError(5000, false);
 * assert.equal(error.code, "REQUEST_TIMEOUT");
 * assert.equal(error.sent, false); // still queued: no server handled it
 * ```
 */
export class RequestTimeoutError extends TetherError {
  /** The timeout in milliseconds that expired. */
  readonly timeout: number;
  /**
   * Whether a server may have handled the request. If not, it was still
   * queued, or a server refused it unread with a goaway.
   */
  readonly sent: boolean;

  /**
   * Creates the error.
   *
   * @param timeout The timeout in milliseconds.
   * @param sent Whether a server may have handled the request.
   * @param options Standard error options.
   */
  constructor(timeout: number, sent: boolean, options?: ErrorOptions) {
    super(
      "REQUEST_TIMEOUT",
      sent
        ? `Cannot complete request as no reply arrived within ${timeout} ms`
        : `Cannot send request as no connection was ready within ${timeout} ms`,
      options,
    );
    this.name = "RequestTimeoutError";
    this.timeout = timeout;
    this.sent = sent;
  }
}

/**
 * The connection that carried a request ended before its reply arrived. The
 * server may or may not have handled it; it is not sent again unless the
 * client's `retryOnReconnect` says so. `cause` is why the connection ended.
 *
 * @example Retrying only what is safe to repeat
 * ```ts
 * import { RequestInterruptedError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error: unknown = new RequestInterruptedError({
 *   cause: new Error("reset"),
 * });
 * const idempotent = true;
 * assert.ok(error instanceof RequestInterruptedError && idempotent);
 * ```
 */
export class RequestInterruptedError extends TetherError {
  /**
   * Creates the error.
   *
   * @param options Standard error options; `cause` is why the connection
   * ended.
   */
  constructor(options?: ErrorOptions) {
    const why = options?.cause instanceof Error
      ? `: ${options.cause.message}`
      : "";
    super(
      "REQUEST_INTERRUPTED",
      `Cannot complete request as its connection ended before the reply${why}`,
      options,
    );
    this.name = "RequestInterruptedError";
  }
}

/**
 * A request was refused at once because `maxInFlight` requests already await
 * their replies. It was never sent.
 *
 * @example Backing off when too much is pending
 * ```ts
 * import { TooManyRequestsError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error = new TooManyRequestsError(10_000);
 * assert.equal(error.code, "TOO_MANY_REQUESTS");
 * assert.equal(error.limit, 10_000);
 * ```
 */
export class TooManyRequestsError extends TetherError {
  /** The limit on requests awaiting their replies. */
  readonly limit: number;

  /**
   * Creates the error.
   *
   * @param limit The limit on requests awaiting their replies.
   * @param options Standard error options.
   */
  constructor(limit: number, options?: ErrorOptions) {
    super(
      "TOO_MANY_REQUESTS",
      `Cannot send request as ${limit} requests already await their replies, the limit of 'maxInFlight'`,
      options,
    );
    this.name = "TooManyRequestsError";
    this.limit = limit;
  }
}

/**
 * The OS-level conditions a {@linkcode NetError} reports, named after their
 * POSIX error codes. `ECLOSED` means the socket was already closed locally;
 * `EUNKNOWN` covers anything the runtime did not name.
 *
 * @example Recognising a refused connection
 * ```ts
 * import { connect, listen, NetError, type NetErrorCode } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * function isTransient(code: NetErrorCode): boolean {
 *   switch (code) {
 *     case "ECONNREFUSED":
 *     case "ECONNRESET":
 *     case "ETIMEDOUT":
 *     case "EHOSTUNREACH":
 *     case "ENETUNREACH":
 *       return true;
 *     default:
 *       return false;
 *   }
 * }
 *
 * // A port that nothing listens on any more.
 * const server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: () => {},
 * });
 * await server.close();
 * await assert.rejects(
 *   connect({ port: server.addr.port }),
 *   (error) => error instanceof NetError && isTransient(error.code),
 * );
 * ```
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
  | "ECLOSED"
  | "EUNKNOWN";

/**
 * The socket operation during which a {@linkcode NetError} happened.
 *
 * @example Binding a port that is taken
 * ```ts
 * import { listen, NetError, type NetOperation } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: () => {},
 * });
 * let operation: NetOperation | undefined;
 * try {
 *   await listen({
 *     hostname: "127.0.0.1",
 *     port: server.addr.port,
 *     handler: () => {},
 *   });
 * } catch (error) {
 *   if (error instanceof NetError) operation = error.operation;
 * }
 * assert.equal(operation, "listen");
 * ```
 */
export type NetOperation = "connect" | "listen" | "read" | "write" | "close";

/**
 * A socket operation failed in the operating system or the runtime. The
 * runtime's own error (one of Deno's error classes, or a Bun error) is kept as
 * `cause`; `code` is the same on every runtime.
 *
 * @example Retrying only refused connections
 * ```ts
 * import { NetError } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const error: unknown = new NetError("ECONNREFUSED", "connect", {
 *   hostname: "127.0.0.1",
 *   port: 9,
 * });
 * assert.ok(error instanceof NetError && error.code === "ECONNREFUSED");
 * ```
 */
export class NetError extends TetherError {
  /** The OS condition, the same on every runtime. */
  override readonly code: NetErrorCode;
  /** The operation that failed. */
  readonly operation: NetOperation;
  /** The remote (connect) or local (listen) address involved, if known. */
  readonly address: { hostname: string; port: number } | undefined;

  /**
   * Creates the error.
   *
   * @param code The normalised OS condition.
   * @param operation The operation that failed.
   * @param address The address involved, if known.
   * @param options Standard error options; `cause` is the runtime's error,
   * and `reason` says what went wrong where the code alone would mislead.
   */
  constructor(
    code: NetErrorCode,
    operation: NetOperation,
    address?: { hostname: string; port: number },
    options?: ErrorOptions & { reason?: string },
  ) {
    const where = address
      ? ` ${operation === "listen" ? "on" : "to"} ${
        formatAddress(address.hostname, address.port)
      }`
      : "";
    // One line, though some runtimes spread OpenSSL's detail over several.
    const detail = options?.cause instanceof Error
      ? `: ${options.cause.message.trim().replace(/\s*\n\s*/g, " ")}`
      : "";
    super(
      code,
      `Cannot ${operation}${where} as the ${
        options?.reason ?? describe(code)
      } (${code})${detail}`,
      options,
    );
    this.name = "NetError";
    this.code = code;
    this.operation = operation;
    this.address = address;
  }
}

function describe(code: NetErrorCode): string {
  switch (code) {
    case "ECONNREFUSED":
      return "connection was refused";
    case "ECONNRESET":
      return "connection was reset by the peer";
    case "ECONNABORTED":
      return "connection was aborted";
    case "EPIPE":
      return "peer has closed the connection (broken pipe)";
    case "ETIMEDOUT":
      return "operation timed out";
    case "EADDRINUSE":
      return "address is already in use";
    case "EADDRNOTAVAIL":
      return "address is not available";
    case "EACCES":
      return "permission was denied";
    case "ENOTFOUND":
      return "host name could not be resolved";
    case "EHOSTUNREACH":
      return "host is unreachable";
    case "ENETUNREACH":
      return "network is unreachable";
    case "ETLS":
      return "TLS handshake failed";
    case "ECLOSED":
      return "socket is already closed";
    case "EUNKNOWN":
      return "runtime reported an error";
  }
}

/** Formats a host and port, bracketing IPv6 literals. */
export function formatAddress(hostname: string, port: number): string {
  return hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}
