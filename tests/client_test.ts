import { test } from "node:test";
import assert from "node:assert/strict";
import {
  connect,
  ConnectionClosedError,
  ConnectTimeoutError,
  createClient,
  FrameTooLargeError,
  InvalidFrameError,
  NetError,
} from "../mod.ts";
import { lengthPrefixed } from "../src/framing/length_prefixed.ts";
import {
  closedPort,
  echo,
  hangingRuntime,
  HOST,
  runtime,
  serve,
  take,
} from "./_utils.ts";
import { deferred } from "./_async.ts";

const text = new TextDecoder();

test("connect() fails with NetError ECONNREFUSED when nothing listens", async () => {
  const port = await closedPort();
  await assert.rejects(connect({ port }), (error: unknown) => {
    assert.ok(error instanceof NetError);
    assert.equal(error.code, "ECONNREFUSED");
    assert.equal(error.operation, "connect");
    assert.deepEqual(error.address, { hostname: HOST, port });
    assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    return true;
  });
});

test("connect() fails with ConnectTimeoutError after connectTimeout", async () => {
  await assert.rejects(
    connect({ port: 9, connectTimeout: 20, runtime: hangingRuntime }),
    (error: unknown) => {
      assert.ok(error instanceof ConnectTimeoutError);
      assert.equal(error.code, "CONNECT_TIMEOUT");
      assert.equal(error.timeout, 20);
      assert.equal(error.port, 9);
      return true;
    },
  );
});

test("connect() rejects with the signal's reason when aborted while connecting", async () => {
  const controller = new AbortController();
  const attempt = connect({
    port: 9,
    signal: controller.signal,
    runtime: hangingRuntime,
  });
  const reason = new Error("user gave up");
  setTimeout(() => controller.abort(reason), 5);
  await assert.rejects(attempt, (error) => error === reason);
});

test("connect() rejects at once with an already aborted signal", async () => {
  await using server = await serve(echo);
  const reason = new Error("already aborted");
  await assert.rejects(
    connect({ port: server.addr.port, signal: AbortSignal.abort(reason) }),
    (error) => error === reason,
  );
  assert.equal(server.connections, 0);
});

test("runtime.connect() closes a socket that opens after the abort", async () => {
  const accepted = deferred<Uint8Array[]>();
  await using server = await serve(async (conn) => {
    const frames = [];
    for await (const frame of conn) frames.push(frame);
    accepted.resolve(frames);
  });
  const controller = new AbortController();
  const reason = new Error("aborted mid-connect");
  const attempt = runtime.connect({
    hostname: HOST,
    port: server.addr.port,
    signal: controller.signal,
  });
  controller.abort(reason);
  await assert.rejects(attempt, (error) => error === reason);
  // If the kernel completed the handshake, the server sees the connection
  // end without data; it is not left open.
  const settled = await Promise.race([
    accepted.promise,
    new Promise((resolve) => setTimeout(() => resolve("never accepted"), 300)),
  ]);
  assert.ok(
    settled === "never accepted" ||
      (Array.isArray(settled) && settled.length === 0),
  );
});

test("connect() validates its options", async () => {
  await assert.rejects(connect({ port: 0 }), RangeError);
  await assert.rejects(connect({ port: 1.5 }), RangeError);
  await assert.rejects(connect({ port: 80, connectTimeout: -1 }), RangeError);
  for (
    const limits of [
      { idleTimeout: 1e12 },
      { frameTimeout: -1 },
      { maxFrameRate: 1.5 },
      { maxWriteBuffer: 0 },
    ]
  ) {
    const name = Object.keys(limits)[0]!;
    await assert.rejects(
      connect({ port: 80, ...limits }),
      (error: unknown) =>
        error instanceof RangeError && error.message.includes(`'${name}'`),
    );
    assert.throws(
      () => createClient({ port: 80, ...limits }),
      (error: unknown) =>
        error instanceof RangeError && error.message.includes(`'${name}'`),
    );
  }
  await assert.rejects(
    connect({ port: 80, framing: "json" as "line" }),
    TypeError,
  );
});

test("Connection aborts when the connect signal is aborted later", async () => {
  await using server = await serve(echo);
  const controller = new AbortController();
  const conn = await connect({
    port: server.addr.port,
    signal: controller.signal,
  });
  await conn.send("one");
  await take(conn, 1);
  const reason = new Error("stop now");
  const reading = (async () => {
    for await (const _ of conn) { /* waits */ }
  })();
  controller.abort(reason);
  await assert.rejects(reading, (error) => error === reason);
  assert.equal(conn.signal.reason, reason);
  await assert.rejects(conn.send("after"), ConnectionClosedError);
  await conn.closed;
});

test("Connection.send() rejects oversize and unframeable frames without closing", async () => {
  await using server = await serve(echo, { framing: "line" });
  await using conn = await connect({ port: server.addr.port, framing: "line" });
  await assert.rejects(conn.send("two\nlines"), InvalidFrameError);
  await assert.rejects(conn.send("x".repeat(70_000)), FrameTooLargeError);
  await conn.send("fine");
  assert.equal(text.decode((await take(conn, 1))[0]), "fine");
});

test("Connection.send() after close() rejects with ConnectionClosedError", async () => {
  await using server = await serve(echo);
  const conn = await connect({ port: server.addr.port });
  await conn.close();
  await assert.rejects(conn.send("late"), ConnectionClosedError);
  assert.ok(conn.signal.aborted);
});

test("Connection.close() writes every queued frame first", async () => {
  const got = deferred<number>();
  await using server = await serve(async (conn) => {
    let count = 0;
    for await (const _ of conn) count++;
    got.resolve(count);
  });
  const conn = await connect({ port: server.addr.port });
  for (let i = 0; i < 5000; i++) conn.send(`frame ${i}`);
  await conn.close();
  assert.equal(await got.promise, 5000);
});

test("Connection.writable carries frames with backpressure", async () => {
  const got = deferred<number>();
  await using server = await serve(async (conn) => {
    let bytes = 0;
    for await (const frame of conn) bytes += frame.byteLength;
    got.resolve(bytes);
  }, { framing: lengthPrefixed({ maxFrameSize: 64 * 1024 }) });
  const conn = await connect({
    port: server.addr.port,
    framing: lengthPrefixed({ maxFrameSize: 64 * 1024 }),
  });
  const chunk = new Uint8Array(32 * 1024);
  await ReadableStream.from(
    (function* () {
      for (let i = 0; i < 256; i++) yield chunk;
    })(),
  ).pipeTo(conn.writable);
  assert.equal(await got.promise, 256 * chunk.byteLength);
  await conn.close();
});

test("Connection frames lines end to end", async () => {
  await using server = await serve(async (conn) => {
    for await (const line of conn) conn.send(`received: ${text.decode(line)}`);
  }, { framing: "line" });
  await using conn = await connect({ port: server.addr.port, framing: "line" });
  const long = "y".repeat(60_000);
  conn.send("hi");
  conn.send("");
  conn.send(long);
  const replies = (await take(conn, 3)).map((frame) => text.decode(frame));
  assert.deepEqual(replies, [
    "received: hi",
    "received: ",
    `received: ${long}`,
  ]);
});
