/**
 * The errors of the messaging layer. Each extends `TetherError`, and its
 * `code` belongs to `TetherErrorCode`, which reads the classes of this file.
 *
 * @module
 */
import { TetherError } from "../errors.ts";

/**
 * The peer broke the messaging protocol: its first frame was not a hello, an
 * envelope is malformed or of an unknown kind, or a kind came the wrong way
 * (a request sent to a client). The connection is closed; reconnecting will
 * not help.
 */
export class ProtocolError extends TetherError {
  /** Always `PROTOCOL_ERROR`. */
  declare readonly code: "PROTOCOL_ERROR";

  /** Creates the error; `message` says what the peer did wrong. */
  constructor(message: string, options?: ErrorOptions) {
    super("PROTOCOL_ERROR", message, options);
    this.name = "ProtocolError";
  }
}

/**
 * The peer speaks another version of the messaging protocol. Both sides fail
 * with this error at the handshake, before any message is read.
 */
export class ProtocolVersionError extends TetherError {
  /** Always `PROTOCOL_VERSION`. */
  declare readonly code: "PROTOCOL_VERSION";
  /** The protocol version of this side. */
  readonly version: number;
  /** The protocol version the peer announced. */
  readonly peerVersion: number;

  /** Creates the error; the arguments are the fields of the same names. */
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
 * and its string `code`, if any, never its stack.
 *
 * @example Branching on the code the server's handler threw
 * ```ts
 * import { RemoteError } from "@tether/tcp/messaging";
 * import assert from "node:assert/strict";
 *
 * // What `await client.request(...)` rejects with when the handler throws
 * // `Object.assign(new Error("no such user: 42"), { code: "NOT_FOUND" })`.
 * const error: unknown = new RemoteError("no such user: 42", "NOT_FOUND");
 * // `code` says the handler failed; `remoteCode` says how.
 * assert.ok(error instanceof RemoteError && error.code === "REMOTE_ERROR");
 * assert.equal(error.remoteCode, "NOT_FOUND");
 * assert.equal(error.remoteMessage, "no such user: 42");
 * ```
 */
export class RemoteError extends TetherError {
  /** Always `REMOTE_ERROR`. */
  declare readonly code: "REMOTE_ERROR";
  /** The message of the error the handler threw. */
  readonly remoteMessage: string;
  /** The `code` of the error the handler threw, if it had one. */
  readonly remoteCode: string | undefined;

  /** Creates the error; the arguments are the fields of the same names. */
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
 */
export class RequestTimeoutError extends TetherError {
  /** Always `REQUEST_TIMEOUT`. */
  declare readonly code: "REQUEST_TIMEOUT";
  /** The timeout in milliseconds that expired. */
  readonly timeout: number;
  /**
   * Whether a server may have handled the request. If not, it was still
   * queued, or a server refused it unread with a goaway.
   */
  readonly sent: boolean;

  /** Creates the error; the arguments are the fields of the same names. */
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
 * The connection that carried a request ended before its reply arrived, so
 * the server may or may not have handled it; it is sent again only if the
 * client's `retryOnReconnect` says so. `cause` is why the connection ended.
 */
export class RequestInterruptedError extends TetherError {
  /** Always `REQUEST_INTERRUPTED`. */
  declare readonly code: "REQUEST_INTERRUPTED";

  /** Creates the error; `cause` in `options` is why the connection ended. */
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
 * A request was refused, unsent, because `maxInFlight` requests already await
 * their replies.
 */
export class TooManyRequestsError extends TetherError {
  /** Always `TOO_MANY_REQUESTS`. */
  declare readonly code: "TOO_MANY_REQUESTS";
  /** The limit on requests awaiting their replies. */
  readonly limit: number;

  /** Creates the error; the arguments are the fields of the same names. */
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
