import { test } from "node:test";
import assert from "node:assert/strict";
import {
  encodeFrame,
  fixedSize,
  type FrameSink,
  type Framing,
  lengthPrefixed,
  lineDelimited,
} from "../../src/framing/mod.ts";
import {
  lendingOf,
  type LendingSink,
  VIEW,
} from "../../src/framing/_lending.ts";
import {
  concat,
  decodeChunks,
  pattern,
  prng,
  randomBytes,
  randomChunks,
  randomInt,
} from "./_chunking.ts";

/**
 * A lending sink: notes each view it was asked for, builds it, and checks
 * that the frame enqueued next is that very view.
 */
class ViewingSink implements LendingSink {
  readonly frames: Uint8Array[] = [];
  readonly viewed: Uint8Array[] = [];
  #made: Uint8Array | undefined;

  [VIEW](
    buffer: ArrayBufferLike,
    byteOffset: number,
    byteLength: number,
  ): Uint8Array {
    assert.equal(this.#made, undefined, "a view is enqueued before the next");
    this.#made = new Uint8Array(buffer, byteOffset, byteLength);
    this.viewed.push(this.#made);
    return this.#made;
  }

  enqueue(frame: Uint8Array): void {
    if (this.#made !== undefined) {
      assert.equal(frame, this.#made, "the view built is the frame enqueued");
      this.#made = undefined;
    }
    this.frames.push(frame);
  }
}

const framings: [string, Framing, (random: () => number) => Uint8Array][] = [
  [
    "lengthPrefixed()",
    lengthPrefixed(),
    (random) => randomBytes(random, randomInt(random, 300)),
  ],
  [
    "lineDelimited()",
    lineDelimited(),
    // Any bytes but the newline, and no carriage return at the end.
    (random) =>
      randomBytes(random, randomInt(random, 300)).map((b) =>
        b === 10 || b === 13 ? 32 : b
      ),
  ],
  ["fixedSize(24)", fixedSize(24), (random) => randomBytes(random, 24)],
];

for (const [name, framing, payloadOf] of framings) {
  test(`${name}: a lending sink's VIEW builds every frame that lies inside its chunk`, () => {
    const random = prng(11);
    const payloads = Array.from({ length: 150 }, () => payloadOf(random));
    const wire = concat(payloads.map((p) => encodeFrame(framing, p)));
    for (const max of [1, 7, 100, 5000, wire.byteLength]) {
      const chunks = randomChunks(wire, random, max);
      const sink = new ViewingSink();
      const decoder = framing.createDecoder();
      for (const chunk of chunks) decoder.decode(chunk, sink);
      decoder.end();
      assert.deepEqual(sink.frames, payloads);
      // Exactly the frames that lie inside one chunk, as views of it.
      const inside = new Set<Uint8Array>(
        sink.frames.filter((frame) =>
          chunks.some((chunk) =>
            frame.buffer === chunk.buffer &&
            frame.byteOffset >= chunk.byteOffset &&
            frame.byteOffset + frame.byteLength <=
              chunk.byteOffset + chunk.byteLength
          )
        ),
      );
      assert.deepEqual(new Set(sink.viewed), inside);
      assert.deepEqual(
        decodeChunks(framing, chunks),
        payloads,
        "a sink without VIEW gets the same frames",
      );
    }
  });
}

test("lengthPrefixed(): the view a lending sink's VIEW returns is the frame handed out", () => {
  const framing = lengthPrefixed();
  const wire = concat(
    [pattern(5), pattern(0), pattern(9, 1)].map((p) => encodeFrame(framing, p)),
  );
  const given: Uint8Array[] = [];
  const frames: Uint8Array[] = [];
  const sink: LendingSink = {
    [VIEW]: (buffer, byteOffset, byteLength) => {
      const view = new Uint8Array(buffer, byteOffset, byteLength);
      given.push(view);
      return view;
    },
    enqueue: (frame) => frames.push(frame),
  };
  framing.createDecoder().decode(wire, sink);
  assert.deepEqual(frames, [pattern(5), pattern(0), pattern(9, 1)]);
  assert.equal(given.length, 3);
  for (let i = 0; i < 3; i++) assert.equal(frames[i], given[i]);
  assert.deepEqual(
    frames.map((f) => f.byteOffset),
    [4, 13, 17],
  );
});

for (const [name, framing, payloadOf] of framings) {
  test(`${name}: the lending contract is out of reach of the application's own sinks and decoders`, () => {
    assert.ok(lendingOf(framing.createDecoder()), "a built-in decoder lends");
    const wire = encodeFrame(framing, payloadOf(prng(3)));
    // A method named as the old public one is the application's business.
    const frames: Uint8Array[] = [];
    const sink = {
      enqueue: (frame: Uint8Array) => frames.push(frame),
      view: () => assert.fail("view() is not called"),
    } as FrameSink;
    framing.createDecoder().decode(wire, sink);
    assert.equal(frames.length, 1);
    const inner = framing.createDecoder();
    const custom = {
      decode: (chunk: Uint8Array, sink: FrameSink) => inner.decode(chunk, sink),
      end: () => inner.end(),
      get buffered() {
        return inner.buffered;
      },
      readTarget: () => assert.fail("readTarget() is not called"),
    };
    assert.equal(
      lendingOf(custom),
      undefined,
      "a decoder of its own lends not",
    );
  });
}
