// The checks of the framings' options, shared by the three of them.

/**
 * Formats a rejected option value for a message: strings quoted, everything
 * else as `String` shows it.
 */
export function formatValue(value: unknown): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

/**
 * Validates that an options argument is an object or absent.
 *
 * @throws {TypeError} If `options` is anything else.
 */
export function checkOptions(options: unknown): void {
  if (
    options !== undefined && (typeof options !== "object" || options === null)
  ) {
    throw new TypeError(
      `Cannot create framing as 'options' must be an object: current value is ${
        formatValue(options)
      }`,
    );
  }
}

/**
 * Validates a size option: a non-negative (or, with `min` 1, positive) safe
 * integer.
 *
 * @throws {TypeError} If `value` is not a number.
 * @throws {RangeError} If `value` is not a safe integer of at least `min`.
 */
export function checkSize(name: string, value: unknown, min: 0 | 1): number {
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot create framing as '${name}' must be a number: current type is ${typeof value}`,
    );
  }
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(
      `Cannot create framing as '${name}' must be a ${
        min === 0 ? "non-negative" : "positive"
      } safe integer: current value is ${value}`,
    );
  }
  return value;
}
