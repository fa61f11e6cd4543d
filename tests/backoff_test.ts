import { test } from "node:test";
import assert from "node:assert/strict";
import {
  backoffDelay,
  DEFAULT_BACKOFF,
  resolveBackoff,
} from "../src/client/backoff.ts";

test("backoffDelay() doubles from 1 s to a 30 s cap by default", () => {
  const options = resolveBackoff({ jitter: 0 });
  const waits = Array.from({ length: 8 }, (_, n) => backoffDelay(n, options));
  assert.deepEqual(waits, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
});

test("backoffDelay() takes the random share of jitter off the wait", () => {
  const options = resolveBackoff({ jitter: 0.5 });
  assert.equal(backoffDelay(0, options, () => 0), 1000);
  assert.equal(backoffDelay(0, options, () => 0.5), 750);
  assert.equal(backoffDelay(0, options, () => 0.999999), 500);
  const full = resolveBackoff({ jitter: 1 });
  assert.equal(backoffDelay(2, full, () => 0.25), 3000);
});

test("backoffDelay() keeps jitter in effect at the cap", () => {
  const options = resolveBackoff({ maxTimeout: 10_000 });
  const at = (random: number) => backoffDelay(50, options, () => random);
  assert.equal(at(0), 10_000);
  assert.equal(at(0.999999), 5000);
  const spread = new Set(
    [0.1, 0.3, 0.5, 0.7, 0.9].map((random) => at(random)),
  );
  assert.equal(spread.size, 5, "clients at the cap do not retry in step");
});

test("backoffDelay() never overflows for very late retries", () => {
  const options = resolveBackoff({ jitter: 0, multiplier: 10 });
  assert.equal(backoffDelay(10_000, options), 30_000);
});

test("resolveBackoff() fills defaults close to the classic 1 s doubling to 30 s", () => {
  assert.deepEqual(resolveBackoff(), { ...DEFAULT_BACKOFF });
  assert.equal(DEFAULT_BACKOFF.minTimeout, 1000);
  assert.equal(DEFAULT_BACKOFF.maxTimeout, 30_000);
  assert.equal(DEFAULT_BACKOFF.multiplier, 2);
  assert.equal(DEFAULT_BACKOFF.maxAttempts, Infinity);
});

test("resolveBackoff() rejects out-of-range options with RangeError naming the value", () => {
  const bad = [
    { minTimeout: -1 },
    { minTimeout: 5000, maxTimeout: 1000 },
    { multiplier: 0.5 },
    { jitter: 1.5 },
    { maxAttempts: 0 },
    { maxAttempts: 2.5 },
    { maxElapsed: -5 },
  ];
  for (const options of bad) {
    assert.throws(() => resolveBackoff(options), (error: unknown) => {
      assert.ok(error instanceof RangeError);
      const [name, value] = Object.entries(options).at(-1)!;
      assert.match(error.message, new RegExp(`'${name}'.*${value}`));
      return true;
    });
  }
});

test("backoffDelay() grows by the multiplier up to maxTimeout", () => {
  const options = resolveBackoff({
    minTimeout: 100,
    maxTimeout: 1000,
    multiplier: 3,
    jitter: 0,
  });
  const waits = [0, 1, 2, 3].map((retry) => backoffDelay(retry, options));
  assert.deepEqual(waits, [100, 300, 900, 1000]);
});

test("resolveBackoff() keeps what it is given and fills in the rest", () => {
  const resolved = resolveBackoff({ maxAttempts: 5 });
  assert.equal(resolved.maxAttempts, 5);
  assert.equal(resolved.multiplier, 2);
  assert.equal(resolved.maxElapsed, Infinity);
  assert.equal(resolveBackoff({ maxTimeout: 5000 }).minTimeout, 1000);
  const noJitter = { ...DEFAULT_BACKOFF, jitter: 0 };
  assert.equal(backoffDelay(3, noJitter), 8000);
  assert.equal(backoffDelay(10, noJitter), DEFAULT_BACKOFF.maxTimeout);
});
