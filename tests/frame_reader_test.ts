// The frame reader's limits, driven by a fake clock: a read's frames count
// against the rate limit of the moment they arrived, however slowly the
// application takes them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { FrameRateError } from "../mod.ts";
import type { Conn } from "../src/runtime/types.ts";
import { encodeFrame } from "../src/framing/framing.ts";
import { lengthPrefixed } from "../src/framing/length_prefixed.ts";
import { FrameReader } from "../src/connection/frame_reader.ts";
import { FakeClock } from "./_fake_clock.ts";

const framing = lengthPrefixed();

/** `count` frames of one byte, as one read brings them. */
function read(count: number): Uint8Array {
  const frame = encodeFrame(framing, new Uint8Array([7]));
  const out = new Uint8Array(frame.byteLength * count);
  for (let i = 0; i < count; i++) out.set(frame, i * frame.byteLength);
  return out;
}

/** A reader over `reads`, handed out one per socket read, then the end. */
function readerOf(
  reads: Uint8Array[],
  clock: FakeClock,
  { readAhead = 0, maxFrameRate = 1500 } = {},
) {
  const queue = [...reads];
  const conn: Pick<Conn, "pull" | "readable" | "readsIntoTarget"> = {
    readsIntoTarget: false,
    readable: new ReadableStream(),
    pull: (sink) => queueMicrotask(() => sink.chunk(queue.shift() ?? null)),
  };
  const errors: unknown[] = [];
  const reader = new FrameReader(
    conn,
    framing.createDecoder(),
    readAhead,
    { onChunk() {}, onDry() {}, onError: (error) => errors.push(error) },
    { frameTimeout: 0, maxFrameRate },
    clock,
  );
  return { reader, errors };
}

test("frames of a read taken late still count in the second they arrived: no false flood", async () => {
  const clock = new FakeClock();
  // 1 500 frames in the first second, then 1 100 in the next.
  const { reader, errors } = readerOf([read(1500), read(1100)], clock);
  let taken = 0;
  for (;;) {
    const { done } = await reader.next();
    if (done) break;
    // The application dawdles: the rest of the first read is decoded later.
    if (++taken === 1000) clock.tick(1500);
  }
  assert.equal(taken, 2600);
  assert.deepEqual(errors, []);
});

test("a burst over the rate in one read is caught however slowly the application takes it", async () => {
  const clock = new FakeClock();
  const { reader, errors } = readerOf([read(2000)], clock);
  let taken = 0;
  await assert.rejects(
    (async () => {
      for (;;) {
        const { done } = await reader.next();
        if (done) break;
        if (++taken === 1000) clock.tick(1500);
      }
    })(),
    FrameRateError,
  );
  // The frames decoded before the limit was seen are handed out first.
  assert.equal(taken, 2000);
  assert.equal(errors.length, 1);
});

test("frames read ahead count toward a batch: it never holds more than 1 024", async () => {
  const { reader } = readerOf([read(3000)], new FakeClock(), {
    readAhead: 16,
    maxFrameRate: 0,
  });
  let taken = 0;
  // Fewer than 16 left of the first step: the reader decodes ahead.
  while (taken < 1010) if (!(await reader.next()).done) taken++;
  for (;;) {
    const { done, value } = await reader.nextBatch();
    if (done) break;
    assert.ok(value.length <= 1024, `a batch of ${value.length}`);
    taken += value.length;
  }
  assert.equal(taken, 3000);
});
