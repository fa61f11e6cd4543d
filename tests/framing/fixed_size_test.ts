import { test } from "node:test";
import assert from "node:assert/strict";
import {
  encodeFrame,
  fixedSize,
  InvalidFrameError,
} from "../../src/framing/mod.ts";
import {
  assertTruncated,
  byteByByte,
  byteByByteInBigBuffers,
  Collector,
  decodeChunks,
  pattern,
  prng,
  randomChunks,
  splits2,
  splits3,
} from "./_chunking.ts";

function framesOf(bytes: Uint8Array, size: number): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (let at = 0; at < bytes.byteLength; at += size) {
    frames.push(bytes.slice(at, at + size));
  }
  return frames;
}

test("fixedSize() describes a headerless, trailerless framing", () => {
  const framing = fixedSize(4);
  assert.equal(framing.name, "fixed-size");
  assert.equal(framing.maxFrameSize, 4);
  assert.deepEqual(framing.trailer, new Uint8Array(0));
  assert.equal(framing.check(pattern(4)), 0);
  assert.deepEqual(encodeFrame(framing, pattern(4)), pattern(4));
  assert.ok(Object.isFrozen(framing));
});

test("fixedSize() decodes at every split into 2 and 3 chunks", () => {
  for (const size of [1, 3, 5]) {
    const framing = fixedSize(size);
    const wire = pattern(size * 6);
    const expected = framesOf(wire, size);
    for (const chunks of splits2(wire)) {
      assert.deepEqual(decodeChunks(framing, chunks), expected);
    }
    for (const chunks of splits3(wire)) {
      assert.deepEqual(decodeChunks(framing, chunks), expected);
    }
  }
});

test("fixedSize() decodes byte by byte and random chunkings", () => {
  const framing = fixedSize(7);
  const wire = pattern(7 * 2000, 5);
  const expected = framesOf(wire, 7);
  assert.deepEqual(decodeChunks(framing, byteByByte(wire)), expected);
  assert.deepEqual(
    decodeChunks(framing, byteByByteInBigBuffers(wire.subarray(0, 700))),
    expected.slice(0, 100),
  );
  const random = prng(3);
  for (const maxChunk of [2, 10, 300, 20_000]) {
    assert.deepEqual(
      decodeChunks(framing, randomChunks(wire, random, maxChunk)),
      expected,
    );
  }
  const big = fixedSize(30_000);
  const bigWire = pattern(30_000 * 4, 9);
  assert.deepEqual(
    decodeChunks(big, randomChunks(bigWire, random, 50_000)),
    framesOf(bigWire, 30_000),
  );
});

test("fixedSize() hands out views inside a chunk and exact copies across chunks", () => {
  const framing = fixedSize(4);
  const wire = pattern(12);
  const frames = decodeChunks(framing, [wire.subarray(0, 6), wire.subarray(6)]);
  assert.deepEqual(frames, framesOf(wire, 4));
  assert.equal(frames[0]!.buffer, wire.buffer);
  assert.notEqual(frames[1]!.buffer, wire.buffer);
  assert.equal(frames[1]!.buffer.byteLength, 4);
  assert.equal(frames[2]!.buffer, wire.buffer);

  const many = pattern(4 * 10_000);
  const viewFrames = decodeChunks(framing, [many]);
  assert.equal(viewFrames.length, 10_000);
  for (const frame of viewFrames) assert.equal(frame.buffer, many.buffer);
});

test("fixedSize() reports a partial frame at the end as truncated", () => {
  const framing = fixedSize(4);
  const wire = pattern(12);
  for (let cut = 0; cut <= wire.byteLength; cut++) {
    const chunks = byteByByte(wire.subarray(0, cut));
    if (cut % 4 === 0) {
      assert.equal(decodeChunks(framing, chunks).length, cut / 4);
    } else {
      assertTruncated(() => decodeChunks(framing, chunks), cut % 4, 4);
    }
  }
  const decoder = framing.createDecoder();
  decoder.decode(pattern(6), new Collector());
  assert.equal(decoder.buffered, 2);
});

test("fixedSize() check() refuses payloads of another size", () => {
  const framing = fixedSize(4);
  for (const length of [0, 3, 5]) {
    assert.throws(
      () => framing.check(new Uint8Array(length)),
      (error: unknown) => {
        assert.ok(error instanceof InvalidFrameError);
        assert.equal(
          error.message,
          `Cannot encode frame as its size must be 4 bytes: current size is ${length} bytes`,
        );
        return true;
      },
    );
  }
});

test("fixedSize() validates its size", () => {
  for (const size of [0, -1, 1.5, Number.NaN, Infinity, 2 ** 53]) {
    assert.throws(
      () => fixedSize(size),
      (error: unknown) => {
        assert.ok(error instanceof RangeError);
        assert.equal(
          error.message,
          `Cannot create framing as 'size' must be a positive safe integer: current value is ${size}`,
        );
        return true;
      },
    );
  }
  assert.throws(() => fixedSize("4" as unknown as number), TypeError);
  assert.throws(() => fixedSize(undefined as unknown as number), TypeError);
});
