import { test } from "node:test";
import assert from "node:assert/strict";
import {
  connect,
  type Connection,
  FrameRateError,
  FrameTimeoutError,
  WriteBufferFullError,
} from "../mod.ts";
import { echo, HOST, hungUp, runtime, serve, take } from "./_utils.ts";
import { deferred } from "./_async.ts";

const text = new TextDecoder();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves with the first error a server reports. */
function firstError() {
  const seen = deferred<unknown>();
  return {
    onError: (error: unknown) => seen.resolve(error),
    seen: seen.promise,
  };
}

async function stillServed(port: number): Promise<void> {
  await using conn = await connect({ port });
  await conn.send("ping");
  assert.equal(text.decode((await take(conn, 1))[0]), "ping");
}

test("listen() closes a slowloris connection with FrameTimeoutError and serves others", async () => {
  const errors = firstError();
  await using server = await serve(echo, {
    frameTimeout: 200,
    onError: errors.onError,
  });
  const raw = await runtime.connect({ hostname: HOST, port: server.addr.port });
  const reader = raw.readable.getReader();
  // A 100-byte frame, one byte every 30 ms: it would take 3 seconds.
  await raw.write(new Uint8Array([0, 0, 0, 100]));
  const trickle = (async () => {
    for (let i = 0; i < 100; i++) {
      await sleep(30);
      try {
        await raw.write(new Uint8Array([i]));
      } catch {
        return;
      }
    }
  })();
  const error = await errors.seen;
  assert.ok(error instanceof FrameTimeoutError);
  assert.equal(error.timeout, 200);
  assert.ok(error.received >= 4 && error.received < 104);
  await hungUp(() => reader.read());
  raw.close();
  await trickle;
  await stillServed(server.addr.port);
});

test("listen() does not time out a frame whose rest waits because the handler is busy", async () => {
  const errors: unknown[] = [];
  await using server = await serve(async (conn) => {
    for await (const frame of conn) {
      await sleep(300); // busy far longer than frameTimeout
      conn.send(frame);
    }
  }, { frameTimeout: 100, idleTimeout: 150, onError: (e) => errors.push(e) });
  const raw = await runtime.connect({ hostname: HOST, port: server.addr.port });
  const reader = raw.readable.getReader();
  // Frame A whole and the first half of B, then the rest of B soon after:
  // B's rest waits in the kernel while the handler is busy with A.
  await raw.write(new Uint8Array([0, 0, 0, 1, 65, 0, 0, 0, 2, 66]));
  await sleep(20);
  await raw.write(new Uint8Array([66]));
  const expected = [0, 0, 0, 1, 65, 0, 0, 0, 2, 66, 66];
  const got: number[] = [];
  while (got.length < expected.length) {
    const { value, done } = await reader.read();
    if (done) break;
    got.push(...value);
  }
  assert.deepEqual(got, expected);
  assert.deepEqual(errors, []);
  raw.close();
});

test("listen() closes a connection that floods empty frames past maxFrameRate", async () => {
  const errors = firstError();
  await using server = await serve(echo, {
    maxFrameRate: 1000,
    onError: errors.onError,
  });
  const raw = await runtime.connect({ hostname: HOST, port: server.addr.port });
  await raw.write(new Uint8Array(4 * 5000)); // 5000 empty frames at once
  const error = await errors.seen;
  assert.ok(error instanceof FrameRateError);
  assert.equal(error.limit, 1000);
  raw.close();
  await stillServed(server.addr.port);
});

test("listen() closes a peer that never reads once maxWriteBuffer is reached", async () => {
  const errors = firstError();
  const sends = deferred<PromiseSettledResult<void>[]>();
  let first = true;
  await using server = await serve(async (conn: Connection) => {
    if (!first) return echo(conn);
    first = false;
    const results: Promise<void>[] = [];
    const chunk = new Uint8Array(64 * 1024);
    // Not awaited: a producer that ignores backpressure.
    for (let i = 0; i < 1000 && !conn.signal.aborted; i++) {
      results.push(conn.send(chunk));
      await sleep(0);
    }
    sends.resolve(await Promise.allSettled(results));
  }, { maxWriteBuffer: 1024 * 1024, onError: errors.onError });
  // A client that connects and never reads a byte.
  const raw = await runtime.connect({ hostname: HOST, port: server.addr.port });
  const results = await sends.promise;
  const rejected = results.filter((r) => r.status === "rejected");
  assert.ok(rejected.length > 0);
  assert.ok(
    rejected.some((r) =>
      (r as PromiseRejectedResult).reason instanceof WriteBufferFullError
    ),
  );
  raw.close();
  await stillServed(server.addr.port);
});
