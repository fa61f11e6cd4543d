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
