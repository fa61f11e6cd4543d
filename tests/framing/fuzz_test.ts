// Property-based tests of every frame decoder, driven by fast-check with a
// fixed seed so that failures reproduce. Each decoder is checked against a
// small reference model written independently of src/: the bytes of a
// header are read with BigInt, lines are split with indexOf.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  encodeFrame,
  fixedSize,
  FixedSizeDecoderStream,
  FixedSizeEncoderStream,
  type FrameDecoder,
  FrameDecoderStream,
  FrameEncoderStream,
  type FrameSink,
  FrameTooLargeError,
  FrameTruncatedError,
  type Framing,
  lengthPrefixed,
  LengthPrefixedDecoderStream,
  LengthPrefixedEncoderStream,
  LineDecoderStream,
  lineDelimited,
  LineEncoderStream,
} from "../../src/framing/mod.ts";
import { concat } from "./_chunking.ts";
import { fromAsync } from "../_async.ts";

/** The seed of every property, so that CI runs are reproducible. */
const SEED = 0x7e7e_2024;
/** Runs of the synchronous decoder properties. */
const RUNS = 300;
/** Runs of the properties that go through web streams, which cost more. */
const STREAM_RUNS = 60;
/**
 * Options of every fc.assert. The time limit only matters when a failure is
 * being shrunk (a passing property takes well under it): the failure is then
 * reported with the smallest counterexample found so far.
 */
function options(numRuns: number): fc.Parameters<unknown> {
  return {
    seed: SEED,
    numRuns,
    plugins: [fc.interruptAfterTimeLimit(20_000)],
  };
}

const LF = 10;
const CR = 13;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

// ---------------------------------------------------------------------------
// Chunking: fc-generated cut positions and parent buffers.

/**
 * How to cut a stream: piece sizes, used in turn and cycled until the stream
 * is consumed (0 makes an empty chunk), and for each piece what buffer it
 * lives in: 0 a view of the stream, 1 a copy in a buffer of its own (so that
 * big pieces are kept by reference), 2 a copy inside a larger buffer.
 */
interface Plan {
  sizes: readonly number[];
  kinds: readonly number[];
}

const planArb: fc.Arbitrary<Plan> = fc.record({
  sizes: fc.oneof(
    // Many 1-byte pieces.
    { weight: 2, arbitrary: fc.constant<readonly number[]>([1]) },
    {
      weight: 5,
      arbitrary: fc.array(
        fc.oneof(
          { weight: 4, arbitrary: fc.integer({ min: 1, max: 9 }) },
          { weight: 3, arbitrary: fc.constant(1) },
          { weight: 1, arbitrary: fc.constant(0) },
          { weight: 2, arbitrary: fc.integer({ min: 10, max: 1 << 14 }) },
          // Big enough to be kept by reference, yet inside a large frame.
          { weight: 1, arbitrary: fc.integer({ min: 4096, max: 5000 }) },
        ),
        { minLength: 1, maxLength: 24 },
      ),
    },
  ),
  kinds: fc.array(fc.integer({ min: 0, max: 2 }), {
    minLength: 1,
    maxLength: 8,
  }),
});

/** Cuts `stream` into chunks as `plan` says. */
function cut(stream: Uint8Array, plan: Plan): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let pos = 0;
  let turn = 0;
  let empties = 0;
  if (stream.byteLength === 0 && plan.sizes[0] === 0) {
    chunks.push(new Uint8Array(0));
  }
  while (pos < stream.byteLength) {
    let size = plan.sizes[turn % plan.sizes.length]!;
    const kind = plan.kinds[turn % plan.kinds.length]!;
    turn++;
    // A plan of only zeros still has to make progress.
    if (size === 0 && ++empties > plan.sizes.length) size = 1;
    if (size > 0) empties = 0;
    size = Math.min(size, stream.byteLength - pos);
    const view = stream.subarray(pos, pos + size);
    if (kind === 0) {
      chunks.push(view);
    } else if (kind === 1) {
      chunks.push(view.slice());
    } else {
      const parent = new Uint8Array(size + 8);
      parent.set(view, 3);
      chunks.push(parent.subarray(3, 3 + size));
    }
    pos += size;
  }
  return chunks;
}

/** The index of the chunk that holds byte `at` of the stream. */
function chunkOf(chunks: readonly Uint8Array[], at: number): number {
  let start = 0;
  for (let i = 0; i < chunks.length; i++) {
    const end = start + chunks[i]!.byteLength;
    if (at >= start && at < end) return i;
    start = end;
  }
  return -1;
}

// ---------------------------------------------------------------------------
// Formats: a framing, its documented bounds and a reference model.

type ErrorClass = typeof FrameTooLargeError | typeof FrameTruncatedError;

/** What a decoder must do with a whole stream, whatever the chunking. */
type Outcome =
  | { kind: "ok" }
  | {
    kind: "tooLarge";
    /** The byte whose chunk must throw: the first that shows the excess. */
    at: number;
    /** Bounds of the reported size. */
    minSize: number;
    maxSize: number;
  }
  | { kind: "truncated"; received: number; expected: number | undefined };

interface Model {
  frames: Uint8Array[];
  outcome: Outcome;
}

interface Format {
  framing: Framing;
  /** The effective limit: `framing.maxFrameSize`. */
  limit: number;
  /** Header bytes in front of each payload (0 without a header). */
  header: number;
  /** Whether the header is little-endian. */
  little: boolean;
  /** The documented bound on `decoder.buffered`. */
  bound: number;
  /** The error classes the decoder may throw. */
  errors: readonly ErrorClass[];
  /** Encodes a payload without the library. */
  encode(payload: Uint8Array): Uint8Array;
  /** Decodes a whole stream without the library. */
  model(stream: Uint8Array): Model;
  /** The framing's named decoder stream class, freshly constructed. */
  decoderStream(): TransformStream<Uint8Array, Uint8Array>;
  /** The framing's named encoder stream class, freshly constructed. */
  encoderStream(): TransformStream<Uint8Array, Uint8Array>;
}

interface LpConfig {
  headerSize: 1 | 2 | 4 | 8;
  byteOrder: "big" | "little";
  maxFrameSize: number;
}

/** Writes `length` as an unsigned `size`-byte integer. */
function writeLength(length: bigint, size: number, little: boolean) {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    out[little ? i : size - 1 - i] = Number((length >> BigInt(8 * i)) & 0xffn);
  }
  return out;
}

/** Reads an unsigned `size`-byte integer. */
function readLength(
  bytes: Uint8Array,
  at: number,
  size: number,
  little: boolean,
): bigint {
  let value = 0n;
  for (let i = 0; i < size; i++) {
    value = (value << 8n) | BigInt(bytes[at + (little ? size - 1 - i : i)]!);
  }
  return value;
}

function headerMax(headerSize: number): number {
  return headerSize === 8 ? Number.MAX_SAFE_INTEGER : 2 ** (8 * headerSize) - 1;
}

function lpFormat(config: LpConfig): Format {
  const framing = lengthPrefixed(config);
  const size = config.headerSize;
  const little = config.byteOrder === "little";
  const limit = Math.min(config.maxFrameSize, headerMax(size));
  assert.equal(framing.maxFrameSize, limit);
  return {
    framing,
    limit,
    header: size,
    little,
    bound: limit + size,
    errors: [FrameTooLargeError, FrameTruncatedError],
    encode: (payload) =>
      concat([writeLength(BigInt(payload.byteLength), size, little), payload]),
    model(stream) {
      const frames: Uint8Array[] = [];
      const n = stream.byteLength;
      let pos = 0;
      while (pos < n) {
        if (n - pos < size) {
          return {
            frames,
            outcome: {
              kind: "truncated",
              received: n - pos,
              expected: undefined,
            },
          };
        }
        const declared = readLength(stream, pos, size, little);
        if (declared > BigInt(limit)) {
          const safe = declared <= MAX_SAFE;
          return {
            frames,
            outcome: {
              kind: "tooLarge",
              at: pos + size - 1,
              minSize: safe ? Number(declared) : Number.MAX_SAFE_INTEGER + 1,
              maxSize: safe ? Number(declared) : Infinity,
            },
          };
        }
        const length = Number(declared);
        const start = pos + size;
        if (n - start < length) {
          return {
            frames,
            outcome: {
              kind: "truncated",
              received: n - pos,
              expected: size + length,
            },
          };
        }
        frames.push(stream.subarray(start, start + length));
        pos = start + length;
      }
      return { frames, outcome: { kind: "ok" } };
    },
    decoderStream: () => new LengthPrefixedDecoderStream(config),
    encoderStream: () => new LengthPrefixedEncoderStream(config),
  };
}

function lineFormat(maxLineLength: number): Format {
  const framing = lineDelimited({ maxLineLength });
  const limit = maxLineLength;
  assert.equal(framing.maxFrameSize, limit);
  return {
    framing,
    limit,
    header: 0,
    little: false,
    // line_delimited.ts refuses a chunk that would take the buffered line
    // past `maxLineLength` before buffering it, `\r` included.
    bound: limit,
    errors: [FrameTooLargeError, FrameTruncatedError],
    encode: (payload) => concat([payload, new Uint8Array([LF])]),
    model(stream) {
      const frames: Uint8Array[] = [];
      const n = stream.byteLength;
      let pos = 0;
      while (pos < n) {
        const newline = stream.indexOf(LF, pos);
        const stop = newline === -1 ? n : newline;
        // The limit counts a `\r` before the `\n`.
        const length = stop - pos;
        if (length > limit) {
          return {
            frames,
            outcome: {
              kind: "tooLarge",
              at: pos + limit,
              minSize: limit + 1,
              maxSize: length,
            },
          };
        }
        if (newline === -1) {
          return {
            frames,
            outcome: {
              kind: "truncated",
              received: length,
              expected: undefined,
            },
          };
        }
        const cr = length > 0 && stream[newline - 1] === CR;
        frames.push(stream.subarray(pos, cr ? newline - 1 : newline));
        pos = newline + 1;
      }
      return { frames, outcome: { kind: "ok" } };
    },
    decoderStream: () => new LineDecoderStream({ maxLineLength }),
    encoderStream: () => new LineEncoderStream({ maxLineLength }),
  };
}

function fixedFormat(size: number): Format {
  const framing = fixedSize(size);
  assert.equal(framing.maxFrameSize, size);
  return {
    framing,
    limit: size,
    header: 0,
    little: false,
    bound: size,
    errors: [FrameTruncatedError],
    encode: (payload) => payload,
    model(stream) {
      const frames: Uint8Array[] = [];
      let pos = 0;
      for (; pos + size <= stream.byteLength; pos += size) {
        frames.push(stream.subarray(pos, pos + size));
      }
      const rest = stream.byteLength - pos;
      return {
        frames,
        outcome: rest === 0
          ? { kind: "ok" }
          : { kind: "truncated", received: rest, expected: size },
      };
    },
    decoderStream: () => new FixedSizeDecoderStream(size),
    encoderStream: () => new FixedSizeEncoderStream(size),
  };
}

// ---------------------------------------------------------------------------
// Arbitraries.

/** Limits: mostly small, some medium, a few large enough for big pieces. */
const limitArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 20 }) },
  { weight: 3, arbitrary: fc.integer({ min: 21, max: 300 }) },
  { weight: 1, arbitrary: fc.integer({ min: 4096, max: 6000 }) },
);

/**
 * Limits as above, and now and then one so large that allocating a declared
 * length up to it would fail.
 */
const wideLimitArb = fc.oneof(
  { weight: 12, arbitrary: limitArb },
  {
    weight: 1,
    arbitrary: fc.constantFrom(2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER),
  },
);

const lpConfigArb: fc.Arbitrary<LpConfig> = fc.record({
  headerSize: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
  byteOrder: fc.constantFrom("big" as const, "little" as const),
  maxFrameSize: wideLimitArb,
});

const fixedSizeArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 9 }) },
  { weight: 3, arbitrary: fc.integer({ min: 10, max: 300 }) },
  { weight: 1, arbitrary: fc.integer({ min: 4096, max: 5000 }) },
);

/** Bytes with `\n`, `\r` and 0 more common than chance. */
const byteArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 255 }) },
  { weight: 2, arbitrary: fc.constantFrom(LF, CR, 0) },
);

/** A byte that may be inside a line. */
const lineByteArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 255 }) },
  { weight: 1, arbitrary: fc.constant(CR) },
).map((byte) => (byte === LF ? 0x20 : byte));

/**
 * Exactly `length` bytes: drawn one by one when short; when long, a short
 * drawn run mixed with a hash of each position, so that the bytes never
 * repeat with a period (a misordered copy shows) yet shrink fast.
 */
function bytesArb(length: number, line = false): fc.Arbitrary<Uint8Array> {
  const byte = line ? lineByteArb : fc.integer({ min: 0, max: 255 });
  const run = (min: number, max: number) =>
    fc.array(byte, { minLength: min, maxLength: max }).map((b) =>
      Uint8Array.from(b)
    );
  const bytes = length <= 64 ? run(length, length) : run(1, 32).map((unit) => {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      out[i] = unit[i % unit.length]! ^ (Math.imul(i + 1, 0x9e3779b1) >>> 24);
    }
    return out;
  });
  if (!line) return bytes;
  return bytes.map((b) => b.map((x) => (x === LF ? 0x20 : x)));
}

/** `length` bytes that form a valid line payload: no `\n`, no final `\r`. */
function linePayloadArb(length: number): fc.Arbitrary<Uint8Array> {
  return bytesArb(length, true).map((bytes) => {
    if (bytes[length - 1] !== CR) return bytes;
    const copy = bytes.slice();
    copy[length - 1] = 0x21;
    return copy;
  });
}

/** A payload length from 0 to `limit`, both ends included often. */
function lengthArb(limit: number): fc.Arbitrary<number> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(0) },
    // Capped for the huge limits.
    { weight: 2, arbitrary: fc.constant(Math.min(limit, 6000)) },
    { weight: 6, arbitrary: fc.integer({ min: 0, max: Math.min(limit, 48) }) },
    // Around the edges of the decoders' 256- and 512-byte staging blocks.
    {
      weight: 1,
      arbitrary: fc.constantFrom(255, 256, 257, 767, 768, 769).map((n) =>
        Math.min(n, limit)
      ),
    },
  );
}

type Family = {
  /** The factory's name, for test titles. */
  name: string;
  /** Arbitrary framing configurations, shown in counterexamples. */
  config: fc.Arbitrary<unknown>;
  format(config: unknown): Format;
  /** Arbitrary valid payloads of `format`. */
  payload(format: Format): fc.Arbitrary<Uint8Array>;
  /** Segments that, mixed with random bytes, make interesting garbage. */
  segment(format: Format): fc.Arbitrary<Uint8Array>;
};

const LENGTH_PREFIXED: Family = {
  name: "lengthPrefixed()",
  config: lpConfigArb,
  format: (config) => lpFormat(config as LpConfig),
  payload: (format) => lengthArb(format.limit).chain((n) => bytesArb(n)),
  // A header declaring a small length, one near the limit or any length,
  // sometimes followed by its payload.
  segment: (format) => {
    const size = format.header;
    const top = 2n ** BigInt(8 * size) - 1n;
    const limit = BigInt(format.limit);
    const clamp = (n: bigint) => (n < top ? n : top);
    return fc.tuple(
      fc.oneof(
        fc.bigInt({ min: 0n, max: clamp(limit < 64n ? limit : 64n) }),
        fc.bigInt({
          min: limit > 2n ? limit - 2n : 0n,
          max: clamp(limit + 2n),
        }),
        fc.bigInt({ min: 0n, max: top }),
      ),
      fc.oneof(
        { weight: 3, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
    ).map(([length, withPayload]) => {
      const header = writeLength(length, size, format.little);
      if (!withPayload || length > 64n) return header;
      return concat([header, new Uint8Array(Number(length)).fill(0xa5)]);
    });
  },
};

const LINE_DELIMITED: Family = {
  name: "lineDelimited()",
  config: wideLimitArb,
  format: (config) => lineFormat(config as number),
  payload: (format) => lengthArb(format.limit).chain(linePayloadArb),
  // A line near the limit (a short one for the huge limits), ended by `\n`
  // or `\r\n` or not at all.
  segment: (format) => {
    const near = format.limit <= 6000 ? format.limit : 64;
    return fc.tuple(
      fc.integer({ min: Math.max(0, near - 2), max: near + 2 }),
      fc.constantFrom("\n", "\r\n", ""),
    ).map(([length, end]) =>
      concat([
        new Uint8Array(length).fill(0x61),
        new TextEncoder().encode(end),
      ])
    );
  },
};

const FIXED_SIZE: Family = {
  name: "fixedSize()",
  config: fixedSizeArb,
  format: (config) => fixedFormat(config as number),
  payload: (format) => bytesArb(format.limit),
  segment: (format) =>
    fc.constant(new Uint8Array(Math.min(format.limit, 400)).fill(0x5a)),
};

const FAMILIES: readonly Family[] = [
  LENGTH_PREFIXED,
  LINE_DELIMITED,
  FIXED_SIZE,
];

/** A configuration with valid payloads and a chunking plan. */
function validCaseArb(family: Family, minPayloads = 0) {
  return family.config.chain((config) => {
    const format = family.format(config);
    return fc.record({
      config: fc.constant(config),
      payloads: fc.array(family.payload(format), {
        minLength: minPayloads,
        maxLength: 8,
      }),
      plan: planArb,
    });
  });
}

/** A configuration with garbage bytes and a chunking plan. */
function garbageCaseArb(family: Family) {
  return family.config.chain((config) => {
    const format = family.format(config);
    return fc.record({
      config: fc.constant(config),
      garbage: fc.array(
        fc.oneof(
          { weight: 2, arbitrary: fc.uint8Array({ maxLength: 48 }) },
          {
            weight: 2,
            arbitrary: fc.array(byteArb, { maxLength: 24 }).map((b) =>
              Uint8Array.from(b)
            ),
          },
          { weight: 4, arbitrary: family.segment(format) },
        ),
        { maxLength: 16 },
      ).map(concat),
      plan: planArb,
    });
  });
}

// ---------------------------------------------------------------------------
// Running a decoder with its invariants checked after every call.

/** What feeding a decoder produced. */
interface Run {
  frames: Uint8Array[];
  /** What was thrown, if anything. */
  error: unknown;
  /** The chunk whose decode() threw, `chunks.length` for end(), else -1. */
  thrownAt: number;
  /** `buffered` after each decode() call, the throwing one included. */
  buffered: number[];
  /** `buffered` just before end(), if end() was called. */
  bufferedAtEnd: number | undefined;
}

/** A sink that refuses frames: a failed decoder must not emit any. */
const REFUSING_SINK: FrameSink = {
  enqueue: () => assert.fail("a failed decoder emitted a frame"),
};

/** Asserts that `error` is one of the typed framing errors `format` allows. */
function assertTyped(format: Format, error: unknown): void {
  // A failed check inside the sink: report it as it is.
  if (error instanceof assert.AssertionError) throw error;
  if (!format.errors.some((type) => error instanceof type)) {
    assert.fail(
      `${format.framing.name} threw an untyped error: ${
        error instanceof Error ? error.stack : String(error)
      }`,
    );
  }
}

/** Asserts that a decoder that threw `error` keeps throwing its class. */
function assertStaysFailed(
  format: Format,
  decoder: FrameDecoder,
  error: unknown,
): void {
  const again: (() => void)[] = [
    () =>
      decoder.decode(
        new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, LF]),
        REFUSING_SINK,
      ),
    () => decoder.end(),
    () => decoder.decode(new Uint8Array(0), REFUSING_SINK),
    () => decoder.end(),
  ];
  for (const call of again) {
    let thrown: unknown = undefined;
    let threw = false;
    try {
      call();
    } catch (caught) {
      threw = true;
      thrown = caught;
    }
    assert.ok(threw, `${format.framing.name} decoder recovered after ${error}`);
    assertTyped(format, thrown);
    assert.equal(
      (thrown as Error).constructor,
      (error as Error).constructor,
      `a failed decoder threw ${thrown} after ${error}`,
    );
  }
}

/**
 * Feeds `chunks` to a fresh decoder, then calls end(), stopping at the first
 * error. Checks the invariants that hold for any input: every error is a
 * typed framing error and sticks, `buffered` stays within the documented
 * bound, and no frame exceeds the limit.
 */
/**
 * Decodes `chunk` as a reader that bounds its frames does: `decodeSome()`
 * steps of at most `maxFrames` frames, each rest passed again.
 */
function decodeInSteps(
  decoder: FrameDecoder,
  chunk: Uint8Array,
  sink: FrameSink & { frames: Uint8Array[] },
  maxFrames: number,
): void {
  let rest = chunk;
  for (;;) {
    const before = sink.frames.length;
    const used = decoder.decodeSome!(rest, sink, maxFrames);
    const frames = sink.frames.length - before;
    assert.ok(
      frames <= maxFrames,
      `${frames} frames in a step of ${maxFrames}`,
    );
    if (used === rest.byteLength) return;
    assert.ok(used >= 0 && used < rest.byteLength, `took ${used} bytes`);
    assert.equal(frames, maxFrames, "stopped before the step was full");
    assert.equal(decoder.buffered, 0, "stopped inside a frame");
    rest = rest.subarray(used);
  }
}

function run(
  format: Format,
  chunks: readonly Uint8Array[],
  maxFrames?: number,
): Run {
  const decoder = format.framing.createDecoder();
  const frames: Uint8Array[] = [];
  const sink = {
    frames,
    enqueue(frame: Uint8Array) {
      assert.ok(frame instanceof Uint8Array);
      assert.ok(
        frame.byteLength <= format.limit,
        `a frame of ${frame.byteLength} bytes exceeds the limit ${format.limit}`,
      );
      frames.push(frame);
    },
  };
  const buffered: number[] = [];
  const checkBuffered = () => {
    const held = decoder.buffered;
    assert.ok(
      Number.isSafeInteger(held) && held >= 0 && held <= format.bound,
      `buffered is ${held}, over the bound ${format.bound}`,
    );
    buffered.push(held);
  };
  assert.equal(decoder.buffered, 0);
  for (let i = 0; i < chunks.length; i++) {
    try {
      if (maxFrames === undefined) decoder.decode(chunks[i]!, sink);
      else decodeInSteps(decoder, chunks[i]!, sink, maxFrames);
    } catch (error) {
      assertTyped(format, error);
      checkBuffered();
      assertStaysFailed(format, decoder, error);
      return { frames, error, thrownAt: i, buffered, bufferedAtEnd: undefined };
    }
    checkBuffered();
  }
  const bufferedAtEnd = decoder.buffered;
  try {
    decoder.end();
  } catch (error) {
    assertTyped(format, error);
    assertStaysFailed(format, decoder, error);
    return { frames, error, thrownAt: chunks.length, buffered, bufferedAtEnd };
  }
  assert.equal(decoder.buffered, 0, "buffered is not 0 after a clean end()");
  return { frames, error: undefined, thrownAt: -1, buffered, bufferedAtEnd };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Asserts equal frames, byte for byte, in order. */
function assertFrames(
  actual: readonly Uint8Array[],
  expected: readonly Uint8Array[],
): void {
  assert.equal(actual.length, expected.length, "frame count differs");
  for (let i = 0; i < actual.length; i++) {
    if (!bytesEqual(actual[i]!, expected[i]!)) {
      assert.deepEqual(
        Array.from(actual[i]!),
        Array.from(expected[i]!),
        `frame ${i} differs`,
      );
    }
  }
}

/** Asserts that a run did what the reference model says. */
function assertMatchesModel(
  format: Format,
  chunks: readonly Uint8Array[],
  result: Run,
  model: Model,
): void {
  assertFrames(result.frames, model.frames);
  const outcome = model.outcome;
  switch (outcome.kind) {
    case "ok":
      assert.equal(result.error, undefined);
      break;
    case "tooLarge": {
      const error = result.error;
      assert.ok(
        error instanceof FrameTooLargeError,
        `expected FrameTooLargeError, got ${error}`,
      );
      assert.equal(error.code, "FRAME_TOO_LARGE");
      assert.equal(error.limit, format.limit);
      assert.ok(
        error.size >= format.limit + 1 && error.size >= outcome.minSize &&
          error.size <= outcome.maxSize,
        `size ${error.size} is outside [${outcome.minSize}, ${outcome.maxSize}]`,
      );
      assert.equal(
        result.thrownAt,
        chunkOf(chunks, outcome.at),
        "not thrown by the chunk that shows the excess",
      );
      break;
    }
    case "truncated": {
      const error = result.error;
      assert.ok(
        error instanceof FrameTruncatedError,
        `expected FrameTruncatedError, got ${error}`,
      );
      assert.equal(error.code, "FRAME_TRUNCATED");
      assert.equal(result.thrownAt, chunks.length, "not thrown by end()");
      assert.equal(error.received, outcome.received);
      assert.equal(error.expected, outcome.expected);
      assert.equal(result.bufferedAtEnd, outcome.received);
      break;
    }
  }
}

// ---------------------------------------------------------------------------
// 1. Round trip under arbitrary chunking.

for (const family of FAMILIES) {
  test(`${family.name} decoder round-trips valid frames under arbitrary chunking`, () => {
    fc.assert(
      fc.property(validCaseArb(family), ({ config, payloads, plan }) => {
        const format = family.format(config);
        const wire = payloads.map((payload) => {
          const encoded = encodeFrame(format.framing, payload);
          assert.ok(bytesEqual(encoded, format.encode(payload)));
          return encoded;
        });
        const chunks = cut(concat(wire), plan);
        const result = run(format, chunks);
        assert.equal(result.error, undefined, `threw ${result.error}`);
        assertFrames(result.frames, payloads);
      }),
      options(RUNS),
    );
  });
}

for (const family of FAMILIES) {
  test(`${family.name} decoder decodeSome() hands out the same frames a step at a time, and the same errors`, () => {
    fc.assert(
      fc.property(
        validCaseArb(family),
        fc.integer({ min: 1, max: 4 }),
        ({ config, payloads, plan }, maxFrames) => {
          const format = family.format(config);
          const wire = payloads.map((p) => encodeFrame(format.framing, p));
          const chunks = cut(concat(wire), plan);
          const result = run(format, chunks, maxFrames);
          assert.equal(result.error, undefined, `threw ${result.error}`);
          assertFrames(result.frames, payloads);
        },
      ),
      options(RUNS),
    );
    fc.assert(
      fc.property(
        garbageCaseArb(family),
        fc.integer({ min: 1, max: 4 }),
        ({ config, garbage, plan }, maxFrames) => {
          const format = family.format(config);
          const chunks = cut(garbage, plan);
          assertMatchesModel(
            format,
            chunks,
            run(format, chunks, maxFrames),
            format.model(garbage),
          );
        },
      ),
      options(RUNS),
    );
  });
}

test("lineDelimited() decoder strips one \\r before \\n under arbitrary chunking", () => {
  const caseArb = wideLimitArb.chain((limit) => {
    const format = lineFormat(limit);
    return fc.record({
      limit: fc.constant(limit),
      lines: fc.array(
        fc.tuple(LINE_DELIMITED.payload(format), fc.boolean()),
        { maxLength: 8 },
      ),
      plan: planArb,
    });
  });
  fc.assert(
    fc.property(caseArb, ({ limit, lines, plan }) => {
      const format = lineFormat(limit);
      // The `\r` counts against the limit, so a line at the limit ends in `\n`.
      const wire = concat(lines.map(([payload, crlf]) =>
        concat([
          payload,
          crlf && payload.byteLength < limit
            ? new Uint8Array([CR, LF])
            : new Uint8Array([LF]),
        ])
      ));
      const result = run(format, cut(wire, plan));
      assert.equal(result.error, undefined, `threw ${result.error}`);
      assertFrames(result.frames, lines.map(([payload]) => payload));
    }),
    options(RUNS),
  );
});

test("FrameEncoderStream() and FrameDecoderStream() round-trip valid frames under arbitrary chunking", async () => {
  // `named`: the framing's own stream classes, such as LineDecoderStream.
  const caseArb = fc.tuple(
    fc.oneof(
      ...FAMILIES.map((family) =>
        validCaseArb(family).map((c) => ({ family: family.name, ...c }))
      ),
    ),
    fc.boolean(),
  ).map(([c, named]) => ({ ...c, named }));
  await fc.assert(
    fc.asyncProperty(
      caseArb,
      async ({ family, config, payloads, plan, named }) => {
        const format = FAMILIES.find((f) => f.name === family)!.format(config);
        const encoded = await fromAsync(
          ReadableStream.from(payloads).pipeThrough(
            named
              ? format.encoderStream()
              : new FrameEncoderStream(format.framing),
          ),
        );
        assert.equal(encoded.length, payloads.length);
        const wire = concat(encoded);
        assert.ok(bytesEqual(wire, concat(payloads.map(format.encode))));
        const frames = await fromAsync(
          ReadableStream.from(cut(wire, plan)).pipeThrough(
            named
              ? format.decoderStream()
              : new FrameDecoderStream(format.framing),
          ),
        );
        assertFrames(frames, payloads);
      },
    ),
    options(STREAM_RUNS),
  );
});

// ---------------------------------------------------------------------------
// 2 and 3. Garbage: only typed errors, sticky failure, bounded memory, and
// exactly what the reference model decodes.

for (const family of FAMILIES) {
  test(`${family.name} decoder throws only typed errors on garbage and matches the reference model`, () => {
    fc.assert(
      fc.property(garbageCaseArb(family), ({ config, garbage, plan }) => {
        const format = family.format(config);
        const chunks = cut(garbage, plan);
        assertMatchesModel(
          format,
          chunks,
          run(format, chunks),
          format.model(garbage),
        );
      }),
      options(RUNS),
    );
  });
}

test("FrameDecoderStream() errors only with typed framing errors on garbage", async () => {
  const caseArb = fc.oneof(
    ...FAMILIES.map((family) =>
      garbageCaseArb(family).map((c) => ({ family: family.name, ...c }))
    ),
  );
  await fc.assert(
    fc.asyncProperty(caseArb, async ({ family, config, garbage, plan }) => {
      const format = FAMILIES.find((f) => f.name === family)!.format(config);
      const model = format.model(garbage);
      const frames = fromAsync(
        ReadableStream.from(cut(garbage, plan)).pipeThrough(
          new FrameDecoderStream(format.framing),
        ),
      );
      if (model.outcome.kind === "ok") {
        assertFrames(await frames, model.frames);
      } else {
        await assert.rejects(frames, (error) => {
          assertTyped(format, error);
          return model.outcome.kind === "tooLarge"
            ? error instanceof FrameTooLargeError
            : error instanceof FrameTruncatedError;
        });
      }
    }),
    options(STREAM_RUNS),
  );
});

// ---------------------------------------------------------------------------
// 4. Truncation: a valid stream cut short inside a frame.

for (const family of FAMILIES) {
  test(`${family.name} decoder end() throws FrameTruncatedError exactly when cut inside a frame`, () => {
    const caseArb = fc.record({
      valid: validCaseArb(family, 1),
      frame: fc.nat(),
      offset: fc.nat(),
    });
    fc.assert(
      fc.property(
        caseArb,
        ({ valid: { config, payloads, plan }, frame, offset }) => {
          const format = family.format(config);
          const wire = payloads.map((p) => encodeFrame(format.framing, p));
          const index = frame % payloads.length;
          const frameLength = wire[index]!.byteLength;
          const into = offset % (frameLength + 1);
          const prefix = concat([
            ...wire.slice(0, index),
            wire[index]!.subarray(0, into),
          ]);
          const chunks = cut(prefix, plan);
          const result = run(format, chunks);
          if (into === 0 || into === frameLength) {
            // A frame boundary.
            assert.equal(result.error, undefined, `threw ${result.error}`);
            assertFrames(
              result.frames,
              payloads.slice(0, into === 0 ? index : index + 1),
            );
            return;
          }
          assertFrames(result.frames, payloads.slice(0, index));
          const error = result.error;
          assert.ok(
            error instanceof FrameTruncatedError,
            `expected FrameTruncatedError, got ${error}`,
          );
          assert.equal(result.thrownAt, chunks.length, "not thrown by end()");
          assert.equal(error.received, into);
          assert.equal(result.bufferedAtEnd, into);
          // The full size, header included, once a length prefix was read.
          const expected = family === LENGTH_PREFIXED
            ? (into >= format.header ? frameLength : undefined)
            : family === FIXED_SIZE
            ? frameLength
            : undefined;
          assert.equal(error.expected, expected);
        },
      ),
      options(RUNS),
    );
  });
}

// ---------------------------------------------------------------------------
// 5. Oversize frames.

test("lengthPrefixed() decoder rejects a declared length over the limit when its header completes", () => {
  const caseArb = lpConfigArb
    .filter((config) => config.maxFrameSize < headerMax(config.headerSize))
    .chain((config) => {
      const format = lpFormat(config);
      const limit = BigInt(format.limit);
      const top = 2n ** BigInt(8 * config.headerSize) - 1n;
      const near = limit + 64n < top ? limit + 64n : top;
      return fc.record({
        config: fc.constant(config),
        before: fc.array(LENGTH_PREFIXED.payload(format), { maxLength: 4 }),
        declared: fc.oneof(
          fc.bigInt({ min: limit + 1n, max: near }),
          fc.bigInt({ min: limit + 1n, max: top }),
          fc.constantFrom(top, MAX_SAFE, MAX_SAFE + 1n, MAX_SAFE + 2n)
            .filter((value) => value > limit && value <= top),
        ),
        after: fc.uint8Array({ maxLength: 64 }),
        plan: planArb,
      });
    });
  fc.assert(
    fc.property(caseArb, ({ config, before, declared, after, plan }) => {
      const format = lpFormat(config);
      const size = config.headerSize;
      const head = concat(before.map((p) => encodeFrame(format.framing, p)));
      const start = head.byteLength;
      const header = writeLength(declared, size, config.byteOrder === "little");
      const chunks = cut(concat([head, header, after]), plan);
      const result = run(format, chunks);
      assertFrames(result.frames, before);
      const error = result.error;
      assert.ok(
        error instanceof FrameTooLargeError,
        `expected FrameTooLargeError, got ${error}`,
      );
      assert.equal(error.limit, format.limit);
      assert.ok(error.size >= format.limit + 1);
      if (declared <= MAX_SAFE) assert.equal(error.size, Number(declared));
      else assert.ok(error.size > Number.MAX_SAFE_INTEGER);
      assert.equal(result.thrownAt, chunkOf(chunks, start + size - 1));
      // Only header bytes of the oversize frame were ever held.
      let end = 0;
      for (let i = 0; i <= result.thrownAt; i++) {
        end += chunks[i]!.byteLength;
        if (end > start) {
          assert.ok(
            result.buffered[i]! <= size,
            `buffered ${result.buffered[i]} after chunk ${i}`,
          );
          if (i < result.thrownAt) {
            assert.equal(result.buffered[i], end - start);
          }
        }
      }
    }),
    options(RUNS),
  );
});

test("lineDelimited() decoder rejects a line over the limit at the chunk that crosses it", () => {
  const caseArb = limitArb.chain((limit) => {
    const format = lineFormat(limit);
    return fc.record({
      limit: fc.constant(limit),
      before: fc.array(LINE_DELIMITED.payload(format), { maxLength: 4 }),
      long: fc.integer({ min: 1, max: 64 }).chain((excess) =>
        bytesArb(limit + excess, true)
      ),
      end: fc.constantFrom("", "\n", "\r\n"),
      after: fc.uint8Array({ maxLength: 32 }),
      plan: planArb,
    });
  });
  fc.assert(
    fc.property(caseArb, ({ limit, before, long, end, after, plan }) => {
      const format = lineFormat(limit);
      const head = concat(before.map((p) => encodeFrame(format.framing, p)));
      const start = head.byteLength;
      const tail = new TextEncoder().encode(end);
      const wire = concat([head, long, tail, after]);
      const chunks = cut(wire, plan);
      const result = run(format, chunks);
      assertFrames(result.frames, before);
      const error = result.error;
      assert.ok(
        error instanceof FrameTooLargeError,
        `expected FrameTooLargeError, got ${error}`,
      );
      assert.equal(error.limit, limit);
      // The size seen so far: past the limit, at most the whole line.
      const newline = wire.indexOf(LF, start);
      const lineLength = (newline === -1 ? wire.byteLength : newline) - start;
      assert.ok(
        error.size >= limit + 1 && error.size <= lineLength,
        `size ${error.size} is outside [${limit + 1}, ${lineLength}]`,
      );
      assert.equal(result.thrownAt, chunkOf(chunks, start + limit));
      // Before the throw, exactly the bytes of the long line are held.
      let at = 0;
      for (let i = 0; i < result.thrownAt; i++) {
        at += chunks[i]!.byteLength;
        if (at > start) assert.equal(result.buffered[i], at - start);
      }
    }),
    options(RUNS),
  );
});

test("lengthPrefixed() decoder holds only the bytes that arrived of a huge declared frame", () => {
  // Allocating any of these lengths up front fails (or exhausts memory), so
  // a decoder that sized a buffer from the header would throw a RangeError.
  const caseArb = fc.record({
    byteOrder: fc.constantFrom("big" as const, "little" as const),
    declared: fc.oneof(
      fc.bigInt({ min: 2n ** 40n, max: MAX_SAFE }),
      fc.constant(MAX_SAFE),
    ),
    payload: fc.integer({ min: 0, max: 6000 }).chain((n) => bytesArb(n)),
    plan: planArb,
  });
  fc.assert(
    fc.property(caseArb, ({ byteOrder, declared, payload, plan }) => {
      const config: LpConfig = {
        headerSize: 8,
        byteOrder,
        maxFrameSize: Number.MAX_SAFE_INTEGER,
      };
      const format = lpFormat(config);
      const wire = concat([
        writeLength(declared, 8, byteOrder === "little"),
        payload,
      ]);
      const chunks = cut(wire, plan);
      const result = run(format, chunks);
      assert.deepEqual(result.frames, []);
      let arrived = 0;
      for (let i = 0; i < chunks.length; i++) {
        arrived += chunks[i]!.byteLength;
        assert.equal(result.buffered[i], arrived);
      }
      const error = result.error;
      assert.ok(
        error instanceof FrameTruncatedError,
        `expected FrameTruncatedError, got ${error}`,
      );
      assert.equal(result.thrownAt, chunks.length, "not thrown by end()");
      assert.equal(error.received, wire.byteLength);
      assert.equal(error.expected, 8 + Number(declared));
    }),
    options(RUNS),
  );
});
