import { test } from "node:test";
import assert from "node:assert/strict";
import {
  connect,
  type Connection,
  ConnectionClosedError,
  FrameTooLargeError,
  FrameTruncatedError,
  IdleTimeoutError,
  NetError,
} from "../mod.ts";
import { lengthPrefixed } from "../src/framing/length_prefixed.ts";
import {
  echo,
  HOST,
  hungUp,
  pattern,
  readExactly,
  runtime,
  serve,
  take,
} from "./_utils.ts";
import { deferred } from "./_async.ts";
import { FakeClock, settle } from "./_fake_clock.ts";
import { serve as serveOn } from "../src/server/server.ts";
import type { Listener, Runtime } from "../src/runtime/types.ts";

const text = new TextDecoder();

test("listen() binds port 0 to a free port and reports it", async () => {
  await using server = await serve(echo);
  assert.equal(server.addr.hostname, HOST);
  assert.ok(server.addr.port > 0);
  await using conn = await connect({ port: server.addr.port });
  await conn.send("hello");
  const [reply] = await take(conn, 1);
  assert.equal(text.decode(reply), "hello");
});

test("listen() rejects a bound port with NetError EADDRINUSE", async () => {
  await using server = await serve(echo);
  await assert.rejects(
    serve(echo, { port: server.addr.port }),
    (error: unknown) =>
      error instanceof NetError && error.code === "EADDRINUSE" &&
      error.operation === "listen",
  );
});

test("listen() validates its options", async () => {
  await assert.rejects(serve(echo, { port: 70000 }), RangeError);
  await assert.rejects(serve(echo, { maxConnections: 0 }), RangeError);
  await assert.rejects(serve(echo, { maxWriteBuffer: 0 }), RangeError);
  await assert.rejects(serve(echo, { maxFrameRate: -1 }), RangeError);
  await assert.rejects(
    serve(undefined as unknown as () => void),
    TypeError,
  );
});

test("listen() serves 200 concurrent clients, each getting exactly its own replies", async () => {
  await using server = await serve(async (conn) => {
    for await (const frame of conn) conn.send(frame);
  });
  const clients = 200;
  const perClient = 25;
  const results = await Promise.all(
    Array.from({ length: clients }, async (_, id) => {
      await using conn = await connect({ port: server.addr.port });
      const sent = Array.from(
        { length: perClient },
        (_, i) => `client ${id} message ${i}`,
      );
      const received = take(conn, perClient);
      for (const message of sent) conn.send(message);
      const replies = (await received).map((frame) => text.decode(frame));
      assert.deepEqual(replies, sent);
      return replies.length;
    }),
  );
  assert.equal(results.reduce((a, b) => a + b, 0), clients * perClient);
});

test("listen() isolates a connection that sends an oversize frame", async () => {
  const errors: unknown[] = [];
  await using server = await serve(echo, {
    framing: lengthPrefixed({ maxFrameSize: 1024 }),
    onError: (error) => errors.push(error),
  });
  await using good = await connect({ port: server.addr.port });
  const bad = await runtime.connect({ hostname: HOST, port: server.addr.port });
  // Declares 4 GiB - 1: must be refused without allocating anything.
  await bad.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
  const reader = bad.readable.getReader();
  await hungUp(() => reader.read());
  bad.close();
  assert.equal(errors.length, 1);
  assert.ok(errors[0] instanceof FrameTooLargeError);
  assert.equal((errors[0] as FrameTooLargeError).size, 0xffffffff);
  assert.equal((errors[0] as FrameTooLargeError).limit, 1024);

  await good.send("still served");
  const [reply] = await take(good, 1);
  assert.equal(text.decode(reply), "still served");
});

test("listen() reports a truncated frame to the handler", async () => {
  const seen = deferred<unknown>();
  await using server = await serve(async (conn) => {
    try {
      for await (const _ of conn) { /* nothing is complete */ }
      seen.resolve(undefined);
    } catch (error) {
      seen.resolve(error);
    }
  });
  const raw = await runtime.connect({ hostname: HOST, port: server.addr.port });
  await raw.write(new Uint8Array([0, 0, 0, 10, 1, 2, 3]));
  await raw.closeWrite();
  const error = await seen.promise;
  assert.ok(error instanceof FrameTruncatedError);
  assert.equal(error.received, 7);
  assert.equal(error.expected, 14);
  raw.close();
});

test("listen() routes a handler's error to onError and keeps serving", async () => {
  const errors: unknown[] = [];
  await using server = await serve(async (conn) => {
    for await (const frame of conn) {
      if (text.decode(frame) === "boom") throw new Error("handler failed");
      conn.send(frame);
    }
  }, { onError: (error) => errors.push(error) });
  const doomed = await connect({ port: server.addr.port });
  await doomed.send("boom");
  assert.deepEqual(await take(doomed, 0), []);
  for await (const _ of doomed) assert.fail("no reply expected");
  await doomed.close();
  assert.equal(errors.length, 1);
  assert.equal((errors[0] as Error).message, "handler failed");

  await using other = await connect({ port: server.addr.port });
  await other.send("fine");
  assert.equal(text.decode((await take(other, 1))[0]), "fine");
});

test("listen() closes connections beyond maxConnections at once", async () => {
  await using server = await serve(echo, { maxConnections: 2 });
  await using a = await connect({ port: server.addr.port });
  await using b = await connect({ port: server.addr.port });
  await a.send("a");
  await b.send("b");
  await take(a, 1);
  await take(b, 1);
  assert.equal(server.connections, 2);
  const c = await connect({ port: server.addr.port });
  for await (const _ of c) assert.fail("the extra connection gets nothing");
  await c.close();
  await a.send("a again");
  assert.equal(text.decode((await take(a, 1))[0]), "a again");
});

test("Connection keeps the write side open after the peer's FIN (half-close)", async () => {
  await using server = await serve(async (conn) => {
    let total = 0;
    for await (const frame of conn) total += frame.byteLength;
    // The client has finished sending; the reply still reaches it.
    await conn.send(`total ${total}`);
  });
  await using conn = await connect({ port: server.addr.port });
  conn.send(new Uint8Array(10));
  conn.send(new Uint8Array(20));
  await conn.closeWrite();
  await assert.rejects(conn.send("late"), ConnectionClosedError);
  const replies = [];
  for await (const frame of conn) replies.push(text.decode(frame));
  assert.deepEqual(replies, ["total 30"]);
});

test("Connection moves frames from 0 bytes to 4 MiB intact in both directions", async () => {
  await using server = await serve(echo);
  await using conn = await connect({ port: server.addr.port });
  const sizes = [
    0,
    1,
    2,
    255,
    65535,
    65536,
    65537,
    256 * 1024,
    1024 * 1024,
    4 * 1024 * 1024,
  ];
  const payloads = sizes.map((size, i) => pattern(size, i));
  const received = take(conn, payloads.length);
  for (const payload of payloads) conn.send(payload);
  const frames = await received;
  assert.deepEqual(frames.map((f) => f.byteLength), sizes);
  frames.forEach((frame, i) => assert.deepEqual(frame, payloads[i]));
});

test("Connection speaks the classic wire format byte for byte", async () => {
  await using server = await serve(echo);
  const raw = await runtime.connect({ hostname: HOST, port: server.addr.port });
  const reader = raw.readable.getReader();
  // Two frames sent one byte at a time: [0,0,0,3,'a','b','c'] and an empty one.
  const wire = new Uint8Array([0, 0, 0, 3, 97, 98, 99, 0, 0, 0, 0]);
  for (const byte of wire) await raw.write(new Uint8Array([byte]));
  assert.deepEqual(await readExactly(reader, wire.byteLength), wire);
  raw.close();
});

test("Server.close() answers the frames already received, then closes", async () => {
  const received = deferred<void>();
  const server = await serve(async (conn) => {
    let count = 0;
    for await (const frame of conn) {
      // A slow exchange: the reply comes after the shutdown has begun.
      if (++count === 50) received.resolve();
      await new Promise((resolve) => setTimeout(resolve, 1));
      conn.send(frame);
    }
  });
  const conn = await connect({ port: server.addr.port });
  const replies = (async () => {
    const frames = [];
    for await (const frame of conn) frames.push(text.decode(frame));
    return frames;
  })();
  const sent = Array.from({ length: 50 }, (_, i) => `request ${i}`);
  for (const message of sent) conn.send(message);
  await received.promise;
  await server.close();
  assert.deepEqual(await replies, sent);
  await conn.close();
  await server.finished;
  await assert.rejects(
    connect({ port: server.addr.port }),
    (error: unknown) =>
      error instanceof NetError && error.code === "ECONNREFUSED",
  );
});

test("Server.close() aborts handlers that outlive shutdownTimeout", async () => {
  const errors: unknown[] = [];
  const started = deferred<Connection>();
  const server = await serve(async (conn) => {
    started.resolve(conn);
    // A handler that never reads and never returns on its own.
    await new Promise<void>((resolve) =>
      conn.signal.addEventListener("abort", () => resolve())
    );
  }, { shutdownTimeout: 50, onError: (error) => errors.push(error) });
  const client = await connect({ port: server.addr.port });
  const serverSide = await started.promise;
  await server.close();
  assert.ok(serverSide.signal.aborted);
  assert.ok(serverSide.signal.reason instanceof ConnectionClosedError);
  await hungUp(() => client[Symbol.asyncIterator]().next());
  await client.close();
  assert.deepEqual(errors, []);
});

test("listen() closes gracefully when its signal is aborted", async () => {
  const controller = new AbortController();
  const server = await serve(echo, { signal: controller.signal });
  await using conn = await connect({ port: server.addr.port });
  await conn.send("before");
  await take(conn, 1);
  controller.abort();
  await server.finished;
  for await (const _ of conn) assert.fail("the connection ends");
});

test("listen() reaps a connection silent beyond idleTimeout, quietly by default", async () => {
  const errors: unknown[] = [];
  const reaped = deferred<unknown>();
  await using server = await serve(async (conn) => {
    try {
      for await (const frame of conn) conn.send(frame);
    } catch (error) {
      reaped.resolve(error);
      throw error;
    }
  }, { idleTimeout: 300, onError: (error) => errors.push(error) });
  await using busy = await connect({ port: server.addr.port });
  const idle = await connect({ port: server.addr.port });
  // The busy connection keeps talking until the idle one is reaped, and stays
  // open. Its pauses are far below the limit, so that a stall of the machine
  // does not make it look idle too.
  let reapedYet = false;
  void reaped.promise.then(() => reapedYet = true);
  for (let i = 0; !reapedYet && i < 200; i++) {
    await busy.send(`tick ${i}`);
    await take(busy, 1);
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
  const error = await reaped.promise;
  assert.ok(error instanceof IdleTimeoutError);
  assert.equal(error.timeout, 300);
  await hungUp(() => idle[Symbol.asyncIterator]().next());
  await idle.close();
  await busy.send("still here");
  assert.equal(text.decode((await take(busy, 1))[0]), "still here");
  assert.deepEqual(errors.map((e) => (e as Error).name), ["IdleTimeoutError"]);
});

test("a failing accept is retried after waits on the server's clock, doubling from 5 ms to 1 s", async () => {
  const clock = new FakeClock();
  const failure = new NetError("EUNKNOWN", "listen");
  let closed = false;
  const listener: Listener = {
    addr: { hostname: HOST, port: 1 },
    accept: () => closed ? Promise.resolve(null) : Promise.reject(failure),
    close: () => closed = true,
    async *[Symbol.asyncIterator]() {},
  };
  const runtime: Runtime = {
    name: "failing",
    connect: () => Promise.reject(new Error("not used")),
    listen: () => Promise.resolve(listener),
  };
  const errors: unknown[] = [];
  const server = await serveOn({
    port: 0,
    runtime,
    handler: () => {},
    onError: (error) => errors.push(error),
  }, clock);
  const waits: number[] = [];
  for (let i = 0; i < 10; i++) {
    await settle();
    assert.equal(clock.pending, 1, "one wait at a time");
    waits.push(clock.delays[0]!);
    clock.tick(clock.delays[0]!);
  }
  assert.deepEqual(waits, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
  assert.equal(errors.length, 10);
  assert.ok(errors.every((error) => error === failure));
  // Closing ends the wait under way at once.
  await server.close();
  assert.equal(clock.pending, 0);
});
