// A server that probes its clients: silent or vanished peers are dropped
// within interval + timeout, peers that answer pings stay.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type Connection, HeartbeatTimeoutError } from "../mod.ts";
import { encodeFrame } from "../src/framing/framing.ts";
import { lengthPrefixed } from "../src/framing/length_prefixed.ts";
import { HOST, runtime, serve } from "./_utils.ts";
import { deferred, within } from "./_async.ts";
import { faultyRuntime } from "./_faulty_runtime.ts";

const PATIENCE = 20_000;
const PROBE = { interval: 100, timeout: 100 };

/** A server whose handler reads and reports how its connection ended. */
async function probing(options = {}) {
  const ended = deferred<unknown>();
  const server = await serve(async (conn: Connection) => {
    try {
      for await (const _ of conn) { /* dropped */ }
      ended.resolve(undefined);
    } catch (error) {
      ended.resolve(error);
    }
  }, { heartbeat: PROBE, onError: () => {}, ...options });
  return { server, ended: ended.promise };
}

test("a server with heartbeat.interval drops a peer that sends nothing", async () => {
  const { server, ended } = await probing();
  const peer = await runtime.connect({
    hostname: HOST,
    port: server.addr.port,
  });
  try {
    const error = await within(ended, PATIENCE, "the probe");
    assert.ok(error instanceof HeartbeatTimeoutError);
    assert.equal(error.timeout, PROBE.timeout);
    await within(
      (async () => {
        while (server.connections > 0) {
          await new Promise((r) => setTimeout(r, 5));
        }
      })(),
      PATIENCE,
      "the slot",
    );
  } finally {
    peer.close();
    await server.close();
  }
});

test("a server with heartbeat.interval drops a peer that vanished", async () => {
  const faults = faultyRuntime(runtime);
  const { server, ended } = await probing({ runtime: faults.runtime });
  const accepted = faults.next();
  const peer = await runtime.connect({
    hostname: HOST,
    port: server.addr.port,
  });
  try {
    // Nothing the server sends arrives, nothing more comes from the peer.
    (await within(accepted, PATIENCE, "the accept")).blackhole();
    assert.ok(
      await within(ended, PATIENCE, "the probe") instanceof
        HeartbeatTimeoutError,
    );
  } finally {
    peer.close();
    await server.close();
  }
});

test("a server with heartbeat.interval keeps a peer that answers its pings", async () => {
  const { server, ended } = await probing();
  const peer = await runtime.connect({
    hostname: HOST,
    port: server.addr.port,
  });
  const reader = peer.readable.getReader();
  try {
    const framing = lengthPrefixed();
    const ping = encodeFrame(framing, new TextEncoder().encode("PING"));
    const pong = encodeFrame(framing, new TextEncoder().encode("PONG"));
    let pings = 0;
    let bytes = 0;
    while (pings < 3) {
      const { value, done } = await within(reader.read(), PATIENCE, "a ping");
      assert.equal(done, false);
      bytes += value!.byteLength;
      while (bytes >= ping.byteLength) {
        bytes -= ping.byteLength;
        pings++;
        await peer.write(pong);
      }
    }
    assert.equal(server.connections, 1);
    let settled = false;
    void ended.then(() => settled = true);
    await Promise.resolve();
    assert.equal(settled, false);
  } finally {
    reader.releaseLock();
    peer.close();
    await server.close();
  }
});

test("listen() refuses a heartbeat timeout of 0", async () => {
  await assert.rejects(
    serve(() => {}, { heartbeat: { interval: 100, timeout: 0 } }),
    RangeError,
  );
});
