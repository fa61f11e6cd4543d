// The reconnect policy alone: numbers in, a decision out; no sockets, no
// clocks.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  HeartbeatTimeoutError,
  InvalidFrameError,
  isRetriable,
  NetError,
  ReconnectError,
  type ReconnectOptions,
} from "../mod.ts";
import {
  type Decision,
  type Outage,
  ReconnectPolicy,
} from "../src/client/reconnect_policy.ts";

const refused = new NetError("ECONNREFUSED", "connect");
const badFrame = new InvalidFrameError("bad frame");
const broken = new Error("broken");
const outage = (attempts: number, retries: number, elapsed = 0): Outage => ({
  attempts,
  retries,
  elapsed,
});

const retry = (delay: number): Decision => ({ retry: true, delay });
const giveUp = (error: unknown): Decision => ({ retry: false, error });
const throwing = () => {
  throw badFrame;
};

// [what, options, error, outage, decision]
const cases: [string, ReconnectOptions | false, unknown, Outage, Decision][] = [
  [
    "a refused first attempt waits minTimeout",
    {},
    refused,
    outage(1, 0),
    retry(1000),
  ],
  ["the wait doubles with each retry", {}, refused, outage(4, 3), retry(8000)],
  [
    "the wait stops at maxTimeout",
    { maxTimeout: 5000 },
    new HeartbeatTimeoutError(100),
    outage(9, 8),
    retry(5000),
  ],
  [
    "an error not worth retrying closes with it",
    {},
    badFrame,
    outage(1, 0),
    giveUp(badFrame),
  ],
  [
    "reconnect: false never retries",
    false,
    refused,
    outage(1, 0),
    giveUp(refused),
  ],
  [
    "a custom isRetriable decides",
    { isRetriable: (error) => error === broken },
    broken,
    outage(2, 1),
    retry(2000),
  ],
  [
    "an isRetriable that throws closes with what it threw",
    { isRetriable: throwing },
    refused,
    outage(1, 0),
    giveUp(badFrame),
  ],
  [
    "maxAttempts gives up with ReconnectError",
    { maxAttempts: 3 },
    refused,
    outage(3, 2, 3000),
    giveUp(new ReconnectError(3, 3000, { cause: refused })),
  ],
  [
    "maxElapsed gives up when the next attempt would start too late",
    { maxElapsed: 1500 },
    refused,
    outage(2, 1, 1000),
    giveUp(new ReconnectError(2, 1000, { cause: refused })),
  ],
  [
    "maxElapsed lets an attempt start just in time",
    { maxElapsed: 3000 },
    refused,
    outage(2, 1, 1000),
    retry(2000),
  ],
];

for (const [name, options, error, outage, expected] of cases) {
  test(`ReconnectPolicy.decide(): ${name}`, () => {
    const decision = new ReconnectPolicy(options, () => 0).decide(
      error,
      outage,
    );
    assert.deepEqual(decision, expected);
    if (!decision.retry && decision.error instanceof ReconnectError) {
      assert.equal(decision.error.cause, error);
    }
  });
}

test("ReconnectPolicy takes the jitter from its random source", () => {
  const policy = new ReconnectPolicy({ jitter: 0.5 }, () => 0.5);
  assert.deepEqual(policy.decide(refused, outage(1, 0)), {
    retry: true,
    delay: 750,
  });
});

test("ReconnectPolicy ends an outage after minUptime, 5 s by default", () => {
  assert.equal(new ReconnectPolicy().minUptime, 5000);
  assert.equal(new ReconnectPolicy({ minUptime: 0 }).minUptime, 0);
  assert.equal(new ReconnectPolicy(false).minUptime, 5000);
  assert.throws(() => new ReconnectPolicy({ minUptime: -1 }), RangeError);
  assert.throws(() => new ReconnectPolicy({ maxAttempts: 0 }), RangeError);
});

test("isRetriable() retries failures of the link, not of the data or the application", () => {
  const table: [unknown, boolean][] = [
    [refused, true],
    [new NetError("ECONNRESET", "read"), true],
    [new NetError("EACCES", "connect"), false],
    [new NetError("ENOTSUP", "connect"), false],
    [new HeartbeatTimeoutError(100), true],
    [badFrame, false],
    [broken, false],
  ];
  for (const [error, expected] of table) {
    assert.equal(isRetriable(error), expected, String(error));
  }
});
