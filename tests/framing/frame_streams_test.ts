import { test } from "node:test";
import assert from "node:assert/strict";
import {
  encodeFrame,
  fixedSize,
  FixedSizeDecoderStream,
  FixedSizeEncoderStream,
  FrameDecoderStream,
  FrameEncoderStream,
  FrameTooLargeError,
  FrameTruncatedError,
  type Framing,
  InvalidFrameError,
  lengthPrefixed,
  LengthPrefixedDecoderStream,
  LengthPrefixedEncoderStream,
  LineDecoderStream,
  lineDelimited,
  LineEncoderStream,
} from "../../src/framing/mod.ts";
import { concat, pattern, prng, randomChunks, randomInt } from "./_chunking.ts";
import { fromAsync } from "../_async.ts";

const encoder = new TextEncoder();

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function collect(
  chunks: Iterable<Uint8Array>,
  stream: TransformStream<Uint8Array, Uint8Array>,
): Promise<Uint8Array[]> {
  return fromAsync(ReadableStream.from(chunks).pipeThrough(stream));
}

function roundTrip(
  payloads: Uint8Array[],
  encode: TransformStream<Uint8Array, Uint8Array>,
  decode: TransformStream<Uint8Array, Uint8Array>,
): Promise<Uint8Array[]> {
  return fromAsync(
    ReadableStream.from(payloads).pipeThrough(encode).pipeThrough(decode),
  );
}

test("LengthPrefixedEncoderStream() and LengthPrefixedDecoderStream() round-trip", async () => {
  const payloads = [
    pattern(3),
    new Uint8Array(0),
    pattern(100_000, 1),
    pattern(1),
  ];
  assert.deepEqual(
    await roundTrip(
      payloads,
      new LengthPrefixedEncoderStream(),
      new LengthPrefixedDecoderStream(),
    ),
    payloads,
  );
  const options = { headerSize: 8, byteOrder: "little" } as const;
  assert.deepEqual(
    await roundTrip(
      payloads,
      new LengthPrefixedEncoderStream(options),
      new LengthPrefixedDecoderStream(options),
    ),
    payloads,
  );
});

test("LengthPrefixedEncoderStream() writes the default wire format", async () => {
  assert.deepEqual(
    await collect(
      [new Uint8Array([1, 2, 3])],
      new LengthPrefixedEncoderStream(),
    ),
    [new Uint8Array([0, 0, 0, 3, 1, 2, 3])],
  );
});

test("LineEncoderStream() and LineDecoderStream() round-trip", async () => {
  const lines = ["", "PING", "a\rb", ""].map(bytes);
  assert.deepEqual(
    await roundTrip(lines, new LineEncoderStream(), new LineDecoderStream()),
    lines,
  );
  assert.deepEqual(
    await collect([bytes("x\r"), bytes("\ny\n")], new LineDecoderStream()),
    [bytes("x"), bytes("y")],
  );
});

test("FixedSizeEncoderStream() and FixedSizeDecoderStream() round-trip", async () => {
  const frames = [pattern(5), pattern(5, 1), pattern(5, 2)];
  assert.deepEqual(
    await roundTrip(
      frames,
      new FixedSizeEncoderStream(5),
      new FixedSizeDecoderStream(5),
    ),
    frames,
  );
});

test("FrameDecoderStream() decodes any framing from randomly re-chunked input", async () => {
  const random = prng(11);
  const framings: [Framing, Uint8Array[]][] = [
    [lengthPrefixed({ headerSize: 2 }), [
      pattern(0),
      pattern(70),
      pattern(65_535),
    ]],
    [lineDelimited(), [bytes("hello"), bytes(""), bytes("world")]],
    [fixedSize(3), [pattern(3), pattern(3, 3)]],
  ];
  for (const [framing, payloads] of framings) {
    const wire = concat(
      payloads.map((payload) => encodeFrame(framing, payload)),
    );
    for (let i = 0; i < 5; i++) {
      const chunks = randomChunks(wire, random, randomInt(random, 1000));
      assert.deepEqual(
        await collect(chunks, new FrameDecoderStream(framing)),
        payloads,
        framing.name,
      );
    }
  }
});

test("FrameEncoderStream() emits one chunk per payload", async () => {
  const framing = lineDelimited();
  assert.deepEqual(
    await collect(
      [bytes("a"), bytes(""), bytes("bc")],
      new FrameEncoderStream(framing),
    ),
    [bytes("a\n"), bytes("\n"), bytes("bc\n")],
  );
});

test("FrameDecoderStream() errors the stream on an oversize frame", async () => {
  await assert.rejects(
    collect(
      [new Uint8Array([0, 0, 0, 1, 9, 0xff, 0xff, 0xff, 0xff])],
      new LengthPrefixedDecoderStream(),
    ),
    (error: unknown) => {
      assert.ok(error instanceof FrameTooLargeError);
      assert.equal(error.size, 0xffffffff);
      assert.equal(error.limit, 8 * 1024 * 1024);
      return true;
    },
  );
  await assert.rejects(
    collect([bytes("abcdef")], new LineDecoderStream({ maxLineLength: 5 })),
    FrameTooLargeError,
  );
});

test("FrameDecoderStream() errors the stream when the input ends inside a frame", async () => {
  await assert.rejects(
    collect(
      [new Uint8Array([0, 0, 0, 4, 1, 2])],
      new LengthPrefixedDecoderStream(),
    ),
    (error: unknown) => {
      assert.ok(error instanceof FrameTruncatedError);
      assert.equal(error.received, 6);
      assert.equal(error.expected, 8);
      return true;
    },
  );
  await assert.rejects(
    collect([bytes("no newline")], new LineDecoderStream()),
    FrameTruncatedError,
  );
  await assert.rejects(
    collect([pattern(5)], new FixedSizeDecoderStream(4)),
    FrameTruncatedError,
  );
});

test("FrameEncoderStream() errors the stream on a payload the framing refuses", async () => {
  await assert.rejects(
    collect([bytes("a\nb")], new LineEncoderStream()),
    InvalidFrameError,
  );
  await assert.rejects(
    collect([pattern(3)], new FixedSizeEncoderStream(4)),
    InvalidFrameError,
  );
  await assert.rejects(
    collect([pattern(256)], new LengthPrefixedEncoderStream({ headerSize: 1 })),
    FrameTooLargeError,
  );
});

test("FrameEncoderStream() and FrameDecoderStream() refuse chunks that are not bytes", async () => {
  const notBytes = ["text"] as unknown as Uint8Array[];
  await assert.rejects(collect(notBytes, new LineEncoderStream()), TypeError);
  await assert.rejects(collect(notBytes, new LineDecoderStream()), TypeError);
});

test("FrameDecoderStream() gives each stream its own decoder", async () => {
  const framing = lengthPrefixed();
  const first = new FrameDecoderStream(framing);
  const second = new FrameDecoderStream(framing);
  const [a, b] = await Promise.all([
    collect([new Uint8Array([0, 0, 0, 1]), new Uint8Array([7])], first),
    collect([new Uint8Array([0, 0]), new Uint8Array([0, 1, 8])], second),
  ]);
  assert.deepEqual(a, [new Uint8Array([7])]);
  assert.deepEqual(b, [new Uint8Array([8])]);
});

test("LengthPrefixedDecoderStream() subclasses are TransformStreams", () => {
  const streams = [
    new LengthPrefixedDecoderStream(),
    new LineDecoderStream(),
    new FixedSizeDecoderStream(1),
  ];
  for (const stream of streams) {
    assert.ok(stream instanceof FrameDecoderStream);
    assert.ok(stream instanceof TransformStream);
  }
  const encoders = [
    new LengthPrefixedEncoderStream(),
    new LineEncoderStream(),
    new FixedSizeEncoderStream(1),
  ];
  for (const stream of encoders) {
    assert.ok(stream instanceof FrameEncoderStream);
    assert.ok(stream instanceof TransformStream);
  }
});

test("LengthPrefixedDecoderStream() constructors validate options synchronously", () => {
  assert.throws(
    () => new LengthPrefixedDecoderStream({ headerSize: 3 as 4 }),
    RangeError,
  );
  assert.throws(
    () => new LengthPrefixedEncoderStream({ maxFrameSize: -1 }),
    RangeError,
  );
  assert.throws(
    () => new LineDecoderStream({ maxLineLength: 0.5 }),
    RangeError,
  );
  assert.throws(() => new LineEncoderStream({ maxLineLength: -2 }), RangeError);
  assert.throws(() => new FixedSizeDecoderStream(0), RangeError);
  assert.throws(() => new FixedSizeEncoderStream(-4), RangeError);
});
