// What a connection holds for a peer that floods it with tiny frames or does
// not read: the frames of one read are decoded a step at a time, and a
// backlog of replies is kept in chunks close to its size.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Connection } from "../mod.ts";
import type { Conn } from "../src/runtime/types.ts";
import {
  encodeFrame,
  type FrameDecoder,
  type FrameSink,
  type Framing,
} from "../src/framing/framing.ts";
import { lengthPrefixed } from "../src/framing/length_prefixed.ts";

/** Frames of `size` bytes, numbered in their first bytes, on the wire. */
function wire(framing: Framing, count: number, size: number): Uint8Array {
  const frame = encodeFrame(framing, new Uint8Array(size));
  const out = new Uint8Array(frame.byteLength * count);
  for (let i = 0; i < count; i++) {
    out.set(frame, i * frame.byteLength);
    if (size >= 2) {
      new DataView(out.buffer).setUint16(i * frame.byteLength + 4, i);
    }
  }
  return out;
}

/** The number `wire()` wrote into a frame. */
function numberOf(frame: Uint8Array): number {
  return new DataView(frame.buffer, frame.byteOffset).getUint16(0);
}

/**
 * `lengthPrefixed()`, counting the frames its decoders hand out; without
 * `decodeSome`, as a framing of the application's own may be.
 */
function counted(stepwise: boolean): { framing: Framing; decoded(): number } {
  const inner = lengthPrefixed();
  let decoded = 0;
  const counting = (sink: FrameSink): FrameSink => ({
    enqueue(frame) {
      decoded++;
      sink.enqueue(frame);
    },
  });
  const framing: Framing = {
    name: inner.name,
    maxFrameSize: inner.maxFrameSize,
    trailer: inner.trailer,
    check: (payload) => inner.check(payload),
    writeHeader: (length, target, at) => inner.writeHeader(length, target, at),
    createDecoder(): FrameDecoder {
      const decoder = inner.createDecoder();
      return {
        get buffered() {
          return decoder.buffered;
        },
        decode: (chunk, sink) => decoder.decode(chunk, counting(sink)),
        end: () => decoder.end(),
        ...(stepwise
          ? {
            decodeSome: (chunk: Uint8Array, sink: FrameSink, max: number) =>
              decoder.decodeSome!(chunk, counting(sink), max),
          }
          : {}),
      };
    },
  };
  return { framing, decoded: () => decoded };
}

/**
 * A conn that hands out `chunks` one read at a time, then the end, and
 * whose writes wait while `stalled` is set.
 */
function scripted(chunks: Uint8Array[]) {
  const queue = [...chunks];
  const written: Uint8Array[] = [];
  let release: (() => void) | undefined;
  let stall: Promise<void> | undefined;
  const control = {
    written,
    stall() {
      stall = new Promise((resolve) => release = resolve);
    },
    release() {
      stall = undefined;
      release?.();
    },
  };
  const conn: Conn = {
    readsIntoTarget: false,
    readable: new ReadableStream(),
    writable: new WritableStream(),
    localAddr: { hostname: "127.0.0.1", port: 1 },
    remoteAddr: { hostname: "127.0.0.1", port: 2 },
    pull(sink) {
      queueMicrotask(() => sink.chunk(queue.shift() ?? null));
    },
    async write(chunk) {
      written.push(chunk);
      await stall;
    },
    closeWrite: () => Promise.resolve(),
    close() {},
    setNoDelay() {},
    setKeepAlive() {},
  };
  return { conn, control };
}

test("a read of 5 000 tiny frames is decoded at most 1 024 frames ahead of the application, and every frame arrives in order", async () => {
  const { framing, decoded } = counted(true);
  const { conn } = scripted([wire(framing, 5000, 2)]);
  await using connection = new Connection(conn, { framing });
  let taken = 0;
  for await (const frame of connection) {
    assert.equal(numberOf(frame), taken);
    taken++;
    assert.ok(decoded() - taken < 1024, `${decoded() - taken} frames ahead`);
  }
  assert.equal(taken, 5000);
});

for (const reuseBuffer of [false, true]) {
  test(`batches({ reuseBuffer: ${reuseBuffer} }) of a read of 5 000 tiny frames hold at most 1 024 frames each, in order`, async () => {
    const { framing } = counted(true);
    const { conn } = scripted([wire(framing, 5000, 2)]);
    await using connection = new Connection(conn, { framing });
    const sizes: number[] = [];
    let next = 0;
    for await (const frames of connection.batches({ reuseBuffer })) {
      sizes.push(frames.length);
      for (const frame of frames) {
        assert.equal(numberOf(frame), next++);
      }
    }
    assert.equal(next, 5000);
    assert.ok(Math.max(...sizes) <= 1024, `batches of ${sizes}`);
  });
}

test("a framing without decodeSome() still gets every frame of a read, in one batch", async () => {
  const { framing } = counted(false);
  const { conn } = scripted([wire(framing, 5000, 2)]);
  await using connection = new Connection(conn, { framing });
  const sizes: number[] = [];
  for await (const frames of connection.batches()) sizes.push(frames.length);
  assert.deepEqual(sizes, [5000]);
});

test("empty frames are one shared view, not one each", async () => {
  const framing = lengthPrefixed();
  const { conn } = scripted([wire(framing, 3000, 0)]);
  await using connection = new Connection(conn, { framing });
  const seen = new Set<Uint8Array>();
  let count = 0;
  for await (const frame of connection) {
    assert.equal(frame.byteLength, 0);
    seen.add(frame);
    count++;
  }
  assert.equal(count, 3000);
  assert.equal(seen.size, 1);
});

test("drain() hands out every frame of the last read, decoded or not yet", async () => {
  const { framing, decoded } = counted(true);
  const { conn } = scripted([wire(framing, 3000, 2), wire(framing, 10, 2)]);
  await using connection = new Connection(conn, { framing });
  let taken = 0;
  for await (const _ of connection) {
    if (++taken === 1) {
      assert.ok(decoded() <= 1024);
      connection.drain();
    }
  }
  // The second read is never made: reading stopped.
  assert.equal(taken, 3000);
});

test("a failed write still hands out every frame of the last read, then its error", async () => {
  const { framing } = counted(true);
  const { conn, control } = scripted([wire(framing, 3000, 2)]);
  const broken = new Error("EPIPE");
  conn.write = () => Promise.reject(broken);
  await using connection = new Connection(conn, { framing });
  let taken = 0;
  await assert.rejects(
    (async () => {
      for await (const frame of connection) {
        assert.equal(numberOf(frame), taken++);
        // The write fails while the rest of the read waits to be decoded.
        if (taken === 1) await connection.send("reply").catch(() => {});
      }
    })(),
    (error: unknown) => error === broken,
  );
  assert.equal(taken, 3000);
  assert.equal(control.written.length, 0);
});

test("a backlog of replies is written in chunks of at most 1 MiB, none held less than three quarters full", async () => {
  const framing = lengthPrefixed();
  for (
    const size of [1, 1000, 40 * 1024, 100 * 1024, 129 * 1024, 200 * 1024]
  ) {
    const { conn, control } = scripted([]);
    await using connection = new Connection(conn, { framing });
    control.stall();
    const first = connection.send(new Uint8Array(1));
    await Promise.resolve();
    // The peer reads nothing: everything after the first frame piles up.
    const count = Math.ceil(8 * 1024 * 1024 / (size + 4));
    let last: Promise<void> | undefined;
    for (let i = 0; i < count; i++) {
      last = connection.send(new Uint8Array(size));
    }
    control.release();
    await first;
    // Batches are written in order: the last frame's settles last.
    await last;
    const backlog = control.written.slice(1);
    const bytes = backlog.reduce((sum, chunk) => sum + chunk.byteLength, 0);
    assert.equal(bytes, count * (size + 4), `frames of ${size} bytes`);
    const held = new Set(backlog.map((chunk) => chunk.buffer));
    const memory = [...held].reduce(
      (sum, buffer) => sum + buffer.byteLength,
      0,
    );
    assert.ok(
      memory <= bytes * 4 / 3 + 1024 * 1024,
      `frames of ${size} bytes: ${memory} bytes held for ${bytes}`,
    );
    for (const chunk of backlog) {
      assert.ok(
        chunk.byteLength <= 1024 * 1024,
        `a write of ${chunk.byteLength} bytes`,
      );
    }
  }
});

test("a backlog's buffers never grow past 1 MiB, and an idle connection lets them go", async () => {
  const framing = lengthPrefixed();
  const { conn, control } = scripted([]);
  await using connection = new Connection(conn, { framing });
  control.stall();
  const first = connection.send(new Uint8Array(1));
  await Promise.resolve();
  // Frames sent by reference cut the buffer: the next doubling must not
  // start from its size.
  let last: Promise<void> | undefined;
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 900; i++) last = connection.send(new Uint8Array(1024));
    last = connection.send(new Uint8Array(256 * 1024));
  }
  control.release();
  await first;
  await last;
  for (const chunk of control.written) {
    assert.ok(
      chunk.buffer.byteLength <= 1024 * 1024 ||
        chunk.byteLength === 256 * 1024,
      `a write from a buffer of ${chunk.buffer.byteLength} bytes`,
    );
  }
  await connection.send(new Uint8Array(1));
  const idle = control.written.at(-1)!;
  assert.ok(
    idle.buffer.byteLength <= 512 * 1024,
    `a quiet connection writes from a buffer of ${idle.buffer.byteLength} bytes`,
  );
});
