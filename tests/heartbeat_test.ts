import { test } from "node:test";
import assert from "node:assert/strict";
import { HeartbeatTimeoutError } from "../mod.ts";
import { Heartbeat } from "../src/connection/heartbeat.ts";
import { FakeClock } from "./_fake_clock.ts";

function monitor(interval = 1000, timeout = 500) {
  const clock = new FakeClock();
  const controller = new AbortController();
  const events: string[] = [];
  const rtts: number[] = [];
  let dead: HeartbeatTimeoutError | undefined;
  const heartbeat = new Heartbeat({ interval, timeout }, clock, {
    ping: () => events.push(`ping@${clock.now()}`),
    rtt: (ms) => rtts.push(ms),
    dead: (error) => {
      dead = error;
      events.push(`dead@${clock.now()}`);
    },
  }, controller.signal);
  return {
    clock,
    controller,
    events,
    rtts,
    heartbeat,
    get dead() {
      return dead;
    },
  };
}

test("Heartbeat pings only after `interval` of silence", () => {
  const m = monitor();
  m.clock.tick(999);
  assert.deepEqual(m.events, []);
  m.clock.tick(1);
  assert.deepEqual(m.events, ["ping@1000"]);
});

test("Heartbeat never pings a link that carries traffic", () => {
  const m = monitor();
  for (let t = 0; t < 10_000; t += 400) {
    m.clock.tick(400);
    m.heartbeat.activity();
  }
  assert.deepEqual(m.events, []);
  assert.equal(m.clock.pending, 1, "one timer, however much traffic");
});

test("Heartbeat counts any frame after a ping as proof of life", () => {
  const m = monitor();
  m.clock.tick(1000);
  m.clock.tick(100);
  m.heartbeat.activity();
  m.clock.tick(1000);
  assert.equal(m.dead, undefined);
  assert.deepEqual(m.events, ["ping@1000", "ping@2100"]);
});

test("Heartbeat declares the link dead `timeout` after an unanswered ping", () => {
  const m = monitor(1000, 500);
  m.clock.tick(1499);
  assert.equal(m.dead, undefined);
  m.clock.tick(1);
  const dead: unknown = m.dead;
  assert.ok(dead instanceof HeartbeatTimeoutError);
  assert.equal(dead.timeout, 500);
  assert.deepEqual(m.events, ["ping@1000", "dead@1500"]);
  assert.equal(m.clock.pending, 0, "a dead monitor leaves no timer");
});

test("Heartbeat detects silence within interval + timeout of the last frame", () => {
  const m = monitor(1000, 500);
  m.clock.tick(700);
  m.heartbeat.activity();
  m.clock.tick(2000);
  assert.deepEqual(m.events, ["ping@1700", "dead@2200"]);
});

test("Heartbeat measures the round trip from ping to pong", () => {
  const m = monitor();
  m.clock.tick(1000);
  m.clock.tick(42);
  m.heartbeat.pong();
  assert.deepEqual(m.rtts, [42]);
  // The pong is proof of life: the next ping comes an interval after it.
  m.clock.tick(999);
  assert.deepEqual(m.events, ["ping@1000"]);
  m.clock.tick(1);
  assert.deepEqual(m.events, ["ping@1000", "ping@2042"]);
});

test("Heartbeat neither pings nor times out while suspended", () => {
  const m = monitor(1000, 500);
  m.heartbeat.suspend();
  m.clock.tick(10_000);
  assert.deepEqual(m.events, []);
  m.heartbeat.resume();
  m.clock.tick(999);
  assert.deepEqual(m.events, []);
  m.clock.tick(501);
  assert.deepEqual(m.events, ["ping@11000", "dead@11500"]);
});

test("Heartbeat stops every timer when its signal aborts", () => {
  const m = monitor();
  m.clock.tick(1000);
  m.controller.abort();
  assert.equal(m.clock.pending, 0);
  m.clock.tick(10_000);
  assert.equal(m.dead, undefined);
});

test("Heartbeat timers never keep the process alive", () => {
  const m = monitor();
  assert.equal(m.clock.pending, 1);
  assert.equal(m.clock.persistent, 0);
});
