import { defined } from "../_values.ts";

/**
 * How long to wait between reconnection attempts. The option names and their
 * meaning are those of `retry` from `@std/async`, plus a time budget.
 *
 * @example A faster schedule, tripling each time
 * ```ts
 * import { type BackoffOptions, createClient } from "@tether/tcp";
 *
 * // Waits of 100, 300 and 900 ms, then 1 s between attempts.
 * const backoff: BackoffOptions = {
 *   minTimeout: 100,
 *   maxTimeout: 1000,
 *   multiplier: 3,
 *   jitter: 0,
 * };
 * const client = createClient({ port: 8080, reconnect: backoff });
 * await client.close();
 * ```
 */
export interface BackoffOptions {
  /**
   * Milliseconds before the first retry.
   *
   * @default {1000}
   */
  minTimeout?: number;
  /**
   * The longest wait in milliseconds between two attempts.
   *
   * @default {30000}
   */
  maxTimeout?: number;
  /**
   * How much the wait grows after each failed attempt.
   *
   * @default {2}
   */
  multiplier?: number;
  /**
   * The share of each wait, from 0 to 1, that is random: a wait of `d`
   * becomes a wait between `d * (1 - jitter)` and `d`. It applies after the
   * cap too, so clients that lost the same server never retry in step.
   *
   * @default {0.5}
   */
  jitter?: number;
  /**
   * The most connection attempts in one outage, the first included;
   * `Infinity` never gives up.
   *
   * @default {Infinity}
   */
  maxAttempts?: number;
  /**
   * The most milliseconds one outage may last: no attempt starts later than
   * this after the connection was lost (or, before the first connection, after
   * the first attempt started). `Infinity` never gives up.
   *
   * @default {Infinity}
   */
  maxElapsed?: number;
}

/** {@linkcode BackoffOptions} with every default filled in and checked. */
export type ResolvedBackoffOptions = Required<BackoffOptions>;

/** The defaults of {@linkcode BackoffOptions}: 1 s doubling to 30 s. */
export const DEFAULT_BACKOFF: Readonly<ResolvedBackoffOptions> = Object.freeze({
  minTimeout: 1000,
  maxTimeout: 30_000,
  multiplier: 2,
  jitter: 0.5,
  maxAttempts: Infinity,
  maxElapsed: Infinity,
});

/**
 * Fills in the defaults of {@linkcode BackoffOptions} and checks the values.
 *
 * @param options The options to check.
 * @returns The options with defaults.
 * @throws {RangeError} If a value is out of range.
 */
export function resolveBackoff(
  options: BackoffOptions = {},
): ResolvedBackoffOptions {
  const resolved = { ...DEFAULT_BACKOFF, ...defined(options) };
  const {
    minTimeout,
    maxTimeout,
    multiplier,
    jitter,
    maxAttempts,
    maxElapsed,
  } = resolved;
  check(
    "minTimeout",
    minTimeout,
    minTimeout >= 0 && Number.isFinite(minTimeout),
    "a finite number of milliseconds of at least 0",
  );
  check(
    "maxTimeout",
    maxTimeout,
    maxTimeout >= minTimeout && Number.isFinite(maxTimeout),
    `a finite number of milliseconds of at least 'minTimeout' (${minTimeout})`,
  );
  check(
    "multiplier",
    multiplier,
    multiplier >= 1 && Number.isFinite(multiplier),
    "a finite number of at least 1",
  );
  check("jitter", jitter, jitter >= 0 && jitter <= 1, "a number from 0 to 1");
  check(
    "maxAttempts",
    maxAttempts,
    maxAttempts >= 1 &&
      (Number.isInteger(maxAttempts) || maxAttempts === Infinity),
    "an integer of at least 1, or Infinity",
  );
  check(
    "maxElapsed",
    maxElapsed,
    maxElapsed >= 0,
    "a number of milliseconds of at least 0, or Infinity",
  );
  return resolved;
}

function check(name: string, value: unknown, ok: boolean, what: string): void {
  if (typeof value !== "number" || !ok) {
    throw new RangeError(
      `Cannot reconnect as '${name}' must be ${what}: current value is ${value}`,
    );
  }
}

/**
 * The wait in milliseconds before retry number `retry` (0 for the first
 * retry): `minTimeout * multiplier ** retry`, capped at `maxTimeout`, with
 * the random share `jitter` taken off.
 *
 * @param retry How many retries came before this one.
 * @param options Resolved backoff options.
 * @param random A source of numbers in [0, 1).
 * @returns The wait in milliseconds.
 */
export function backoffDelay(
  retry: number,
  options: ResolvedBackoffOptions,
  random: () => number = Math.random,
): number {
  const { minTimeout, maxTimeout, multiplier, jitter } = options;
  const capped = Math.min(maxTimeout, minTimeout * multiplier ** retry);
  return Math.round(capped * (1 - jitter * random()));
}
