// Command-line checks shared by the bench scripts, which run on Deno and on
// Bun: a bad flag prints what is wrong and the usage, and exits with 2.
import process from "node:process";

/** Prints `message` and `usage`, then exits with code 2. */
export function fail(usage: string, message: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

/** The flag `--name` as an integer of at least `min`, or `fail`s. */
export function intFlag(
  usage: string,
  name: string,
  raw: string,
  min: number,
): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    fail(usage, `--${name} must be an integer of at least ${min}: got ${raw}`);
  }
  return value;
}
