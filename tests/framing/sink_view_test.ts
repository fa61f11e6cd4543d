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
  concat,
  decodeChunks,
  pattern,
  prng,
  randomBytes,
  randomChunks,
  randomInt,
} from "./_chunking.ts";

/**
 * A sink with `view`: notes each view it was asked for, builds it, and
 * checks that the frame enqueued next is that very view.
 */
class ViewingSink implements FrameSink {
  readonly frames: Uint8Array[] = [];
  readonly viewed: Uint8Array[] = [];
  #made: Uint8Array | undefined;

  view(
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
  test(`${name}: a sink's view() builds every frame that lies inside its chunk`, () => {
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
        "a sink without view() gets the same frames",
      );
    }
  });
}

test("lengthPrefixed(): the view a sink's view() returns is the frame handed out", () => {
  const framing = lengthPrefixed();
  const wire = concat(
    [pattern(5), pattern(0), pattern(9, 1)].map((p) => encodeFrame(framing, p)),
  );
  const given: Uint8Array[] = [];
  const frames: Uint8Array[] = [];
  framing.createDecoder().decode(wire, {
    view: (buffer, byteOffset, byteLength) => {
      const view = new Uint8Array(buffer, byteOffset, byteLength);
      given.push(view);
      return view;
    },
    enqueue: (frame) => frames.push(frame),
  });
  assert.deepEqual(frames, [pattern(5), pattern(0), pattern(9, 1)]);
  assert.equal(given.length, 3);
  for (let i = 0; i < 3; i++) assert.equal(frames[i], given[i]);
  assert.deepEqual(
    frames.map((f) => f.byteOffset),
    [4, 13, 17],
  );
});
