// The messaging layer's pure parts: the envelope codec and the deadline
// heap, with a fake clock and no sockets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidFrameError } from "../mod.ts";
import {
  decodeEnvelope,
  encodeEnvelope,
  type Envelope,
  PROTOCOL_VERSION,
} from "../src/messaging/envelope.ts";
import { lengthPrefixed } from "../src/framing/length_prefixed.ts";
import { ProtocolError } from "../src/messaging/errors.ts";
import { envelopeFraming } from "../src/messaging/envelope.ts";
import { type Deadline, Deadlines } from "../src/connection/_deadlines.ts";
import {
  DEFAULT_MAX_IN_FLIGHT,
  DEFAULT_REQUEST_TIMEOUT,
  resolveMessageOptions,
} from "../src/messaging/message_client_options.ts";
import { FakeClock } from "./_fake_clock.ts";
import { seeded } from "./_utils.ts";

const bytes = (...values: number[]) => new Uint8Array(values);

test("encodeEnvelope() lays out every kind byte by byte, and decodeEnvelope() reads it back", () => {
  const payload = bytes(0xaa, 0xbb);
  const cases: [Envelope, number[]][] = [
    [
      { kind: "hello", version: PROTOCOL_VERSION, role: "client" },
      [0x74, 0x65, 0x74, 0x68, 0x65, 0x72, 0x01, 0x01],
    ],
    [
      { kind: "hello", version: 9, role: "server" },
      [0x74, 0x65, 0x74, 0x68, 0x65, 0x72, 0x09, 0x02],
    ],
    [{ kind: "data", payload }, [0x01, 0xaa, 0xbb]],
    [{ kind: "data", payload: bytes() }, [0x01]],
    [
      { kind: "request", id: 0x01020304, payload },
      [0x02, 1, 2, 3, 4, 0xaa, 0xbb],
    ],
    [
      { kind: "response", id: 0xffff_ffff, payload },
      [0x03, 0xff, 0xff, 0xff, 0xff, 0xaa, 0xbb],
    ],
    [
      { kind: "error", id: 5, code: "E", message: "no" },
      [0x04, 0, 0, 0, 5, 1, 0x45, 0x6e, 0x6f],
    ],
    [
      { kind: "error", id: 6, code: "", message: "é" },
      [0x04, 0, 0, 0, 6, 0, 0xc3, 0xa9],
    ],
    [{ kind: "ping" }, [0x05]],
    [{ kind: "pong" }, [0x06]],
    [{ kind: "goaway", nextId: 258 }, [0x07, 0, 0, 1, 2]],
  ];
  for (const [envelope, wire] of cases) {
    const frame = encodeEnvelope(envelope);
    assert.deepEqual([...frame], wire, envelope.kind);
    assert.deepEqual(decodeEnvelope(frame), envelope);
  }
});

test("decodeEnvelope() refuses malformed frames with ProtocolError", () => {
  const malformed = [
    bytes(),
    bytes(0x00),
    bytes(0x08),
    bytes(0x68, 0x65, 0x6c, 0x6c, 0x6f), // "hello" from a raw peer
    bytes(0x02, 0, 0, 0), // request without a full id
    bytes(0x03),
    bytes(0x04, 0, 0, 0, 1), // error without its code size
    bytes(0x04, 0, 0, 0, 1, 3, 0x41), // code overruns the frame
    bytes(0x04, 0, 0, 0, 1, 0, 0xff), // message is not UTF-8
    bytes(0x05, 0), // a ping carries nothing
    bytes(0x06, 0),
    bytes(0x07, 0, 0, 0), // goaway without a full id
    bytes(0x07, 0, 0, 0, 0, 0),
    bytes(0x74, 0x65, 0x74, 0x68, 0x65, 0x72, 0x01), // hello without a role
    bytes(0x74, 0x65, 0x74, 0x68, 0x65, 0x72, 0x01, 0x03), // unknown role
    bytes(0x74, 0x65, 0x74, 0x68, 0x65, 0x73, 0x01, 0x01), // wrong magic
  ];
  for (const frame of malformed) {
    assert.throws(() => decodeEnvelope(frame), ProtocolError, `${[...frame]}`);
  }
});

test("decodeEnvelope() never throws anything but ProtocolError on random bytes", () => {
  const random = seeded(3);
  for (let i = 0; i < 2000; i++) {
    const frame = new Uint8Array(Math.floor(random() * 12));
    for (let j = 0; j < frame.byteLength; j++) {
      frame[j] = Math.floor(random() * 9);
    }
    try {
      decodeEnvelope(frame);
    } catch (error) {
      assert.ok(error instanceof ProtocolError, String(error));
    }
  }
});

test("encodeEnvelope() refuses ids, versions and codes that do not fit", () => {
  const payload = bytes();
  assert.throws(
    () => encodeEnvelope({ kind: "request", id: 2 ** 32, payload }),
    RangeError,
  );
  assert.throws(
    () => encodeEnvelope({ kind: "response", id: -1, payload }),
    RangeError,
  );
  assert.throws(
    () => encodeEnvelope({ kind: "hello", version: 256, role: "client" }),
    RangeError,
  );
  assert.throws(
    () =>
      encodeEnvelope({
        kind: "error",
        id: 1,
        code: "x".repeat(256),
        message: "",
      }),
    InvalidFrameError,
  );
});

test("envelopeFraming() refuses framings that cannot carry any bytes", () => {
  assert.equal(envelopeFraming("test", undefined).name, "length-prefixed");
  const small = lengthPrefixed({ headerSize: 2, maxFrameSize: 100 });
  assert.equal(envelopeFraming("test", small), small);
  assert.throws(
    () => envelopeFraming("test", "line" as "length"),
    (error: unknown) =>
      error instanceof TypeError && /line-delimited/.test(error.message),
  );
});

function deadline(at: number, log: number[]): Deadline {
  return { at, index: -1, expire: () => log.push(at) };
}

test("Deadlines expires entries in time order on one timer", () => {
  const clock = new FakeClock();
  const deadlines = new Deadlines(clock);
  const fired: number[] = [];
  const random = seeded(5);
  const entries = Array.from(
    { length: 200 },
    () => deadline(1 + Math.floor(random() * 1000), fired),
  );
  for (const entry of entries) deadlines.add(entry);
  assert.equal(clock.pending, 1);
  // Removing half of them leaves the rest in order.
  const removed = new Set(entries.filter((_, i) => i % 2 === 0));
  for (const entry of removed) deadlines.remove(entry);
  assert.equal(deadlines.size, 100);
  clock.tick(1000);
  const expected = entries.filter((entry) => !removed.has(entry))
    .map((entry) => entry.at)
    .sort((a, b) => a - b);
  assert.deepEqual(fired, expected);
  assert.equal(deadlines.size, 0);
  assert.equal(clock.pending, 0);
});

test("Deadlines re-arms for an earlier entry and leaves no timer behind", () => {
  const clock = new FakeClock();
  const deadlines = new Deadlines(clock);
  const fired: number[] = [];
  const late = deadline(500, fired);
  const early = deadline(100, fired);
  deadlines.add(late);
  assert.deepEqual(clock.delays, [500]);
  deadlines.add(early);
  assert.deepEqual(clock.delays, [100]);
  clock.tick(100);
  assert.deepEqual(fired, [100]);
  assert.deepEqual(clock.delays, [400]);
  deadlines.remove(late);
  assert.equal(clock.pending, 0);
  deadlines.remove(late); // twice is harmless
  clock.tick(1000);
  assert.deepEqual(fired, [100]);
});

test("Deadlines lets an expiring entry schedule another", () => {
  const clock = new FakeClock();
  const deadlines = new Deadlines(clock);
  const fired: string[] = [];
  const second: Deadline = {
    at: 20,
    index: -1,
    expire: () => fired.push("second"),
  };
  deadlines.add({
    at: 10,
    index: -1,
    expire: () => {
      fired.push("first");
      deadlines.add(second);
    },
  });
  clock.tick(10);
  assert.deepEqual(fired, ["first"]);
  clock.tick(10);
  assert.deepEqual(fired, ["first", "second"]);
  assert.equal(clock.pending, 0);
});

test("resolveMessageOptions() fills in the request policy: 30 s, 10 000 in flight, a queue as deep", () => {
  assert.equal(DEFAULT_REQUEST_TIMEOUT, 30_000);
  assert.equal(DEFAULT_MAX_IN_FLIGHT, 10_000);
  const { policy, queue, core } = resolveMessageOptions("test", { port: 9 });
  assert.deepEqual(policy, {
    timeout: DEFAULT_REQUEST_TIMEOUT,
    maxInFlight: DEFAULT_MAX_IN_FLIGHT,
    retryOnReconnect: false,
    handshakeTimeout: 10_000,
  });
  assert.equal(queue.maxLength, DEFAULT_MAX_IN_FLIGHT);
  assert.equal(core.port, 9);
  assert.ok(core.heartbeat, "heartbeats are on by default");
  const custom = resolveMessageOptions("test", {
    port: 9,
    timeout: 2 * DEFAULT_REQUEST_TIMEOUT,
    maxInFlight: DEFAULT_MAX_IN_FLIGHT / 10,
    heartbeat: false,
    queue: { maxLength: 5 },
  });
  assert.equal(custom.policy.timeout, 60_000);
  assert.equal(custom.policy.maxInFlight, 1000);
  assert.equal(custom.queue.maxLength, 5);
  assert.equal(custom.core.heartbeat, false);
  assert.throws(
    () => resolveMessageOptions("test", { port: 9, maxInFlight: 0 }),
    /Cannot test as 'maxInFlight' must be an integer between 1 and/,
  );
});
