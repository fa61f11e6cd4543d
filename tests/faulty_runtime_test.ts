// The fault-injecting runtime of tests/_faulty_runtime.ts, on real loopback
// sockets: each fault does what it says, and nothing else.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import {
  type ClientStatus,
  connect,
  ConnectionClosedError,
  createClient,
  listen,
  NetError,
  type NetErrorCode,
  type Runtime,
  type StatusEvent,
} from "../mod.ts";
import type { ChunkSink, Conn } from "../src/runtime/types.ts";
import { detectRuntime } from "../src/runtime/detect.ts";
import type { NetOperation } from "../src/errors.ts";
import { deferred, within } from "./_async.ts";
import {
  type FaultControl,
  type Faults,
  faultyRuntime,
} from "./_faulty_runtime.ts";
import { concat, prng, randomBytes, randomInt } from "./framing/_chunking.ts";

const runtime: Runtime = await detectRuntime();
const HOST = "127.0.0.1";
const encoder = new TextEncoder();
const decoder = new TextDecoder();
// More than loopback buffers hold, so a write of it waits on the peer.
const HUGE = 64 * 1024 * 1024;

// How long a wait on a socket event may take before the test fails instead
// of hanging.
const PATIENCE = 10_000;

/**
 * Whether `promise` is still pending after the event loop has turned a few
 * times, so that socket events already due have run.
 */
async function stillPending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
  return !settled;
}

/** A validator for `assert.rejects`: a NetError with this code and operation. */
function netError(code: NetErrorCode, operation: NetOperation) {
  return (error: unknown): true => {
    assert.ok(error instanceof NetError, `expected a NetError, got ${error}`);
    assert.equal(error.code, code);
    assert.equal(error.operation, operation);
    return true;
  };
}

/** Resets `control`'s connection: `pending` must fail with ECONNRESET. */
async function resetFails(
  control: FaultControl,
  pending: Promise<unknown>,
  operation: "read" | "write",
): Promise<void> {
  control.reset();
  await assert.rejects(
    within(pending, PATIENCE, "the reset"),
    netError("ECONNRESET", operation),
  );
}

/** Reads exactly `n` bytes; fails on the end of the stream or extra bytes. */
async function readBytes(conn: Conn, n: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let filled = 0;
  while (filled < n) {
    const chunk = await within(conn.read!(), PATIENCE, `${n} bytes`);
    if (chunk === null) throw new Error(`ended after ${filled} of ${n} bytes`);
    chunks.push(chunk.slice());
    filled += chunk.byteLength;
  }
  assert.equal(filled, n, "more bytes arrived than were sent");
  return decoder.decode(concat(chunks));
}

/** Reads until the end; returns the byte count and the error, if reading failed. */
async function readToEnd(
  conn: Conn,
): Promise<{ bytes: number; error: unknown }> {
  let bytes = 0;
  try {
    for (let chunk = await conn.read!(); chunk; chunk = await conn.read!()) {
      bytes += chunk.byteLength;
    }
    return { bytes, error: undefined };
  } catch (error) {
    return { bytes, error };
  }
}

/** A faulty conn dialled to a listener of the real runtime, and its peer. */
async function pair(faults: Faults) {
  const listener = await runtime.listen({ hostname: HOST, port: 0 });
  const accepted = listener.accept();
  await faults.runtime.connect({ hostname: HOST, port: listener.addr.port });
  const control = faults.conns.at(-1)!;
  const peer = (await accepted)!;
  return {
    conn: control.conn,
    control,
    peer,
    close() {
      control.conn.close();
      peer.close();
      listener.close();
    },
  };
}

/** `inner`, with every write's size recorded in `sizes`. */
function recordingWrites(inner: Runtime, sizes: number[]): Runtime {
  return {
    name: inner.name,
    async connect(options) {
      const conn = await inner.connect(options);
      const write = conn.write.bind(conn);
      conn.write = (chunk) => {
        sizes.push(chunk.byteLength);
        return write(chunk);
      };
      return conn;
    },
    listen: (options) => inner.listen(options),
  };
}

/** `inner`, with connections that have neither `read` nor `pull`. */
function streamsOnly(inner: Runtime): Runtime {
  return {
    name: inner.name,
    async connect(options) {
      const conn = await inner.connect(options);
      return {
        readable: conn.readable,
        writable: conn.writable,
        localAddr: conn.localAddr,
        remoteAddr: conn.remoteAddr,
        write: (chunk) => conn.write(chunk),
        closeWrite: () => conn.closeWrite(),
        close: () => conn.close(),
        setNoDelay: (noDelay) => conn.setNoDelay(noDelay),
        setKeepAlive: (keepAlive) => conn.setKeepAlive(keepAlive),
      };
    },
    listen: (options) => inner.listen(options),
  };
}

test(`${runtime.name}: without faults, conns made and accepted behave like the real ones`, async () => {
  const faults = faultyRuntime(runtime);
  const listener = await faults.runtime.listen({ hostname: HOST, port: 0 });
  const tracked = Promise.all([faults.next(), faults.next()]);
  const accepted = listener.accept();
  const conn = await faults.runtime.connect({
    hostname: HOST,
    port: listener.addr.port,
  });
  const peer = (await accepted)!;
  try {
    const controls = await within(tracked, PATIENCE, "both conns");
    assert.deepEqual(controls.map((c) => c.side).sort(), ["accept", "connect"]);
    const client = faults.conns.find((c) => c.side === "connect")!;
    const server = faults.conns.find((c) => c.side === "accept")!;
    assert.equal(client.conn, conn);
    assert.equal(server.conn, peer);
    for (const { conn: wrapped } of faults.conns) {
      assert.equal(typeof wrapped.read, typeof wrapped.inner.read);
      assert.equal(typeof wrapped.pull, typeof wrapped.inner.pull);
      assert.deepEqual(wrapped.localAddr, wrapped.inner.localAddr);
      assert.deepEqual(wrapped.remoteAddr, wrapped.inner.remoteAddr);
    }
    assert.equal(faults.runtime.name, runtime.name);
    conn.setNoDelay(true);
    conn.setKeepAlive(true);

    await conn.write(encoder.encode("ping"));
    assert.equal(await readBytes(peer, 4), "ping");
    await conn.write(encoder.encode("pull"));
    let returned = false;
    let early = false;
    const pulled = await within(
      new Promise<Uint8Array | null>((resolve, fail) => {
        peer.pull!({
          chunk: (bytes) => {
            early = !returned;
            resolve(bytes);
          },
          fail,
        });
        returned = true;
      }),
      PATIENCE,
      "a pulled chunk",
    );
    assert.equal(early, false, "the sink was called before pull() returned");
    assert.equal(decoder.decode(pulled!), "pull");

    const writer = peer.writable.getWriter();
    await writer.write(encoder.encode("pong"));
    await writer.close();
    const reader = conn.readable.getReader();
    const { value } = await within(reader.read(), PATIENCE, "pong");
    assert.equal(decoder.decode(value), "pong");
    assert.equal((await within(reader.read(), PATIENCE, "the FIN")).done, true);
    assert.equal(client.written, 8);
    assert.equal(server.written, 4);
  } finally {
    conn.close();
    peer.close();
    listener.close();
  }
});

test(`${runtime.name}: a conn without read() or pull() is wrapped without them, and read and reset through readable`, async () => {
  const faults = faultyRuntime(streamsOnly(runtime));
  const { conn, control, peer, close } = await pair(faults);
  try {
    assert.equal("read" in conn, false);
    assert.equal("pull" in conn, false);
    await peer.write(encoder.encode("hello"));
    const reader = conn.readable.getReader();
    const { value } = await within(reader.read(), PATIENCE, "hello");
    assert.equal(decoder.decode(value), "hello");
    const pending = reader.read();
    await resetFails(control, pending, "read");
  } finally {
    close();
  }
});

test(`${runtime.name}: refuse() fails the next connect() calls without dialling`, async () => {
  const faults = faultyRuntime(runtime);
  const listener = await runtime.listen({ hostname: HOST, port: 0 });
  const port = listener.addr.port;
  try {
    faults.refuse(2);
    faults.refuse(1, "ETIMEDOUT");
    for (const code of ["ECONNREFUSED", "ECONNREFUSED", "ETIMEDOUT"] as const) {
      await assert.rejects(
        faults.runtime.connect({ hostname: HOST, port }),
        (error) => {
          netError(code, "connect")(error);
          assert.deepEqual((error as NetError).address, {
            hostname: HOST,
            port,
          });
          return true;
        },
      );
    }
    assert.equal(faults.conns.length, 0);

    const accepted = listener.accept();
    const conn = await faults.runtime.connect({ hostname: HOST, port });
    const peer = (await accepted)!;
    // The first connection the listener saw is this one: the refused
    // attempts never reached it.
    assert.equal(peer.remoteAddr.port, conn.localAddr.port);
    conn.close();
    peer.close();

    faults.refuse();
    await assert.rejects(
      connect({ hostname: HOST, port, runtime: faults.runtime }),
      netError("ECONNREFUSED", "connect"),
    );
  } finally {
    listener.close();
  }
});

test(`${runtime.name}: createClient() retries through connects refused by refuse()`, async () => {
  const faults = faultyRuntime(runtime);
  const server = await listen({
    hostname: HOST,
    port: 0,
    handler: async (conn) => {
      for await (const _ of conn) { /* dropped */ }
    },
  });
  faults.refuse(2);
  const client = createClient({
    hostname: HOST,
    port: server.addr.port,
    runtime: faults.runtime,
    reconnect: { minTimeout: 1, maxTimeout: 10 },
  });
  const statuses: ClientStatus[] = [];
  client.addEventListener("status", (event) => {
    statuses.push((event as StatusEvent).status);
  });
  try {
    await within(client.waitFor("open"), PATIENCE, "the client to open");
    const failures = statuses.filter((s) => s.nextDelay !== undefined);
    assert.deepEqual(
      failures.map((s) => (s.error as NetError).code),
      ["ECONNREFUSED", "ECONNREFUSED"],
    );
    assert.equal(faults.conns.length, 1);
  } finally {
    await client.close();
    await server.close();
  }
});

test(`${runtime.name}: reset() rejects the pending and later reads and writes with ECONNRESET, and closes the real socket`, async () => {
  const faults = faultyRuntime(runtime);
  const { conn, control, peer, close } = await pair(faults);
  try {
    const reading = conn.read!();
    const sent = randomBytes(prng(1), 4096);
    const huge = new Uint8Array(HUGE);
    huge.set(sent);
    // The peer takes one chunk and no more, so this write cannot complete.
    const writing = conn.write(huge);
    const first = await within(peer.read!(), PATIENCE, "the first bytes");
    assert.ok(first !== null);
    assert.deepEqual(first.slice(0, 16), sent.slice(0, 16));
    control.reset();
    await Promise.all([
      assert.rejects(
        within(reading, PATIENCE, "the pending read"),
        netError("ECONNRESET", "read"),
      ),
      assert.rejects(
        within(writing, PATIENCE, "the pending write"),
        netError("ECONNRESET", "write"),
      ),
    ]);
    await assert.rejects(conn.read!(), netError("ECONNRESET", "read"));
    const failed = await within(
      new Promise<unknown>((resolve) => {
        const sink: ChunkSink = { chunk: resolve, fail: resolve };
        conn.pull!(sink);
      }),
      PATIENCE,
      "a pull after the reset",
    );
    netError("ECONNRESET", "read")(failed);
    await assert.rejects(
      conn.write(encoder.encode("late")),
      netError("ECONNRESET", "write"),
    );
    await assert.rejects(
      conn.inner.write(encoder.encode("late")),
      netError("ECLOSED", "write"),
    );
    assert.equal(control.written, 0);
    conn.close();

    // The peer gets what made it through, then the end or a reset.
    const rest = await within(readToEnd(peer), PATIENCE, "the peer's end");
    assert.ok(first.byteLength + rest.bytes < HUGE);
    if (rest.error !== undefined) netError("ECONNRESET", "read")(rest.error);
  } finally {
    close();
  }
});

test(
  `${runtime.name}: reset() settles the peer's pending read and write`,
  async () => {
    const faults = faultyRuntime(runtime);
    const { control, peer, close } = await pair(faults);
    try {
      const reading = peer.read!().catch((error: unknown) => error);
      // The faulty side reads nothing: the bytes pile up in its socket.
      const writing = peer.write(new Uint8Array(HUGE));
      control.reset();
      const read = await within(reading, PATIENCE, "the peer's read");
      if (read !== null) netError("ECONNRESET", "read")(read);
      await assert.rejects(
        within(writing, PATIENCE, "the peer's write"),
        (error) => {
          assert.ok(
            error instanceof NetError,
            `expected a NetError, got ${error}`,
          );
          assert.ok(["ECONNRESET", "EPIPE"].includes(error.code), error.code);
          return true;
        },
      );
    } finally {
      close();
    }
  },
);

test(`${runtime.name}: reset() aborts a tether Connection reading over it with NetError ECONNRESET`, async () => {
  const faults = faultyRuntime(runtime);
  const server = await listen({
    hostname: HOST,
    port: 0,
    handler: async (conn) => {
      for await (const _ of conn) { /* dropped */ }
    },
  });
  try {
    const conn = await connect({
      hostname: HOST,
      port: server.addr.port,
      runtime: faults.runtime,
    });
    const next = conn[Symbol.asyncIterator]().next();
    faults.conns[0]!.reset();
    await assert.rejects(
      within(next, PATIENCE, "the pending frame"),
      netError("ECONNRESET", "read"),
    );
    await within(conn.closed, PATIENCE, "the connection to close");
    netError("ECONNRESET", "read")(conn.signal.reason);
    await assert.rejects(conn.send("late"), ConnectionClosedError);
  } finally {
    await server.close();
  }
});

test(`${runtime.name}: blackhole() drops writes, holds the pending read, and close() ends it`, async () => {
  const faults = faultyRuntime(runtime);
  const { conn, control, peer, close } = await pair(faults);
  try {
    await peer.write(encoder.encode("early"));
    assert.equal(await readBytes(conn, 5), "early");
    const pending = conn.read!();
    control.blackhole();
    await peer.write(encoder.encode("late"));
    await peer.closeWrite();
    await within(
      conn.write(encoder.encode("dropped")),
      PATIENCE,
      "a blackholed write",
    );
    await within(
      conn.writable.getWriter().write(new Uint8Array(9)),
      PATIENCE,
      "a blackholed stream write",
    );
    await within(conn.closeWrite(), PATIENCE, "a blackholed closeWrite()");
    assert.equal(control.written, 0);
    const peerRead = peer.read!().catch((error: unknown) => error);
    assert.ok(await stillPending(pending), "a blackholed read settled");
    assert.ok(await stillPending(peerRead), "bytes or a FIN got through");

    conn.close();
    assert.equal(await within(pending, PATIENCE, "the read to end"), null);
    assert.equal(await conn.read!(), null);
    // Nothing written since the blackhole arrives: just the end.
    const end = await within(peerRead, PATIENCE, "the peer's end");
    if (end !== null) netError("ECONNRESET", "read")(end);
  } finally {
    close();
  }
});

test(`${runtime.name}: blackhole() holds reads made after it through readable, and reset() fails them`, async () => {
  const faults = faultyRuntime(runtime);
  const { conn, control, peer, close } = await pair(faults);
  try {
    control.blackhole();
    await peer.write(encoder.encode("lost"));
    const pending = conn.readable.getReader().read();
    assert.ok(await stillPending(pending), "a blackholed read settled");
    await resetFails(control, pending, "read");
    await assert.rejects(
      conn.write(encoder.encode("late")),
      netError("ECONNRESET", "write"),
    );
  } finally {
    close();
  }
});

test(`${runtime.name}: sliceWrites() cuts each write into seeded pieces that arrive whole and in order`, async () => {
  const cuts: number[][] = [];
  for (const _ of [1, 2]) {
    const sizes: number[] = [];
    const faults = faultyRuntime(recordingWrites(runtime, sizes));
    const { conn, control, peer, close } = await pair(faults);
    try {
      control.sliceWrites(42);
      const text = "sliced ".repeat(1000);
      await conn.write(encoder.encode(text));
      assert.equal(await readBytes(peer, text.length), text);
      assert.ok(sizes.length > 1, `${sizes.length} piece`);
      assert.equal(sizes.reduce((a, b) => a + b), text.length);
      assert.equal(control.written, text.length);
      cuts.push(sizes);
    } finally {
      close();
    }
  }
  assert.deepEqual(cuts[0], cuts[1]);
});

test(`${runtime.name}: sliceWrites() under a tether connection delivers 200 frames of random sizes byte-identical`, async () => {
  const COUNT = 200;
  const random = prng(7);
  const payloads = Array.from({ length: COUNT }, () => {
    const kind = random();
    // Mostly small frames, some past the writer's batch and copy limits.
    const max = kind < 0.6 ? 64 : kind < 0.9 ? 4096 : 300_000;
    return randomBytes(random, randomInt(random, max));
  });
  const received = deferred<Uint8Array[]>();
  const server = await listen({
    hostname: HOST,
    port: 0,
    handler: async (conn) => {
      const frames: Uint8Array[] = [];
      for await (const frame of conn) {
        frames.push(frame.slice());
        if (frames.length === COUNT) break;
      }
      received.resolve(frames);
    },
  });
  const faults = faultyRuntime(runtime);
  const conn = await connect({
    hostname: HOST,
    port: server.addr.port,
    runtime: faults.runtime,
  });
  try {
    const control = faults.conns[0]!;
    control.sliceWrites(3);
    for (let i = 0; i < COUNT; i += 20) {
      await within(
        Promise.all(payloads.slice(i, i + 20).map((p) => conn.send(p))),
        PATIENCE,
        `frames ${i} to ${i + 19}`,
      );
    }
    const frames = await within(received.promise, PATIENCE, "every frame");
    assert.equal(frames.length, COUNT);
    frames.forEach((frame, i) => assert.deepEqual(frame, payloads[i]));
    const bytes = payloads.reduce((sum, p) => sum + 4 + p.byteLength, 0);
    assert.equal(control.written, bytes);
  } finally {
    conn.abort();
    await server.close();
  }
});

test(`${runtime.name}: stopWrites() holds writes until resume() completes them in order`, async () => {
  const faults = faultyRuntime(runtime);
  const { conn, control, peer, close } = await pair(faults);
  try {
    control.stopWrites();
    const writer = conn.writable.getWriter();
    const writes = ["one", "two", "three"].map((s) =>
      writer.write(encoder.encode(s))
    );
    assert.ok(await stillPending(writes[0]!), "a stopped write completed");
    assert.equal(control.written, 0);
    control.resume();
    await within(Promise.all(writes), PATIENCE, "the held writes");
    assert.equal(await readBytes(peer, 11), "onetwothree");
    assert.equal(control.written, 11);
    writer.releaseLock();

    control.stopWrites();
    const held = conn.write(encoder.encode("lost"));
    assert.ok(await stillPending(held), "a stopped write completed");
    await resetFails(control, held, "write");
  } finally {
    close();
  }
});

test(`${runtime.name}: close() rejects writes held by stopWrites() with ECLOSED`, async () => {
  const faults = faultyRuntime(runtime);
  const { conn, control, close } = await pair(faults);
  try {
    control.stopWrites();
    const held = conn.write(encoder.encode("lost"));
    const fin = conn.closeWrite();
    assert.ok(await stillPending(held), "a stopped write completed");
    conn.close();
    await assert.rejects(
      within(held, PATIENCE, "the close"),
      netError("ECLOSED", "write"),
    );
    await within(fin, PATIENCE, "the held closeWrite()");
    assert.equal(control.written, 0);
  } finally {
    close();
  }
});

test(`${runtime.name}: stopWrites() holds a tether Connection's send() until resume()`, async () => {
  const received = deferred<string>();
  const server = await listen({
    hostname: HOST,
    port: 0,
    handler: async (conn) => {
      for await (const frame of conn) {
        received.resolve(decoder.decode(frame));
        break;
      }
    },
  });
  const faults = faultyRuntime(runtime);
  const conn = await connect({
    hostname: HOST,
    port: server.addr.port,
    runtime: faults.runtime,
  });
  try {
    const control: FaultControl = faults.conns[0]!;
    control.stopWrites();
    const sent = conn.send("held");
    assert.ok(await stillPending(sent), "a stopped send completed");
    assert.ok(await stillPending(received.promise), "the frame got through");
    control.resume();
    await within(sent, PATIENCE, "the send");
    assert.equal(await within(received.promise, PATIENCE, "the frame"), "held");
  } finally {
    conn.abort();
    await server.close();
  }
});

test(`${runtime.name}: failNextWrite() fails one write and leaves the connection usable`, async () => {
  const faults = faultyRuntime(runtime);
  const { conn, control, peer, close } = await pair(faults);
  try {
    control.failNextWrite();
    await assert.rejects(
      conn.write(encoder.encode("lost")),
      netError("EPIPE", "write"),
    );
    await conn.write(encoder.encode("kept"));
    assert.equal(await readBytes(peer, 4), "kept");
    await peer.write(encoder.encode("back"));
    assert.equal(await readBytes(conn, 4), "back");

    control.failNextWrite("ECONNRESET");
    await assert.rejects(
      conn.write(encoder.encode("lost")),
      netError("ECONNRESET", "write"),
    );
    await conn.write(encoder.encode("!"));
    assert.equal(await readBytes(peer, 1), "!");
    assert.equal(control.written, 5);
  } finally {
    close();
  }
});
