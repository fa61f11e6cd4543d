import { test } from "node:test";
import assert from "node:assert/strict";
import {
  connect,
  Connection,
  createClient,
  FrameTooLargeError,
  listen,
} from "../mod.ts";
import { encodeFrame } from "../src/framing/framing.ts";
import { lengthPrefixed } from "../src/framing/length_prefixed.ts";
import { memoryConn } from "./_memory_conn.ts";
import { fromAsync } from "./_async.ts";
import { concat } from "./framing/_chunking.ts";

const framing = lengthPrefixed({ maxFrameSize: 1024 });
const text = new TextDecoder();
const bytes = new TextEncoder();

function wire(payloads: string[]): Uint8Array {
  return concat(payloads.map((p) => encodeFrame(framing, bytes.encode(p))));
}

async function batchesOf(connection: Connection): Promise<string[][]> {
  const batches: string[][] = [];
  for await (const frames of connection.batches()) {
    assert.ok(frames.length > 0, "a batch is never empty");
    batches.push(frames.map((frame) => text.decode(frame)));
  }
  return batches;
}

const payloads = Array.from(
  { length: 1000 },
  (_, i) => i % 7 === 0 ? "" : `frame ${i}`,
);

const chunkings: [string, (all: Uint8Array) => Uint8Array[]][] = [
  ["all in one chunk", (all) => [all]],
  ["byte by byte", (all) => Array.from(all, (b) => Uint8Array.of(b))],
  ["headers split across chunks", (all) => {
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < all.byteLength; at += 3) {
      chunks.push(all.subarray(at, at + 3));
    }
    return chunks;
  }],
];

for (const [name, cut] of chunkings) {
  test(`Connection.batches hands out every frame once and in order: ${name}`, async () => {
    const { conn, peer } = memoryConn(framing);
    const connection = new Connection(conn, { framing });
    for (const chunk of cut(wire(payloads))) peer.send(chunk);
    peer.end();
    const batches = await batchesOf(connection);
    assert.deepEqual(batches.flat(), payloads);
    await connection.close();
  });
}

test("Connection.batches: a burst read at once is one batch, answered in one write", async () => {
  const { conn, peer } = memoryConn(framing);
  const connection = new Connection(conn, { framing });
  const requests = Array.from({ length: 100 }, (_, i) => `request ${i}`);
  peer.send(wire(requests));
  const { value: frames } = await connection.batches().next();
  assert.equal(frames!.length, 100);
  for (const frame of frames!) connection.send(frame);
  peer.end();
  await connection.close();
  assert.deepEqual(peer.frames(), requests);
  assert.equal(peer.writes, 1);
});

test("Connection.batches shares one queue with iteration and readable", async () => {
  const { conn, peer } = memoryConn(framing);
  const connection = new Connection(conn, { framing });
  peer.send(wire(["a", "b", "c"]));
  const first = await connection[Symbol.asyncIterator]().next();
  assert.equal(text.decode(first.value!), "a");
  const { value: batch } = await connection.batches().next();
  assert.deepEqual(batch!.map((f: Uint8Array) => text.decode(f)), ["b", "c"]);
  peer.send(wire(["d"]));
  peer.end();
  const rest = await fromAsync(connection.readable);
  assert.deepEqual(rest.map((f) => text.decode(f)), ["d"]);
  await connection.close();
});

test("Connection.batches delivers the frames before bad input, then the error", async () => {
  const { conn, peer } = memoryConn(framing);
  const connection = new Connection(conn, { framing });
  peer.send(wire(["one", "two"]));
  peer.send(new Uint8Array([0, 0, 0x10, 0])); // declares 4096 > 1024
  const got: string[] = [];
  await assert.rejects(async () => {
    for await (const frames of connection.batches()) {
      got.push(...frames.map((f) => text.decode(f)));
    }
  }, FrameTooLargeError);
  assert.deepEqual(got, ["one", "two"]);
  assert.ok(connection.signal.aborted);
});

test("Connection.batches: leaving a loop early loses no frame", async () => {
  const { conn, peer } = memoryConn(framing);
  const connection = new Connection(conn, { framing });
  peer.send(wire(["x"]));
  for await (const frames of connection.batches()) {
    assert.deepEqual(frames.map((f) => text.decode(f)), ["x"]);
    break;
  }
  peer.send(wire(["y", "z"]));
  peer.end();
  assert.deepEqual((await batchesOf(connection)).flat(), ["y", "z"]);
  await connection.close();
});

/** An echo server on loopback that reads in batches. */
function batchEchoServer() {
  return listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: async (conn) => {
      for await (const frames of conn.batches()) {
        for (const frame of frames) conn.send(frame);
      }
    },
  });
}

test("Connection.batches echoes 20 000 frames over loopback", async () => {
  await using server = await batchEchoServer();
  await using conn = await connect(server.addr);
  const count = 20_000;
  const received: Promise<string[]> = (async () => {
    const got: string[] = [];
    for await (const frames of conn.batches()) {
      for (const frame of frames) got.push(text.decode(frame));
      if (got.length === count) break;
    }
    return got;
  })();
  const sent: string[] = [];
  for (let i = 0; i < count; i++) {
    sent.push(`frame ${i}`);
    const done = conn.send(sent[i]!);
    // Bounded in flight: wait for the socket now and then.
    if (i % 1000 === 999) await done;
  }
  assert.deepEqual(await received, sent);
});

test("Client.batches echoes 20 000 frames in order, sharing its queue with iteration", async () => {
  await using server = await batchEchoServer();
  await using client = createClient(server.addr);
  const count = 20_000;
  const pipeline = 64;
  let sent = 0;
  const send = () => client.send(`frame ${sent++}`);
  while (sent < pipeline) send();
  // The first echo through plain iteration, the rest in batches.
  const first = await client[Symbol.asyncIterator]().next();
  const got = [text.decode(first.value!)];
  send();
  for await (const frames of client.batches()) {
    assert.ok(frames.length > 0);
    for (const frame of frames) {
      got.push(text.decode(frame));
      if (sent < count) send();
    }
    if (got.length === count) break;
  }
  assert.deepEqual(got, Array.from({ length: count }, (_, i) => `frame ${i}`));
});
