import { test } from "node:test";
import assert from "node:assert/strict";
import { Connection, FrameTooLargeError } from "../mod.ts";
import { encodeFrame } from "../src/framing/framing.ts";
import { lengthPrefixed } from "../src/framing/length_prefixed.ts";
import { memoryConn } from "./_memory_conn.ts";
import { fromAsync } from "./_async.ts";
import { concat } from "./framing/_chunking.ts";

const framing = lengthPrefixed({ maxFrameSize: 1024 });
const text = new TextDecoder();

test("Connection delivers the frames received before bad input, then the error", async () => {
  const { conn, peer } = memoryConn(framing);
  const connection = new Connection(conn, { framing });
  peer.frame("one");
  peer.frame("two");
  peer.send(new Uint8Array([0, 0, 0x10, 0])); // declares 4096 > 1024
  const got: string[] = [];
  await assert.rejects(async () => {
    for await (const frame of connection) got.push(text.decode(frame));
  }, FrameTooLargeError);
  assert.deepEqual(got, ["one", "two"]);
  assert.ok(connection.signal.aborted);
  assert.ok(peer.closed);
});

test("Connection replies to a burst read at once in one write", async () => {
  const { conn, peer } = memoryConn(framing);
  const connection = new Connection(conn, { framing });
  const requests = Array.from(
    { length: 100 },
    (_, i) => encodeFrame(framing, new TextEncoder().encode(`request ${i}`)),
  );
  peer.send(concat(requests));
  let seen = 0;
  for await (const frame of connection) {
    connection.send(frame);
    if (++seen === 100) break;
  }
  await connection.close();
  assert.equal(peer.frames().length, 100);
  assert.equal(peer.writes, 1);
});

test("Connection makes progress when every send of a burst is awaited", async () => {
  const { conn, peer } = memoryConn(framing);
  const connection = new Connection(conn, { framing });
  for (let i = 0; i < 50; i++) peer.frame(`request ${i}`);
  let seen = 0;
  // Each reply is held while more requests wait, but an application that
  // waits for it stops taking frames, and the held batch goes out.
  for await (const frame of connection) {
    await connection.send(frame);
    if (++seen === 50) break;
  }
  assert.equal(peer.frames().length, 50);
  await connection.close();
});

test("Connection.readable and iteration share one queue of frames", async () => {
  const { conn, peer } = memoryConn(framing);
  const connection = new Connection(conn, { framing });
  peer.frame("a");
  peer.frame("b");
  peer.frame("c");
  peer.end();
  const first = await connection[Symbol.asyncIterator]().next();
  assert.equal(text.decode(first.value!), "a");
  const rest = await fromAsync(connection.readable);
  assert.deepEqual(rest.map((f) => text.decode(f)), ["b", "c"]);
});

test("Connection iteration can stop and resume without losing frames", async () => {
  const { conn, peer } = memoryConn(framing);
  const connection = new Connection(conn, { framing });
  for (const word of ["x", "y", "z"]) peer.frame(word);
  peer.end();
  for await (const frame of connection) {
    assert.equal(text.decode(frame), "x");
    break;
  }
  const rest: string[] = [];
  for await (const frame of connection) rest.push(text.decode(frame));
  assert.deepEqual(rest, ["y", "z"]);
});

test("Connection never overlaps reads, not even when closing during a read", async () => {
  const { conn, peer } = memoryConn(framing);
  // A runtime read() that refuses to be called while a call is under way.
  const chunks: (Uint8Array | null)[] = [];
  let wake: (() => void) | undefined;
  let reading = false;
  let overlapped = false;
  conn.read = async () => {
    if (reading) overlapped = true;
    reading = true;
    while (chunks.length === 0) await new Promise<void>((r) => wake = r);
    reading = false;
    return chunks.shift()!;
  };
  const push = (chunk: Uint8Array | null) => {
    chunks.push(chunk);
    wake?.();
  };
  const connection = new Connection(conn, { framing });
  const iterator = connection[Symbol.asyncIterator]();
  const first = iterator.next(); // a read is now under way
  push(encodeFrame(framing, new TextEncoder().encode("one")));
  assert.equal(text.decode((await first).value), "one");
  void iterator.next(); // and another one
  const closing = connection.close();
  // Let the close reach its lingering read while the other read still waits.
  await new Promise((resolve) => setTimeout(resolve, 0));
  push(encodeFrame(framing, new TextEncoder().encode("dropped")));
  push(null); // the peer's FIN ends the lingering close
  await closing;
  assert.equal(overlapped, false);
  assert.ok(peer.closed);
});

test("Connection refuses limits that connect() and listen() refuse", () => {
  for (
    const limits of [
      { idleTimeout: -1 },
      { frameTimeout: 2 ** 31 },
      { maxFrameRate: 0.5 },
      { maxWriteBuffer: 0 },
      { closeTimeout: Number.NaN },
    ]
  ) {
    const { conn } = memoryConn();
    const name = Object.keys(limits)[0]!;
    assert.throws(
      () => new Connection(conn, limits),
      (error: unknown) =>
        error instanceof RangeError &&
        error.message.startsWith(`Cannot create a connection as '${name}'`),
    );
    conn.close();
  }
});
