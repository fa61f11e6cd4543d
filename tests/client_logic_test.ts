// The client's state machine, driven by a fake clock and a scripted runtime
// of in-memory connections: no sockets, no real waiting.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type Client,
  type ClientOptions,
  type ClientStatus,
  createClient,
  FrameTooLargeError,
  HeartbeatTimeoutError,
  NetError,
  ReconnectError,
  type Runtime,
} from "../mod.ts";
import { encodeFrame } from "../src/framing/framing.ts";
import { lengthPrefixed } from "../src/framing/length_prefixed.ts";
import { FakeClock, settle } from "./_fake_clock.ts";
import { concat } from "./framing/_chunking.ts";
import { memoryConn, type Peer } from "./_memory_conn.ts";

const framing = lengthPrefixed({ maxFrameSize: 1024 });
const text = new TextDecoder();

/** A runtime whose connection attempts follow `plan`, then refuse. */
function scripted(plan: ("refuse" | "open")[]) {
  const peers: Peer[] = [];
  let attempts = 0;
  const runtime: Runtime = {
    name: "scripted",
    connect({ signal }) {
      attempts++;
      if (signal?.aborted) return Promise.reject(signal.reason);
      if ((plan.shift() ?? "refuse") === "refuse") {
        return Promise.reject(
          new NetError("ECONNREFUSED", "connect", {
            hostname: "127.0.0.1",
            port: 9,
          }),
        );
      }
      const { conn, peer } = memoryConn(framing);
      peers.push(peer);
      return Promise.resolve(conn);
    },
    listen() {
      throw new Error("not used");
    },
  };
  return {
    runtime,
    peers,
    get attempts() {
      return attempts;
    },
  };
}

function start(
  runtime: Runtime,
  clock: FakeClock,
  options: Partial<ClientOptions> = {},
): { client: Client; statuses: ClientStatus[] } {
  const client = createClient({
    port: 9,
    runtime,
    clock,
    framing,
    random: () => 0,
    ...options,
  });
  const statuses: ClientStatus[] = [client.status];
  client.addEventListener("status", (event) => {
    statuses.push((event as unknown as { status: ClientStatus }).status);
  });
  return { client, statuses };
}

test("Client waits minTimeout, then doubles, between failed attempts", async () => {
  const clock = new FakeClock();
  const net = scripted(["refuse", "refuse", "refuse", "open"]);
  const { client, statuses } = start(net.runtime, clock, {
    reconnect: { minTimeout: 100, jitter: 0 },
  });
  await settle();
  assert.deepEqual(clock.delays, [100]);
  clock.tick(100);
  await settle();
  assert.deepEqual(clock.delays, [200]);
  clock.tick(200);
  await settle();
  assert.deepEqual(clock.delays, [400]);
  clock.tick(400);
  await settle();
  assert.equal(client.state, "open");
  const waits = statuses.filter((s) => s.nextDelay !== undefined);
  assert.deepEqual(waits.map((s) => [s.state, s.attempt, s.nextDelay]), [
    ["connecting", 1, 100],
    ["connecting", 2, 200],
    ["connecting", 3, 400],
  ]);
  assert.ok(waits.every((s) => (s.error as NetError).code === "ECONNREFUSED"));
  await client.close();
});

test("Client gives up after maxAttempts with ReconnectError", async () => {
  const clock = new FakeClock();
  const net = scripted([]);
  const { client } = start(net.runtime, clock, {
    reconnect: { minTimeout: 10, maxAttempts: 3 },
  });
  for (let i = 0; i < 5; i++) {
    await settle();
    clock.tick(1000);
  }
  const final = await client.closed;
  assert.equal(final.reason, "failed");
  assert.ok(final.error instanceof ReconnectError);
  assert.equal(final.error.attempts, 3);
  assert.ok(final.error.cause instanceof NetError);
  assert.equal(net.attempts, 3);
  assert.equal(clock.pending, 0);
});

test("Client gives up when the next attempt would start after maxElapsed", async () => {
  const clock = new FakeClock();
  const net = scripted([]);
  const { client } = start(net.runtime, clock, {
    reconnect: { minTimeout: 1000, jitter: 0, maxElapsed: 2500 },
  });
  await settle();
  clock.tick(1000); // attempt 2 fails at t=1000; the next wait (2000) ends past 2500
  await settle();
  const final = await client.closed;
  assert.ok(final.error instanceof ReconnectError);
  assert.equal(final.error.attempts, 2);
  assert.equal(final.error.elapsed, 1000);
  assert.equal(net.attempts, 2);
});

test("Client resets the backoff only after a connection stayed up for minUptime", async () => {
  const clock = new FakeClock();
  const net = scripted(["open", "open", "open", "open"]);
  const { client } = start(net.runtime, clock, {
    reconnect: { minTimeout: 100, jitter: 0, minUptime: 5000 },
  });
  await settle();
  assert.equal(client.state, "open");
  // A server that accepts and drops at once meets growing waits.
  net.peers[0]!.end();
  await settle();
  assert.deepEqual(clock.delays, [100]);
  clock.tick(100);
  await settle();
  net.peers[1]!.end();
  await settle();
  assert.deepEqual(clock.delays, [200]);
  clock.tick(200);
  await settle();
  // A connection that lasts is a recovery: the next outage starts afresh.
  clock.tick(6000);
  net.peers[2]!.end();
  await settle();
  assert.deepEqual(clock.delays, [100]);
  await client.close();
});

test("Client closes the old connection before it dials the next", async () => {
  const clock = new FakeClock();
  const net = scripted(["open", "open"]);
  const { client } = start(net.runtime, clock, {
    reconnect: { minTimeout: 10, jitter: 0 },
  });
  await settle();
  net.peers[0]!.end();
  await settle();
  assert.ok(net.peers[0]!.closed);
  clock.tick(10);
  await settle();
  assert.equal(client.state, "open");
  await client.close();
});

test("Client closes with the error when it is not retriable", async () => {
  const clock = new FakeClock();
  const net = scripted(["open", "open"]);
  const { client } = start(net.runtime, clock);
  await settle();
  net.peers[0]!.send(new Uint8Array([0, 0, 0x10, 0])); // declares 4096 > 1024
  const final = await client.closed;
  assert.equal(final.reason, "failed");
  assert.ok(final.error instanceof FrameTooLargeError);
  assert.equal(net.attempts, 1);
  await assert.rejects(
    (async () => {
      for await (const _ of client) { /* drains */ }
    })(),
    FrameTooLargeError,
  );
});

test("Client with reconnect: false closes when its connection ends", async () => {
  const clock = new FakeClock();
  const net = scripted(["open", "open"]);
  const { client } = start(net.runtime, clock, { reconnect: false });
  await settle();
  net.peers[0]!.end();
  const final = await client.closed;
  assert.equal(final.reason, "failed");
  assert.equal(net.attempts, 1);
});

test("Client queues frames while disconnected and sends them after onConnect", async () => {
  const clock = new FakeClock();
  const net = scripted(["refuse", "open"]);
  const { client } = start(net.runtime, clock, {
    reconnect: { minTimeout: 50, jitter: 0 },
    onConnect: async (conn) => {
      await conn.send("hello");
    },
  });
  const sends = [client.send("one"), client.send("two")];
  await settle();
  clock.tick(50);
  await Promise.all(sends);
  assert.deepEqual(net.peers[0]!.frames(), ["hello", "one", "two"]);
  await client.send("three");
  assert.deepEqual(net.peers[0]!.frames(), ["hello", "one", "two", "three"]);
  await client.close();
});

test("Client delivers frames of every connection on one stream", async () => {
  const clock = new FakeClock();
  const net = scripted(["open", "open"]);
  const { client } = start(net.runtime, clock, {
    reconnect: { minTimeout: 10, jitter: 0 },
  });
  await settle();
  net.peers[0]!.frame("a");
  net.peers[0]!.end();
  await settle();
  clock.tick(10);
  await settle();
  net.peers[1]!.frame("b");
  const got: string[] = [];
  for await (const frame of client) {
    got.push(text.decode(frame));
    if (got.length === 2) break;
  }
  assert.deepEqual(got, ["a", "b"]);
  await client.close();
});

test("Client pings an idle link and reconnects when no answer comes", async () => {
  const clock = new FakeClock();
  const net = scripted(["open", "open"]);
  const { client, statuses } = start(net.runtime, clock, {
    reconnect: { minTimeout: 10, jitter: 0 },
    heartbeat: { interval: 1000, timeout: 500 },
  });
  await settle();
  clock.tick(1000);
  await settle();
  assert.deepEqual(net.peers[0]!.frames(), ["PING"]);
  net.peers[0]!.frame("PONG");
  await settle();
  clock.tick(20);
  assert.equal(client.state, "open");
  clock.tick(2000);
  await settle();
  const dropped = statuses.find((s) => s.state === "reconnecting");
  assert.ok(dropped?.error instanceof HeartbeatTimeoutError);
  assert.ok(net.peers[0]!.closed);
  clock.tick(10);
  await settle();
  assert.equal(client.state, "open");
  assert.equal(typeof client.status.rtt, "number");
  await client.close();
});

test("Client does not deliver pongs as frames", async () => {
  const clock = new FakeClock();
  const net = scripted(["open"]);
  const { client } = start(net.runtime, clock, {
    heartbeat: { interval: 1000, timeout: 500 },
  });
  await settle();
  net.peers[0]!.frame("PONG");
  net.peers[0]!.frame("data");
  for await (const frame of client) {
    assert.equal(text.decode(frame), "data");
    break;
  }
  await client.close();
});

test("Client.close() leaves no timer behind and ends the status stream", async () => {
  const clock = new FakeClock();
  const net = scripted(["refuse"]);
  const { client } = start(net.runtime, clock, {
    heartbeat: { interval: 1000, timeout: 500 },
  });
  const seen: string[] = [];
  const watching = (async () => {
    for await (const status of client.statuses()) seen.push(status.state);
  })();
  await settle();
  assert.equal(clock.pending, 1, "the backoff wait");
  await client.close();
  await watching;
  assert.equal(clock.pending, 0);
  assert.equal(seen.at(-1), "closed");
  assert.equal(client.status.reason, "closed");
});

test("Client backoff waits keep the process alive; heartbeats do not", async () => {
  const clock = new FakeClock();
  const net = scripted(["refuse", "open"]);
  const { client } = start(net.runtime, clock, {
    reconnect: { minTimeout: 100, jitter: 0 },
    heartbeat: { interval: 1000, timeout: 500 },
  });
  await settle();
  assert.equal(clock.persistent, 1);
  clock.tick(100);
  await settle();
  assert.equal(client.state, "open");
  assert.equal(clock.pending, 1);
  assert.equal(clock.persistent, 0);
  await client.close();
});

test("Client answers a burst read at once in one write", async () => {
  const clock = new FakeClock();
  const net = scripted(["open"]);
  const { client } = start(net.runtime, clock);
  await client.waitFor("open");
  const peer = net.peers[0]!;
  const burst = Array.from(
    { length: 100 },
    (_, i) => encodeFrame(framing, new TextEncoder().encode(`request ${i}`)),
  );
  peer.send(concat(burst));
  let seen = 0;
  for await (const frame of client) {
    client.send(frame);
    if (++seen === 100) break;
  }
  await client.close();
  assert.equal(peer.frames().length, 100);
  assert.equal(peer.writes, 1);
});

test("Client makes progress when every send of a burst is awaited", async () => {
  const clock = new FakeClock();
  const net = scripted(["open"]);
  const { client } = start(net.runtime, clock);
  await client.waitFor("open");
  const peer = net.peers[0]!;
  for (let i = 0; i < 50; i++) peer.frame(`request ${i}`);
  let seen = 0;
  for await (const frame of client) {
    await client.send(frame);
    if (++seen === 50) break;
  }
  assert.equal(peer.frames().length, 50);
  await client.close();
});

test("Client stops reading while its inbox is full, however many frames the application takes from it", async () => {
  const net = scripted(["open"]);
  const clock = new FakeClock();
  const { client } = start(net.runtime, clock);
  await client.waitFor("open");
  const peer = net.peers[0]!;
  // Ten reads of 2 000 frames each: the first fills the inbox past its bound.
  const frame = encodeFrame(framing, new Uint8Array(1));
  const chunk = new Uint8Array(frame.byteLength * 2_000);
  for (let i = 0; i < 2_000; i++) chunk.set(frame, i * frame.byteLength);
  for (let i = 0; i < 10; i++) peer.send(chunk.slice());
  const frames = client[Symbol.asyncIterator]();
  await frames.next();
  await settle();
  const unread = peer.unread;
  assert.ok(unread >= 8, `${unread} reads left`);
  for (let i = 0; i < 50; i++) {
    await frames.next();
    await settle();
  }
  assert.equal(peer.unread, unread);
  await client.close();
});
