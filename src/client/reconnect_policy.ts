import { checkDuration } from "../_options.ts";
import {
  backoffDelay,
  type BackoffOptions,
  resolveBackoff,
  type ResolvedBackoffOptions,
} from "./backoff.ts";
import {
  ConnectionClosedError,
  ConnectTimeoutError,
  FrameTruncatedError,
  HeartbeatTimeoutError,
  IdleTimeoutError,
  NetError,
  OpenTimeoutError,
  ReconnectError,
} from "../errors.ts";

/**
 * Reconnection policy: backoff options plus when to reset and retry.
 *
 * @example Giving up after three refused attempts
 * ```ts
 * import {
 *   createClient,
 *   listen,
 *   NetError,
 *   ReconnectError,
 *   type ReconnectOptions,
 * } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * // A port that nothing listens on any more.
 * const server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: () => {},
 * });
 * const port = server.addr.port;
 * await server.close();
 *
 * const reconnect: ReconnectOptions = {
 *   minTimeout: 10,
 *   maxTimeout: 100,
 *   maxAttempts: 3,
 *   minUptime: 1000,
 *   isRetriable: (error) =>
 *     error instanceof NetError && error.code === "ECONNREFUSED",
 * };
 * const client = createClient({ port, reconnect });
 * const { error } = await client.closed;
 * assert.ok(error instanceof ReconnectError);
 * assert.equal(error.attempts, 3);
 * ```
 */
export interface ReconnectOptions extends BackoffOptions {
  /**
   * Milliseconds a connection must stay up before the backoff starts over.
   * A server that accepts and drops at once thus meets growing waits, not a
   * storm of reconnects. A shorter connection does not end the outage: its
   * attempts and time keep counting towards `maxAttempts` and `maxElapsed`.
   *
   * @default {5000}
   */
  minUptime?: number;
  /**
   * Decides whether an error is worth another attempt. User aborts and
   * {@linkcode Client.close} never retry, whatever it says.
   *
   * @default {isRetriable}
   */
  isRetriable?: (error: unknown) => boolean;
}

/**
 * The default {@linkcode ReconnectOptions.isRetriable}: socket failures,
 * timeouts (connect, open, heartbeat, idle), a server that closed the connection,
 * and a frame cut off by a crash are retried; bad frames, permission errors,
 * what the runtime cannot do and errors from application code are not.
 *
 * @param error What ended the connection or the attempt.
 * @returns Whether to try again.
 *
 * @example Extending the default
 * ```ts
 * import { createClient, isRetriable } from "@tether/tcp";
 *
 * const client = createClient({
 *   port: 8080,
 *   reconnect: {
 *     isRetriable: (error) =>
 *       isRetriable(error) || (error as Error).message === "try later",
 *   },
 * });
 * await client.close();
 * ```
 */
export function isRetriable(error: unknown): boolean {
  if (error instanceof NetError) {
    return error.code !== "EACCES" && error.code !== "ENOTSUP";
  }
  return error instanceof ConnectTimeoutError ||
    error instanceof OpenTimeoutError ||
    error instanceof HeartbeatTimeoutError ||
    error instanceof IdleTimeoutError ||
    error instanceof ConnectionClosedError ||
    error instanceof FrameTruncatedError;
}

/** Where an outage stands when an attempt failed or a connection was lost. */
export interface Outage {
  /**
   * Connection attempts in the outage, the last one included; 0 when a
   * connection that lasted `minUptime` was lost.
   */
  readonly attempts: number;
  /** Waits already taken in the outage: the step of the backoff. */
  readonly retries: number;
  /** Milliseconds since the outage began. */
  readonly elapsed: number;
}

/** What follows a failure: another attempt after `delay` ms, or the end. */
export type Decision =
  | { readonly retry: true; readonly delay: number }
  | {
    readonly retry: false;
    /** The error that closes the client, with the reason `failed`. */
    readonly error: unknown;
  };

const DEFAULT_MIN_UPTIME = 5000;

/**
 * When a client tries again, and when it gives up: the backoff schedule,
 * {@linkcode ReconnectOptions.isRetriable} and the outage's limits, decided
 * from numbers alone, without sockets or clocks.
 */
export class ReconnectPolicy {
  /** Milliseconds a connection must last to end its outage. */
  readonly minUptime: number;
  #enabled: boolean;
  #backoff: ResolvedBackoffOptions;
  #isRetriable: (error: unknown) => boolean;
  #random: () => number;

  /**
   * @param options The policy, or `false` never to retry.
   * @param random The source of the backoff jitter, in [0, 1).
   * @throws {RangeError} If an option is out of range.
   */
  constructor(
    options: ReconnectOptions | false = {},
    random: () => number = Math.random,
  ) {
    this.#enabled = options !== false;
    this.#backoff = resolveBackoff(options || {});
    this.minUptime = (options ? options.minUptime : undefined) ??
      DEFAULT_MIN_UPTIME;
    checkDuration("reconnect", "minUptime", this.minUptime);
    this.#isRetriable = (options && options.isRetriable) || isRetriable;
    this.#random = random;
  }

  /**
   * Decides what follows `error`, which failed an attempt or ended a
   * connection.
   *
   * @param error What failed or ended.
   * @param outage Where the outage stands.
   * @returns Retry after a delay, or give up with the error that says why.
   */
  decide(error: unknown, outage: Outage): Decision {
    let retriable: boolean;
    try {
      retriable = this.#enabled && this.#isRetriable(error);
    } catch (thrown) {
      return { retry: false, error: thrown };
    }
    if (!retriable) return { retry: false, error };
    const { attempts, retries, elapsed } = outage;
    const delay = backoffDelay(retries, this.#backoff, this.#random);
    if (
      attempts >= this.#backoff.maxAttempts ||
      elapsed + delay > this.#backoff.maxElapsed
    ) {
      return {
        retry: false,
        error: new ReconnectError(attempts, elapsed, { cause: error }),
      };
    }
    return { retry: true, delay };
  }
}
