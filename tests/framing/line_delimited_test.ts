import { test } from "node:test";
import assert from "node:assert/strict";
import {
  encodeFrame,
  FrameTooLargeError,
  InvalidFrameError,
  lineDelimited,
  type LineDelimitedOptions,
} from "../../src/framing/mod.ts";
import { DEFAULT_MAX_LINE_LENGTH } from "../../src/framing/line_delimited.ts";
import {
  assertTooLarge,
  assertTruncated,
  byteByByte,
  byteByByteInBigBuffers,
  catchError,
  Collector,
  concat,
  decodeChunks,
  feed,
  prng,
  randomChunks,
  randomInt,
  splits2,
  splits3,
} from "./_chunking.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function texts(frames: Uint8Array[]): string[] {
  return frames.map((frame) => decoder.decode(frame));
}

const TEXT = "alpha\r\n\nbeta\n\r\ngamma\r\r\n\rdelta\na\rb\n";
const LINES = ["alpha", "", "beta", "", "gamma\r", "\rdelta", "a\rb"];

test("lineDelimited() splits on \\n and strips one \\r before it", () => {
  const framing = lineDelimited();
  assert.equal(framing.name, "line-delimited");
  assert.equal(framing.maxFrameSize, DEFAULT_MAX_LINE_LENGTH);
  assert.equal(DEFAULT_MAX_LINE_LENGTH, 65_536);
  assert.deepEqual(framing.trailer, new Uint8Array([10]));
  assert.deepEqual(texts(decodeChunks(framing, [bytes(TEXT)])), LINES);
  assert.deepEqual(texts(decodeChunks(framing, [bytes("\n")])), [""]);
  assert.deepEqual(texts(decodeChunks(framing, [bytes("\r\n")])), [""]);
  assert.deepEqual(decodeChunks(framing, []), []);
  assert.deepEqual(decodeChunks(framing, [new Uint8Array(0)]), []);
});

test("lineDelimited() decodes at every split into 2 and 3 chunks", () => {
  const framing = lineDelimited();
  const wire = bytes(TEXT);
  for (const chunks of splits2(wire)) {
    assert.deepEqual(texts(decodeChunks(framing, chunks)), LINES);
  }
  for (const chunks of splits3(wire)) {
    assert.deepEqual(texts(decodeChunks(framing, chunks)), LINES);
  }
});

test("lineDelimited() decodes byte by byte", () => {
  const framing = lineDelimited();
  const wire = bytes(TEXT);
  assert.deepEqual(texts(decodeChunks(framing, byteByByte(wire))), LINES);
  assert.deepEqual(
    texts(decodeChunks(framing, byteByByteInBigBuffers(wire))),
    LINES,
  );
});

test("lineDelimited() decodes random chunkings", () => {
  const framing = lineDelimited();
  for (let seed = 1; seed <= 10; seed++) {
    const random = prng(seed);
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) {
      const long = randomInt(random, 20) === 0;
      lines.push(
        "x".repeat(randomInt(random, long ? 20_000 : 30)) +
          (randomInt(random, 3) === 0 ? "\r" : ""),
      );
    }
    const wire = bytes(lines.map((line) => line + "\n").join(""));
    const expected = lines.map((line) => line.replace(/\r$/, ""));
    for (const maxChunk of [2, 64, 5_000, 70_000]) {
      assert.deepEqual(
        texts(decodeChunks(framing, randomChunks(wire, random, maxChunk))),
        expected,
        `seed ${seed}, chunks up to ${maxChunk} bytes`,
      );
    }
  }
});

test("lineDelimited() decodes thousands of lines in one chunk as views", () => {
  const framing = lineDelimited();
  const random = prng(7);
  const lines: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    lines.push("y".repeat(randomInt(random, 100)));
  }
  const wire = bytes(lines.join("\r\n") + "\r\n");
  const frames = decodeChunks(framing, [wire]);
  assert.deepEqual(texts(frames), lines);
  for (const frame of frames) assert.equal(frame.buffer, wire.buffer);
});

test("lineDelimited() copies a line that spans chunks once, into an exact buffer", () => {
  const framing = lineDelimited();
  const frames = decodeChunks(framing, [
    bytes("ab"),
    bytes("cd\r"),
    bytes("\nef\n"),
  ]);
  assert.deepEqual(texts(frames), ["abcd", "ef"]);
  assert.equal(frames[0]!.buffer.byteLength, 4);
  assert.equal(frames[1]!.byteOffset, 1);
});

test("lineDelimited() scans a 60 000-byte line fed byte by byte in linear time", () => {
  let scanned = 0;
  // Counts the bytes every indexOf call looks at, so a decoder that searched
  // buffered bytes again would show up as quadratic.
  class CountingBytes extends Uint8Array {
    override indexOf(search: number, from = 0): number {
      const found = super.indexOf(search, from);
      scanned += (found === -1 ? this.length : found + 1) - from;
      return found;
    }
  }
  const line = new Uint8Array(60_001).fill(0x61);
  line[60_000] = 10;
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < line.byteLength; i++) {
    const chunk = new CountingBytes(1);
    chunk[0] = line[i]!;
    chunks.push(chunk);
  }
  const frames = decodeChunks(lineDelimited(), chunks);
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.byteLength, 60_000);
  assert.ok(frames[0]!.every((byte) => byte === 0x61));
  assert.ok(scanned <= line.byteLength, `scanned ${scanned} bytes`);
});

test("lineDelimited() accepts exactly maxLineLength and rejects one more", () => {
  const framing = lineDelimited({ maxLineLength: 8 });
  assert.equal(framing.maxFrameSize, 8);
  for (const chunks of splits2(bytes("12345678\n1234567\r\n"))) {
    assert.deepEqual(texts(decodeChunks(framing, chunks)), [
      "12345678",
      "1234567",
    ]);
  }
  // The \r counts toward the limit even though it is stripped.
  assertTooLarge(() => decodeChunks(framing, [bytes("12345678\r\n")]), 9, 8);
  assertTooLarge(() => decodeChunks(framing, [bytes("123456789\n")]), 9, 8);
  assertTooLarge(
    () =>
      decodeChunks(framing, [bytes("ok\n"), bytes("1234"), bytes("56789\n")]),
    9,
    8,
  );
  assertTooLarge(
    () => decodeChunks(framing, byteByByte(bytes("ok\n123456789\n"))),
    9,
    8,
  );
  const empty = lineDelimited({ maxLineLength: 0 });
  assert.deepEqual(texts(decodeChunks(empty, [bytes("\n\n")])), ["", ""]);
  assertTooLarge(() => decodeChunks(empty, [bytes("\r\n")]), 1, 0);
});

test("lineDelimited() rejects an endless line before buffering past the limit", () => {
  const framing = lineDelimited({ maxLineLength: 4096 });
  const decoder = framing.createDecoder();
  const sink = new Collector();
  const chunk = new Uint8Array(1000).fill(0x61);
  for (let i = 0; i < 4; i++) decoder.decode(chunk, sink);
  assert.equal(decoder.buffered, 4000);
  assertTooLarge(() => decoder.decode(chunk, sink), 5000, 4096);
  assert.equal(decoder.buffered, 0);
  // The decoder is unusable afterwards.
  assert.ok(
    catchError(() => decoder.decode(bytes("\n"), sink)) instanceof
      FrameTooLargeError,
  );
  assert.deepEqual(sink.frames, []);

  // One huge chunk with no newline is refused at once.
  const huge = new Uint8Array(1_000_000).fill(0x62);
  assertTooLarge(
    () => feed(lineDelimited().createDecoder(), [huge]),
    1_000_000,
    DEFAULT_MAX_LINE_LENGTH,
  );
  // As is a complete but oversize line inside one chunk, after good lines.
  const mixed = concat([bytes("a\nb\n"), huge, bytes("\nc\n")]);
  const partial = new Collector();
  assertTooLarge(
    () => lineDelimited().createDecoder().decode(mixed, partial),
    1_000_000,
    DEFAULT_MAX_LINE_LENGTH,
  );
  assert.deepEqual(texts(partial.frames), ["a", "b"]);
});

test("lineDelimited() reports an unterminated last line as truncated", () => {
  const framing = lineDelimited();
  assertTruncated(() => decodeChunks(framing, [bytes("a\nbc")]), 2, undefined);
  assertTruncated(
    () => decodeChunks(framing, [bytes("a\nbc\r")]),
    3,
    undefined,
  );
  assertTruncated(
    () => decodeChunks(framing, byteByByte(bytes("abc"))),
    3,
    undefined,
  );
  decodeChunks(framing, [bytes("a\n")]);
  const wire = bytes(TEXT);
  for (let cut = 0; cut <= wire.byteLength; cut++) {
    const prefix = wire.subarray(0, cut);
    const tail = cut - (prefix.lastIndexOf(10) + 1);
    if (tail === 0) {
      decodeChunks(framing, [prefix]);
    } else {
      assertTruncated(
        () => decodeChunks(framing, byteByByte(prefix)),
        tail,
        undefined,
      );
    }
  }
});

test("lineDelimited() check() refuses what the decoder could not give back", () => {
  const framing = lineDelimited({ maxLineLength: 5 });
  assert.equal(framing.check(bytes("hello")), 0);
  assert.equal(framing.check(new Uint8Array(0)), 0);
  assert.equal(framing.check(bytes("a\rb")), 0);
  assert.deepEqual(encodeFrame(framing, bytes("hi")), bytes("hi\n"));
  assert.deepEqual(encodeFrame(framing, new Uint8Array(0)), bytes("\n"));

  assertTooLarge(() => framing.check(bytes("hello!")), 6, 5);
  assert.throws(
    () => framing.check(bytes("a\nb")),
    (error: unknown) => {
      assert.ok(error instanceof InvalidFrameError);
      assert.equal(error.code, "INVALID_FRAME");
      assert.equal(
        error.message,
        "Cannot encode line as it contains a newline at byte 1",
      );
      return true;
    },
  );
  assert.throws(
    () => framing.check(bytes("ab\r")),
    (error: unknown) => {
      assert.ok(error instanceof InvalidFrameError);
      assert.match(
        error.message,
        /^Cannot encode line as it ends with a carriage return/,
      );
      return true;
    },
  );
  assert.throws(() => encodeFrame(framing, bytes("\r")), InvalidFrameError);
});

test("lineDelimited() round-trips lines through encodeFrame", () => {
  const framing = lineDelimited();
  const lines = ["", "one", "\rtwo", "th\rree", "", "ünïcödé"];
  const wire = concat(lines.map((line) => encodeFrame(framing, bytes(line))));
  assert.deepEqual(texts(decodeChunks(framing, byteByByte(wire))), lines);
});

test("lineDelimited() validates its options", () => {
  const invalid: [unknown, ErrorConstructor, string][] = [
    [
      { maxLineLength: -1 },
      RangeError,
      "Cannot create framing as 'maxLineLength' must be a non-negative safe integer: current value is -1",
    ],
    [
      { maxLineLength: Infinity },
      RangeError,
      "Cannot create framing as 'maxLineLength' must be a non-negative safe integer: current value is Infinity",
    ],
    [
      { maxLineLength: "1" },
      TypeError,
      "Cannot create framing as 'maxLineLength' must be a number: current type is string",
    ],
    [
      "big",
      TypeError,
      `Cannot create framing as 'options' must be an object: current value is "big"`,
    ],
  ];
  for (const [options, type, message] of invalid) {
    assert.throws(
      () => lineDelimited(options as LineDelimitedOptions),
      (error: unknown) => {
        assert.ok(error instanceof type);
        assert.equal(error.message, message);
        return true;
      },
    );
  }
  assert.equal(lineDelimited({}).maxFrameSize, DEFAULT_MAX_LINE_LENGTH);
  assert.ok(Object.isFrozen(lineDelimited()));
});

test("lineDelimited() copies small fragments instead of pinning their buffers", () => {
  // Overwriting each chunk after decode() is a probe, not allowed use: it
  // shows whether the decoder kept a reference to the chunk.
  const framing = lineDelimited();
  const lineDecoder = framing.createDecoder();
  const sink = new Collector();
  for (const chunk of byteByByteInBigBuffers(bytes("hello, world\r\nbye\n"))) {
    lineDecoder.decode(chunk, sink);
    chunk.fill(0);
  }
  lineDecoder.end();
  assert.deepEqual(texts(sink.frames), ["hello, world", "bye"]);
});
