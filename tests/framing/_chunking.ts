// Test helpers: feeding a decoder hostile chunkings. Not a test file.
import assert from "node:assert/strict";
import type { FrameDecoder, Framing } from "../../src/framing/mod.ts";
import { FrameTooLargeError, FrameTruncatedError } from "../../src/errors.ts";

/** Collects every frame a decoder hands out. */
export class Collector {
  readonly frames: Uint8Array[] = [];
  enqueue(frame: Uint8Array): void {
    this.frames.push(frame);
  }
}

/** Decodes `chunks` with a fresh decoder, calls `end()`, returns the frames. */
export function decodeChunks(
  framing: Framing,
  chunks: Iterable<Uint8Array>,
): Uint8Array[] {
  const decoder = framing.createDecoder();
  const sink = new Collector();
  for (const chunk of chunks) decoder.decode(chunk, sink);
  decoder.end();
  return sink.frames;
}

/** Feeds `chunks` without calling `end()`. */
export function feed(
  decoder: FrameDecoder,
  chunks: Iterable<Uint8Array>,
): Uint8Array[] {
  const sink = new Collector();
  for (const chunk of chunks) decoder.decode(chunk, sink);
  return sink.frames;
}

/** Every way to cut `bytes` in 2 pieces, empty pieces included. */
export function* splits2(bytes: Uint8Array): Generator<Uint8Array[]> {
  for (let i = 0; i <= bytes.byteLength; i++) {
    yield [bytes.subarray(0, i), bytes.subarray(i)];
  }
}

/** Every way to cut `bytes` in 3 pieces, empty pieces included. */
export function* splits3(bytes: Uint8Array): Generator<Uint8Array[]> {
  for (let i = 0; i <= bytes.byteLength; i++) {
    for (let j = i; j <= bytes.byteLength; j++) {
      yield [bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)];
    }
  }
}

/** One chunk per byte, each a view of `bytes`. */
export function byteByByte(bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.byteLength; i++) {
    chunks.push(bytes.subarray(i, i + 1));
  }
  return chunks;
}

/**
 * One chunk per byte, each a 1-byte view of its own 64 KiB `ArrayBuffer`, as
 * Deno's socket reads deliver them.
 */
export function byteByByteInBigBuffers(bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.byteLength; i++) {
    const chunk = new Uint8Array(new ArrayBuffer(65536), 0, 1);
    chunk[0] = bytes[i]!;
    chunks.push(chunk);
  }
  return chunks;
}

/** A seeded PRNG (mulberry32) returning floats in [0, 1). */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random integer in [0, max]. */
export function randomInt(random: () => number, max: number): number {
  return Math.floor(random() * (max + 1));
}

/** Random bytes from a seeded PRNG. */
export function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = randomInt(random, 255);
  return bytes;
}

/**
 * Cuts `bytes` into chunks of 0 to `maxChunk` bytes. Each chunk is randomly a
 * view of `bytes`, an exact copy, or a copy placed inside a larger buffer, so
 * that decoders see every kind of parent buffer.
 */
export function randomChunks(
  bytes: Uint8Array,
  random: () => number,
  maxChunk: number,
): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let pos = 0;
  while (pos < bytes.byteLength) {
    const size = Math.min(randomInt(random, maxChunk), bytes.byteLength - pos);
    const view = bytes.subarray(pos, pos + size);
    const kind = randomInt(random, 2);
    if (kind === 0) {
      chunks.push(view);
    } else if (kind === 1) {
      chunks.push(view.slice());
    } else {
      const offset = randomInt(random, 64);
      // Large spare room only now and then: allocating it is what costs.
      const spare = size >= 1024 || randomInt(random, 99) === 0
        ? randomInt(random, 65536)
        : randomInt(random, 64);
      const parent = new Uint8Array(offset + size + spare);
      parent.set(view, offset);
      chunks.push(parent.subarray(offset, offset + size));
    }
    pos += size;
  }
  return chunks;
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** Bytes 0, 1, 2, … (mod 256) of the given length, offset by `seed`. */
export function pattern(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i + seed) & 0xff;
  return bytes;
}

/** Asserts that `fn` throws a FrameTooLargeError with the given fields. */
export function assertTooLarge(
  fn: () => unknown,
  size: number,
  limit: number,
): FrameTooLargeError {
  const error = catchError(fn);
  assert.ok(
    error instanceof FrameTooLargeError,
    `expected FrameTooLargeError, got ${error}`,
  );
  assert.equal(error.code, "FRAME_TOO_LARGE");
  assert.equal(error.size, size);
  assert.equal(error.limit, limit);
  return error;
}

/** Asserts that `fn` throws a FrameTruncatedError with the given fields. */
export function assertTruncated(
  fn: () => unknown,
  received: number,
  expected: number | undefined,
): FrameTruncatedError {
  const error = catchError(fn);
  assert.ok(
    error instanceof FrameTruncatedError,
    `expected FrameTruncatedError, got ${error}`,
  );
  assert.equal(error.code, "FRAME_TRUNCATED");
  assert.equal(error.received, received);
  assert.equal(error.expected, expected);
  return error;
}

/** Runs `fn` and returns what it throws; fails if it returns. */
export function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  assert.fail("expected an error to be thrown");
}
