import { test } from "node:test";
import assert from "node:assert/strict";
import {
  encodeFrame,
  type FrameDecoder,
  FrameTooLargeError,
  FrameTruncatedError,
  type Framing,
  lengthPrefixed,
  type LengthPrefixedOptions,
} from "../../src/framing/mod.ts";
import { DEFAULT_MAX_FRAME_SIZE } from "../../src/framing/length_prefixed.ts";
import { lendingOf, READ_TARGET } from "../../src/framing/_lending.ts";
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
  pattern,
  prng,
  randomBytes,
  randomChunks,
  randomInt,
  splits2,
  splits3,
} from "./_chunking.ts";

const LAYOUTS: LengthPrefixedOptions[] = [];
for (const headerSize of [1, 2, 4, 8] as const) {
  for (const byteOrder of ["big", "little"] as const) {
    LAYOUTS.push({ headerSize, byteOrder });
  }
}

/** Where `decoder` offers to have the next bytes read, by the lending contract. */
function readTarget(decoder: FrameDecoder): Uint8Array | undefined {
  const lending = lendingOf(decoder);
  assert.ok(lending?.[READ_TARGET], "the decoder offers read targets");
  return lending[READ_TARGET]();
}

function encodeAll(framing: Framing, payloads: Uint8Array[]): Uint8Array {
  return concat(payloads.map((payload) => encodeFrame(framing, payload)));
}

/** A few frames, zero-length ones included, first and last. */
const SMALL_PAYLOADS = [
  new Uint8Array(0),
  new Uint8Array([1]),
  pattern(9, 2),
  new Uint8Array(0),
  new Uint8Array(0),
  pattern(5, 40),
  new Uint8Array(0),
];

test("lengthPrefixed() default wire format is a 4-byte big-endian length", () => {
  const framing = lengthPrefixed();
  assert.equal(framing.name, "length-prefixed");
  assert.equal(framing.maxFrameSize, DEFAULT_MAX_FRAME_SIZE);
  assert.equal(DEFAULT_MAX_FRAME_SIZE, 8 * 1024 * 1024);
  assert.deepEqual(framing.trailer, new Uint8Array(0));
  assert.deepEqual(
    encodeFrame(framing, new Uint8Array([1, 2, 3])),
    new Uint8Array([0, 0, 0, 3, 1, 2, 3]),
  );
  assert.deepEqual(
    encodeFrame(framing, new Uint8Array(0)),
    new Uint8Array([0, 0, 0, 0]),
  );
  assert.deepEqual(
    decodeChunks(framing, [new Uint8Array([0, 0, 0, 3, 1, 2, 3])]),
    [new Uint8Array([1, 2, 3])],
  );
});

test("lengthPrefixed() writes every header width in both byte orders", () => {
  const cases: [LengthPrefixedOptions, number, number[]][] = [
    [{ headerSize: 1 }, 0xab, [0xab]],
    [{ headerSize: 1, byteOrder: "little" }, 0xab, [0xab]],
    [{ headerSize: 2 }, 0x0102, [1, 2]],
    [{ headerSize: 2, byteOrder: "little" }, 0x0102, [2, 1]],
    [{ headerSize: 4, maxFrameSize: 2 ** 32 }, 0x01020304, [1, 2, 3, 4]],
    [
      { headerSize: 4, byteOrder: "little", maxFrameSize: 2 ** 32 },
      0x01020304,
      [4, 3, 2, 1],
    ],
    [{ headerSize: 4, maxFrameSize: 2 ** 32 }, 0xfffffffe, [
      255,
      255,
      255,
      254,
    ]],
    [
      { headerSize: 8, maxFrameSize: Number.MAX_SAFE_INTEGER },
      Number.MAX_SAFE_INTEGER,
      [0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ],
    [
      {
        headerSize: 8,
        byteOrder: "little",
        maxFrameSize: Number.MAX_SAFE_INTEGER,
      },
      2 ** 40 + 0x0a0b0c0d,
      [0x0d, 0x0c, 0x0b, 0x0a, 0x00, 0x01, 0x00, 0x00],
    ],
    [{ headerSize: 8 }, 3, [0, 0, 0, 0, 0, 0, 0, 3]],
  ];
  for (const [options, length, expected] of cases) {
    const framing = lengthPrefixed(options);
    const target = new Uint8Array(expected.length + 2).fill(0xee);
    framing.writeHeader(length, target, 1);
    assert.deepEqual(
      [...target],
      [0xee, ...expected, 0xee],
      JSON.stringify(options),
    );
  }
});

test("lengthPrefixed() decodes large declared lengths exactly without allocating them", () => {
  const lengths = [
    0,
    1,
    255,
    256,
    65_535,
    65_536,
    2 ** 31,
    2 ** 32 - 1,
    2 ** 32,
    2 ** 40 + 12345,
    Number.MAX_SAFE_INTEGER,
  ];
  for (const byteOrder of ["big", "little"] as const) {
    for (const headerSize of [1, 2, 4, 8] as const) {
      const framing = lengthPrefixed({
        headerSize,
        byteOrder,
        maxFrameSize: Number.MAX_SAFE_INTEGER,
      });
      for (const length of lengths) {
        if (length > framing.maxFrameSize) continue;
        const header = new Uint8Array(headerSize);
        framing.writeHeader(length, header, 0);
        // Only the header and 3 payload bytes arrive; a decoder that
        // preallocated the declared size would run out of memory here.
        const decoder = framing.createDecoder();
        const sent = Math.min(length, 3);
        const frames = feed(
          decoder,
          byteByByte(concat([header, pattern(sent)])),
        );
        if (length === sent) {
          assert.deepEqual(frames, [pattern(length)]);
          assert.equal(decoder.buffered, 0);
          continue;
        }
        assert.equal(frames.length, 0);
        assert.equal(decoder.buffered, headerSize + 3);
        assertTruncated(
          () => decoder.end(),
          headerSize + 3,
          headerSize + length,
        );
      }
    }
  }
});

test("lengthPrefixed() round-trips every header width and byte order", () => {
  const random = prng(1);
  for (const options of LAYOUTS) {
    const framing = lengthPrefixed(options);
    const payloads: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) {
      payloads.push(
        randomBytes(
          random,
          randomInt(random, Math.min(300, framing.maxFrameSize)),
        ),
      );
    }
    payloads.push(new Uint8Array(Math.min(framing.maxFrameSize, 70_000)));
    const wire = encodeAll(framing, payloads);
    assert.deepEqual(decodeChunks(framing, [wire]), payloads);
    assert.deepEqual(
      decodeChunks(framing, randomChunks(wire, random, 50)),
      payloads,
    );
    assert.deepEqual(
      decodeChunks(framing, randomChunks(wire, random, 20_000)),
      payloads,
    );
  }
});

test("lengthPrefixed() decodes at every split into 2 and 3 chunks", () => {
  for (const options of LAYOUTS) {
    const framing = lengthPrefixed(options);
    const wire = encodeAll(framing, SMALL_PAYLOADS);
    for (const chunks of splits2(wire)) {
      assert.deepEqual(decodeChunks(framing, chunks), SMALL_PAYLOADS);
    }
    for (const chunks of splits3(wire)) {
      assert.deepEqual(decodeChunks(framing, chunks), SMALL_PAYLOADS);
    }
  }
});

test("lengthPrefixed() decodes byte by byte", () => {
  for (const options of LAYOUTS) {
    const framing = lengthPrefixed(options);
    const payloads = [...SMALL_PAYLOADS, pattern(200, 7)];
    const wire = encodeAll(framing, payloads);
    assert.deepEqual(decodeChunks(framing, byteByByte(wire)), payloads);
    assert.deepEqual(
      decodeChunks(framing, byteByByteInBigBuffers(wire)),
      payloads,
    );
  }
});

test("lengthPrefixed() decodes random chunkings of mixed frame sizes", () => {
  const framing = lengthPrefixed();
  for (let seed = 1; seed <= 10; seed++) {
    const random = prng(seed);
    const payloads: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      const big = randomInt(random, 9) === 0;
      payloads.push(
        randomBytes(random, randomInt(random, big ? 50_000 : 20)),
      );
    }
    const wire = encodeAll(framing, payloads);
    for (const maxChunk of [3, 100, 9_000, 70_000]) {
      assert.deepEqual(
        decodeChunks(framing, randomChunks(wire, random, maxChunk)),
        payloads,
        `seed ${seed}, chunks up to ${maxChunk} bytes`,
      );
    }
  }
});

test("lengthPrefixed() decodes 10 000 frames in one chunk as views", () => {
  const framing = lengthPrefixed();
  const random = prng(42);
  const payloads: Uint8Array[] = [];
  for (let i = 0; i < 10_000; i++) {
    payloads.push(randomBytes(random, randomInt(random, 100)));
  }
  const wire = encodeAll(framing, payloads);
  const frames = decodeChunks(framing, [wire]);
  assert.equal(frames.length, 10_000);
  assert.deepEqual(frames, payloads);
  for (const frame of frames) assert.equal(frame.buffer, wire.buffer);
});

test("lengthPrefixed() hands out views inside a chunk and exact copies across chunks", () => {
  const framing = lengthPrefixed();
  const wire = encodeAll(framing, [pattern(10), pattern(10000, 3), pattern(6)]);
  const first = wire.subarray(0, 30);
  const second = wire.subarray(30);
  const frames = decodeChunks(framing, [first.slice(), second.slice()]);
  assert.deepEqual(frames, [pattern(10), pattern(10000, 3), pattern(6)]);
  assert.equal(frames[0]!.byteOffset, 4);
  // The spanning frame owns a buffer of exactly its size.
  assert.equal(frames[1]!.byteOffset, 0);
  assert.equal(frames[1]!.buffer.byteLength, 10000);
  assert.equal(frames[2]!.byteLength, 6);
  assert.notEqual(frames[2]!.buffer.byteLength, 6);

  // A frame whose header spans chunks but whose payload does not is a view.
  const split = decodeChunks(framing, [wire.subarray(0, 2), wire.subarray(2)]);
  assert.equal(split[0]!.buffer, wire.buffer);
});

test("lengthPrefixed() decoder reports the bytes of the unfinished frame as buffered", () => {
  const decoder = lengthPrefixed().createDecoder();
  const sink = new Collector();
  assert.equal(decoder.buffered, 0);
  decoder.decode(new Uint8Array([0, 0]), sink);
  assert.equal(decoder.buffered, 2);
  decoder.decode(new Uint8Array([0, 5]), sink);
  assert.equal(decoder.buffered, 4);
  decoder.decode(new Uint8Array([1, 2, 3]), sink);
  assert.equal(decoder.buffered, 7);
  decoder.decode(new Uint8Array([4, 5, 0, 0, 0]), sink);
  assert.equal(decoder.buffered, 3);
  decoder.decode(new Uint8Array([0]), sink);
  assert.equal(decoder.buffered, 0);
  decoder.decode(new Uint8Array(0), sink);
  assert.equal(decoder.buffered, 0);
  decoder.end();
  assert.deepEqual(sink.frames, [pattern(5, 1), new Uint8Array(0)]);
});

test("lengthPrefixed() rejects an oversize declared length before buffering", () => {
  const framing = lengthPrefixed();
  const decoder = framing.createDecoder();
  const sink = new Collector();
  assertTooLarge(
    () => decoder.decode(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2]), sink),
    0xffffffff,
    DEFAULT_MAX_FRAME_SIZE,
  );
  assert.equal(decoder.buffered, 0);
  // The decoder is unusable afterwards.
  assert.ok(
    catchError(() => decoder.decode(new Uint8Array(4), sink)) instanceof
      FrameTooLargeError,
  );
  assert.ok(catchError(() => decoder.end()) instanceof FrameTooLargeError);
  assert.deepEqual(sink.frames, []);

  // Also when the header arrives split, and after complete frames.
  for (
    const chunks of splits3(new Uint8Array([0, 0, 0, 1, 9, 0x80, 0, 0, 0]))
  ) {
    const split = framing.createDecoder();
    const error = assertTooLarge(
      () => feed(split, chunks),
      0x80000000,
      DEFAULT_MAX_FRAME_SIZE,
    );
    assert.match(
      error.message,
      /limit of 8388608 bytes: size is 2147483648 bytes/,
    );
  }
});

test("lengthPrefixed() rejects 8-byte lengths above Number.MAX_SAFE_INTEGER", () => {
  for (const byteOrder of ["big", "little"] as const) {
    const framing = lengthPrefixed({
      headerSize: 8,
      byteOrder,
      maxFrameSize: Number.MAX_SAFE_INTEGER,
    });
    const order = (bytes: number[]) =>
      byteOrder === "big" ? bytes : bytes.reverse();
    const atLimit = new Uint8Array(
      order([0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    );
    const decoder = framing.createDecoder();
    feed(decoder, [atLimit, new Uint8Array([1])]);
    assert.equal(decoder.buffered, 9);

    const cases: [number[], number][] = [
      [[0x00, 0x20, 0, 0, 0, 0, 0, 0], 2 ** 53],
      [[0x80, 0, 0, 0, 0, 0, 0, 0], 2 ** 63],
      [[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 2 ** 64],
    ];
    for (const [bytes, size] of cases) {
      const header = new Uint8Array(order(bytes));
      assertTooLarge(
        () => decodeChunks(framing, [header]),
        size,
        Number.MAX_SAFE_INTEGER,
      );
      assertTooLarge(
        () => decodeChunks(framing, byteByByte(header)),
        size,
        Number.MAX_SAFE_INTEGER,
      );
    }
  }
  assertTooLarge(
    () =>
      decodeChunks(lengthPrefixed({ headerSize: 8 }), [
        new Uint8Array(8).fill(0xff),
      ]),
    2 ** 64,
    DEFAULT_MAX_FRAME_SIZE,
  );
});

test("lengthPrefixed() accepts exactly maxFrameSize and rejects one more", () => {
  const framing = lengthPrefixed({ maxFrameSize: 1000 });
  assert.equal(framing.maxFrameSize, 1000);
  const atLimit = pattern(1000);
  assert.equal(framing.check(atLimit), 4);
  const wire = encodeFrame(framing, atLimit);
  assert.deepEqual(decodeChunks(framing, [wire]), [atLimit]);
  assert.deepEqual(decodeChunks(framing, byteByByte(wire)), [atLimit]);

  assertTooLarge(() => framing.check(pattern(1001)), 1001, 1000);
  assertTooLarge(() => encodeFrame(framing, pattern(1001)), 1001, 1000);
  assertTooLarge(
    () => decodeChunks(framing, [new Uint8Array([0, 0, 0x03, 0xe9])]),
    1001,
    1000,
  );

  const empty = lengthPrefixed({ maxFrameSize: 0 });
  assert.deepEqual(decodeChunks(empty, [new Uint8Array(4)]), [
    new Uint8Array(0),
  ]);
  assertTooLarge(
    () => decodeChunks(empty, [new Uint8Array([0, 0, 0, 1, 7])]),
    1,
    0,
  );
});

test("lengthPrefixed() clamps maxFrameSize to what the header can hold", () => {
  assert.equal(lengthPrefixed({ headerSize: 1 }).maxFrameSize, 255);
  assert.equal(lengthPrefixed({ headerSize: 2 }).maxFrameSize, 65_535);
  assert.equal(
    lengthPrefixed({ headerSize: 2, maxFrameSize: 100 }).maxFrameSize,
    100,
  );
  assert.equal(
    lengthPrefixed({ headerSize: 4 }).maxFrameSize,
    DEFAULT_MAX_FRAME_SIZE,
  );
  assert.equal(
    lengthPrefixed({ headerSize: 4, maxFrameSize: 2 ** 40 }).maxFrameSize,
    2 ** 32 - 1,
  );
  assert.equal(
    lengthPrefixed({ headerSize: 8, maxFrameSize: Number.MAX_SAFE_INTEGER })
      .maxFrameSize,
    Number.MAX_SAFE_INTEGER,
  );
  // Encoding a payload that does not fit a 1-byte header is refused.
  const tiny = lengthPrefixed({ headerSize: 1 });
  assertTooLarge(() => tiny.check(new Uint8Array(256)), 256, 255);
  assert.deepEqual(
    encodeFrame(tiny, new Uint8Array(255)).subarray(0, 1),
    new Uint8Array([255]),
  );
});

test("lengthPrefixed() reports truncation at every position", () => {
  for (const options of LAYOUTS) {
    const framing = lengthPrefixed(options);
    const size = options.headerSize!;
    const payloads = [pattern(3), new Uint8Array(0), pattern(6, 9)];
    const wire = encodeAll(framing, payloads);
    // Start offset of each frame, then its total size.
    const starts = [0, size + 3, 2 * size + 3];
    const totals = [size + 3, size, size + 6];
    for (let cut = 0; cut <= wire.byteLength; cut++) {
      for (
        const chunks of [
          [wire.subarray(0, cut)],
          byteByByte(wire.subarray(0, cut)),
        ]
      ) {
        const index = starts.findLastIndex((start) => start <= cut);
        const start = starts[index]!;
        const received = cut - start;
        if (received === 0 || received === totals[index]) {
          decodeChunks(framing, chunks);
          continue;
        }
        const expected = received < size ? undefined : totals[index];
        const error = assertTruncated(
          () => decodeChunks(framing, chunks),
          received,
          expected,
        );
        assert.ok(error instanceof FrameTruncatedError);
      }
    }
  }
});

test("lengthPrefixed() decoders are independent", () => {
  const framing = lengthPrefixed();
  const a = framing.createDecoder();
  const b = framing.createDecoder();
  const sinkA = new Collector();
  const sinkB = new Collector();
  a.decode(new Uint8Array([0, 0, 0, 1]), sinkA);
  b.decode(new Uint8Array([0, 0, 0, 2, 5]), sinkB);
  a.decode(new Uint8Array([7]), sinkA);
  b.decode(new Uint8Array([6]), sinkB);
  a.end();
  b.end();
  assert.deepEqual(sinkA.frames, [new Uint8Array([7])]);
  assert.deepEqual(sinkB.frames, [new Uint8Array([5, 6])]);
});

test("lengthPrefixed() validates its options", () => {
  const invalid: [unknown, ErrorConstructor, string][] = [
    [
      { headerSize: 3 },
      RangeError,
      "Cannot create framing as 'headerSize' must be 1, 2, 4 or 8: current value is 3",
    ],
    [
      { headerSize: "4" },
      RangeError,
      `Cannot create framing as 'headerSize' must be 1, 2, 4 or 8: current value is "4"`,
    ],
    [
      { byteOrder: "middle" },
      RangeError,
      `Cannot create framing as 'byteOrder' must be "big" or "little": current value is "middle"`,
    ],
    [
      { maxFrameSize: -1 },
      RangeError,
      "Cannot create framing as 'maxFrameSize' must be a non-negative safe integer: current value is -1",
    ],
    [
      { maxFrameSize: 1.5 },
      RangeError,
      "Cannot create framing as 'maxFrameSize' must be a non-negative safe integer: current value is 1.5",
    ],
    [
      { maxFrameSize: Number.NaN },
      RangeError,
      "Cannot create framing as 'maxFrameSize' must be a non-negative safe integer: current value is NaN",
    ],
    [
      { maxFrameSize: 2 ** 53 },
      RangeError,
      "Cannot create framing as 'maxFrameSize' must be a non-negative safe integer: current value is 9007199254740992",
    ],
    [
      { maxFrameSize: "10" },
      TypeError,
      "Cannot create framing as 'maxFrameSize' must be a number: current type is string",
    ],
    [
      null,
      TypeError,
      "Cannot create framing as 'options' must be an object: current value is null",
    ],
  ];
  for (const [options, type, message] of invalid) {
    assert.throws(
      () => lengthPrefixed(options as LengthPrefixedOptions),
      (error: unknown) => {
        assert.ok(error instanceof type);
        assert.equal(error.message, message);
        return true;
      },
    );
  }
  assert.equal(lengthPrefixed({}).maxFrameSize, DEFAULT_MAX_FRAME_SIZE);
  assert.equal(lengthPrefixed({ maxFrameSize: 0 }).maxFrameSize, 0);
});

test("lengthPrefixed() writeHeader refuses lengths that do not fit", () => {
  const framing = lengthPrefixed({ headerSize: 1 });
  const target = new Uint8Array(4);
  assert.throws(() => framing.writeHeader(256, target, 0), RangeError);
  assert.throws(() => framing.writeHeader(-1, target, 0), RangeError);
  assert.throws(() => framing.writeHeader(1.5, target, 0), RangeError);
  assert.throws(() => framing.writeHeader(1, target, 4), RangeError);
  assert.throws(
    () => lengthPrefixed().writeHeader(1, new Uint8Array(3), 0),
    RangeError,
  );
  assert.deepEqual(target, new Uint8Array(4));
});

test("lengthPrefixed() framing is immutable", () => {
  const framing = lengthPrefixed();
  assert.ok(Object.isFrozen(framing));
  assert.throws(() => {
    (framing as { maxFrameSize: number }).maxFrameSize = 1;
  }, TypeError);
});

test("lengthPrefixed() copies small fragments instead of pinning their buffers", () => {
  // Overwriting each chunk after decode() is a probe, not allowed use: it
  // shows whether the decoder kept a reference to the chunk.
  const framing = lengthPrefixed();
  const payload = pattern(300, 1);
  const wire = encodeFrame(framing, payload);
  const decoder = framing.createDecoder();
  const sink = new Collector();
  // 1-byte views of 64 KiB buffers, as Deno reads deliver a trickling peer.
  for (const chunk of byteByByteInBigBuffers(wire)) {
    decoder.decode(chunk, sink);
    chunk.fill(0);
  }
  decoder.end();
  assert.deepEqual(sink.frames, [payload]);
});

test("lengthPrefixed() keeps large fragments by reference and copies them once", () => {
  const framing = lengthPrefixed();
  const wire = encodeFrame(framing, pattern(20_000, 3));
  const first = wire.slice(0, 10_004);
  const decoder = framing.createDecoder();
  const sink = new Collector();
  decoder.decode(first, sink);
  first[4] = 0xaa; // probe: visible only if the fragment was not copied
  decoder.decode(wire.slice(10_004), sink);
  decoder.end();
  const expected = pattern(20_000, 3);
  expected[0] = 0xaa;
  assert.deepEqual(sink.frames, [expected]);
  assert.equal(sink.frames[0]!.buffer.byteLength, 20_000);
});

/**
 * Decodes `wire` the way a connection does: before each read it asks the
 * decoder for a target and, when there is one, reads into it.
 */
function decodeWithTargets(
  framing: Framing,
  wire: Uint8Array,
  random: () => number,
): { frames: Uint8Array[]; direct: number } {
  const decoder = framing.createDecoder();
  const sink = new Collector();
  let direct = 0;
  let pos = 0;
  while (pos < wire.byteLength) {
    const target = readTarget(decoder);
    const want = 1 + randomInt(random, 90_000);
    const n = Math.min(want, wire.byteLength - pos, target?.byteLength ?? want);
    if (target) {
      target.set(wire.subarray(pos, pos + n));
      decoder.decode(target.subarray(0, n), sink);
      direct++;
    } else {
      decoder.decode(wire.slice(pos, pos + n), sink);
    }
    pos += n;
  }
  decoder.end();
  return { frames: sink.frames, direct };
}

test("lengthPrefixed() decodes reads made into readTarget() under random read sizes", () => {
  const random = prng(7);
  const framing = lengthPrefixed();
  const sizes = [0, 70_000, 5, 20_000, 65_536, 300_000, 1, 16_384, 100_000];
  const payloads = sizes.map((size, i) => pattern(size, i));
  for (let round = 0; round < 20; round++) {
    const { frames, direct } = decodeWithTargets(
      framing,
      encodeAll(framing, payloads),
      random,
    );
    assert.deepEqual(frames, payloads);
    assert.ok(direct > 0, "some reads went straight into frames");
  }
});

test("lengthPrefixed() readTarget() is the rest of a large frame, in the frame itself", () => {
  const framing = lengthPrefixed();
  const wire = encodeFrame(framing, pattern(40_000, 1));
  const decoder = framing.createDecoder();
  const sink = new Collector();
  assert.equal(readTarget(decoder), undefined, "no frame under way");
  decoder.decode(wire.slice(0, 1004), sink);
  const target = readTarget(decoder)!;
  assert.equal(target.byteLength, 39_000);
  assert.equal(readTarget(decoder)!.byteOffset, target.byteOffset);
  target.set(wire.subarray(1004, 21_004));
  decoder.decode(target.subarray(0, 20_000), sink);
  assert.equal(decoder.buffered, 4 + 21_000);
  // A chunk read elsewhere is copied in.
  decoder.decode(wire.slice(21_004), sink);
  decoder.end();
  assert.deepEqual(sink.frames, [pattern(40_000, 1)]);
  assert.equal(sink.frames[0]!.buffer, target.buffer);
});

test("lengthPrefixed() readTarget() after a large frame is room for the next header alone", () => {
  const framing = lengthPrefixed();
  const decoder = framing.createDecoder();
  const sink = new Collector();
  const payloads = [
    pattern(40_000, 1),
    pattern(50_000, 2),
    new Uint8Array(0),
    pattern(3, 3),
  ];
  const wire = encodeAll(framing, payloads);
  decoder.decode(wire.slice(0, 40_004), sink);
  let pos = 40_004;
  // A header that arrives in two reads, the first into the target.
  const header = readTarget(decoder)!;
  assert.equal(header.byteLength, 4);
  header.set(wire.subarray(pos, pos + 2));
  decoder.decode(header.subarray(0, 2), sink);
  assert.equal(readTarget(decoder), undefined, "half a header held");
  decoder.decode(wire.slice(pos + 2, pos + 4), sink);
  pos += 4;
  // The payload then goes straight into the frame's own buffer.
  const body = readTarget(decoder)!;
  assert.equal(body.byteLength, 50_000);
  body.set(wire.subarray(pos, pos + 50_000));
  decoder.decode(body, sink);
  pos += 50_000;
  // A zero-length frame read into the header target.
  const next = readTarget(decoder)!;
  assert.equal(next.byteLength, 4);
  next.set(wire.subarray(pos, pos + 4));
  decoder.decode(next, sink);
  pos += 4;
  // A small frame ends the header reads.
  assert.equal(readTarget(decoder), undefined);
  decoder.decode(wire.slice(pos), sink);
  decoder.end();
  assert.deepEqual(sink.frames, payloads);
  assert.equal(sink.frames[1]!.buffer, body.buffer);
});

test("lengthPrefixed() readTarget() allocates only what the peer has earned", () => {
  const framing = lengthPrefixed();
  const decoder = framing.createDecoder();
  const sink = new Collector();
  // Announcing 1 MiB earns no buffer of that size...
  const wire = encodeFrame(framing, pattern(1024 * 1024, 2));
  decoder.decode(wire.slice(0, 14), sink);
  assert.equal(readTarget(decoder), undefined);
  // ...sending half of it does.
  decoder.decode(wire.slice(14, 4 + 512 * 1024), sink);
  assert.equal(readTarget(decoder)!.byteLength, 512 * 1024);
  // Frames up to 64 KiB get their buffer at once; short remainders never.
  const small = lengthPrefixed().createDecoder();
  small.decode(encodeFrame(framing, pattern(60_000)).slice(0, 4), sink);
  assert.equal(readTarget(small)!.byteLength, 60_000);
  const short = lengthPrefixed().createDecoder();
  short.decode(encodeFrame(framing, pattern(10_000)).slice(0, 4), sink);
  assert.equal(readTarget(short), undefined);
});

test("lengthPrefixed() reports truncation inside a frame read into readTarget()", () => {
  const framing = lengthPrefixed();
  const wire = encodeFrame(framing, pattern(50_000));
  const decoder = framing.createDecoder();
  const sink = new Collector();
  decoder.decode(wire.slice(0, 100), sink);
  const target = readTarget(decoder)!;
  target.set(wire.subarray(100, 30_100));
  decoder.decode(target.subarray(0, 30_000), sink);
  assertTruncated(() => decoder.end(), 30_100, 50_004);
  assert.deepEqual(sink.frames, []);
});

test("lengthPrefixed() decodeSome() leaves a rest only when a whole frame is in it", () => {
  const framing = lengthPrefixed();
  const frames = [1, 2, 3].map((n) =>
    encodeFrame(framing, new Uint8Array([n]))
  );
  const sink = new Collector();
  // Two whole frames and part of a header: the part is taken in.
  const partial = concat([frames[0]!, frames[1]!, frames[2]!.subarray(0, 2)]);
  const decoder = framing.createDecoder();
  assert.equal(decoder.decodeSome!(partial, sink, 2), partial.byteLength);
  assert.equal(decoder.buffered, 2);
  // Two whole frames and a third: the third is left for later.
  const whole = concat(frames);
  const fresh = framing.createDecoder();
  assert.equal(fresh.decodeSome!(whole, sink, 2), 2 * frames[0]!.byteLength);
  assert.equal(fresh.buffered, 0);
});
