import type { ConnectionLimits } from "./connection/options.ts";

/** Checks a port number for `action`, allowing 0 when `allowZero`. */
export function checkPort(action: string, port: unknown, allowZero: boolean) {
  const min = allowZero ? 0 : 1;
  if (
    typeof port !== "number" || !Number.isInteger(port) || port < min ||
    port > 65535
  ) {
    throw new RangeError(
      `Cannot ${action} as 'port' must be an integer between ${min} and 65535: current value is ${port}`,
    );
  }
}

/** Checks a duration in milliseconds. */
export function checkDuration(action: string, name: string, value: number) {
  if (typeof value !== "number" || !(value >= 0) || value > 2 ** 31 - 1) {
    throw new RangeError(
      `Cannot ${action} as '${name}' must be a number of milliseconds between 0 and ${
        2 ** 31 - 1
      }: current value is ${value}`,
    );
  }
}

/**
 * Checks a wait that must not be zero, such as a heartbeat's: a zero wait
 * would declare every live link dead at its first ping.
 */
export function checkWait(
  action: string,
  name: string,
  value: number,
  off: string,
) {
  checkDuration(action, name, value);
  if (value === 0) {
    throw new RangeError(
      `Cannot ${action} as '${name}' must be at least 1 millisecond: current value is 0 (${off})`,
    );
  }
}

/** Checks a count or size limit: a non-negative safe integer. */
export function checkLimit(action: string, name: string, value: number) {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(
      `Cannot ${action} as '${name}' must be a non-negative integer: current value is ${value}`,
    );
  }
}

/** Checks a count or size that must be at least 1. */
export function checkPositive(action: string, name: string, value: number) {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot ${action} as '${name}' must be a positive integer: current value is ${value}`,
    );
  }
}

/**
 * Checks the limits every connection takes, so that `listen()`,
 * `connect()`, `createClient()` and `Connection` refuse a bad one up front.
 */
export function checkConnectionLimits(
  action: string,
  options: ConnectionLimits,
) {
  checkDuration(action, "idleTimeout", options.idleTimeout ?? 0);
  checkDuration(action, "frameTimeout", options.frameTimeout ?? 0);
  checkDuration(action, "closeTimeout", options.closeTimeout ?? 0);
  checkLimit(action, "maxFrameRate", options.maxFrameRate ?? 0);
  checkPositive(action, "maxWriteBuffer", options.maxWriteBuffer ?? 1);
}

/** Where a connection or a listener goes, as its options say. */
export interface TargetOptions {
  hostname?: string | undefined;
  port?: number | undefined;
  path?: string | undefined;
  tls?: unknown;
  mode?: number | undefined;
  reusePort?: boolean | undefined;
}

/**
 * Checks where `action` goes: a `port`, allowing 0 when `allowZero`, or a
 * Unix socket's `path` with neither a host, a port, TLS nor `reusePort`;
 * and the listener options `reusePort` and `mode`.
 */
export function checkTarget(
  action: string,
  options: TargetOptions,
  allowZero: boolean,
) {
  const { path, mode, reusePort } = options;
  if (reusePort !== undefined && typeof reusePort !== "boolean") {
    throw new TypeError(
      `Cannot ${action} as 'reusePort' must be a boolean: current value is ${typeof reusePort}`,
    );
  }
  if (path === undefined) {
    checkPort(action, options.port, allowZero);
    if (mode !== undefined) {
      throw new TypeError(
        `Cannot ${action} as 'mode' applies to a Unix socket only: set 'path' or leave 'mode' out`,
      );
    }
    return;
  }
  if (typeof path !== "string") {
    throw new TypeError(
      `Cannot ${action} as 'path' must be a string: current value is ${typeof path}`,
    );
  }
  if (path === "") {
    throw new RangeError(`Cannot ${action} as 'path' must not be empty`);
  }
  for (const name of ["hostname", "port"] as const) {
    if (options[name] !== undefined) {
      throw new TypeError(
        `Cannot ${action} as '${name}' cannot be combined with 'path': a Unix socket has neither host nor port`,
      );
    }
  }
  if (options.tls) {
    throw new TypeError(
      `Cannot ${action} as 'tls' cannot be combined with 'path': TLS over a Unix socket is not supported, as Deno cannot do it`,
    );
  }
  if (reusePort) {
    throw new TypeError(
      `Cannot ${action} as 'reusePort' cannot be combined with 'path': it applies to TCP ports only`,
    );
  }
  if (
    mode !== undefined &&
    (!Number.isInteger(mode) || mode < 0 || mode > 0o777)
  ) {
    throw new RangeError(
      `Cannot ${action} as 'mode' must be an integer between 0 and 0o777: current value is ${mode}`,
    );
  }
}
