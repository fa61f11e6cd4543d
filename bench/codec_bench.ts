/**
 * Micro-benchmarks of the framing codecs, through the public API only.
 *
 *     node_modules/.bin/deno bench bench/codec_bench.ts
 *
 * Every iteration moves 1 MiB of payload (16 384 frames of 64 B, 1 024 of
 * 1 KiB, 16 of 64 KiB, 1 of 1 MiB), so the `iter/s` column reads directly as
 * MiB/s of payload, and the benches of one group compare like for like. Each
 * group's baseline is decoding the whole stream as one chunk; "random chunks"
 * decodes the same bytes cut into chunks of 1 B to 64 KiB (log-uniform, from a
 * seeded PRNG, so every run cuts them the same way), as TCP reads would.
 */
import {
  encodeFrame,
  FrameDecoderStream,
  FrameEncoderStream,
  type FrameSink,
  type Framing,
  lengthPrefixed,
  lineDelimited,
} from "../src/framing/mod.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
/** Payload bytes moved per iteration: iter/s = MiB/s. */
const VOLUME = MiB;

/** mulberry32: a small, fast, seeded PRNG with a uniform output in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cuts `bytes` into chunks of 1 B to 64 KiB, log-uniformly distributed. */
function cut(bytes: Uint8Array, seed: number): Uint8Array[] {
  const random = prng(seed);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    const size = Math.max(
      1,
      Math.round(Math.exp(random() * Math.log(64 * KiB))),
    );
    chunks.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}

/** Letters only, so the payload is valid in line framing too. */
function payloadOf(size: number): Uint8Array {
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = 97 + (i % 26);
  return payload;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Counts frames and bytes; checked after each iteration. */
class CountingSink implements FrameSink {
  frames = 0;
  bytes = 0;
  enqueue(frame: Uint8Array): void {
    this.frames++;
    this.bytes += frame.byteLength;
  }
}

function label(size: number): string {
  return size >= MiB
    ? `${size / MiB} MiB`
    : size >= KiB
    ? `${size / KiB} KiB`
    : `${size} B`;
}

function defineGroup(framingName: string, framing: Framing, size: number) {
  const count = Math.max(1, Math.floor(VOLUME / size));
  const payload = payloadOf(size);
  const frame = encodeFrame(framing, payload);
  const stream = concat(Array.from({ length: count }, () => frame));
  const oneChunk = [stream];
  const chunks = cut(stream, 0x7e7e7 + size);
  const group = `${framingName} ${label(size)} (${count} frame${
    count === 1 ? "" : "s"
  }/iter, iter/s = MiB/s)`;

  const decodeAll = (input: Uint8Array[]) => {
    const sink = new CountingSink();
    const decoder = framing.createDecoder();
    for (const chunk of input) decoder.decode(chunk, sink);
    decoder.end();
    if (sink.frames !== count || sink.bytes !== count * size) {
      throw new Error(`decoded ${sink.frames} frames, expected ${count}`);
    }
  };

  Deno.bench({
    name: "decode, one chunk",
    group,
    baseline: true,
    fn: () => decodeAll(oneChunk),
  });
  Deno.bench({
    name: `decode, ${chunks.length} random chunks`,
    group,
    fn: () => decodeAll(chunks),
  });
  Deno.bench({
    name: "encode, encodeFrame per frame",
    group,
    fn: () => {
      let bytes = 0;
      for (let i = 0; i < count; i++) {
        bytes += encodeFrame(framing, payload).byteLength;
      }
      if (bytes !== stream.byteLength) throw new Error("encoded size");
    },
  });
  // How a connection coalesces a burst: check + writeHeader + copy into one
  // reused buffer.
  const batch = new Uint8Array(stream.byteLength);
  const trailer = framing.trailer;
  Deno.bench({
    name: "encode, into one batch buffer",
    group,
    fn: () => {
      let offset = 0;
      for (let i = 0; i < count; i++) {
        const header = framing.check(payload);
        if (header > 0) framing.writeHeader(size, batch, offset);
        batch.set(payload, offset + header);
        offset += header + size;
        if (trailer.byteLength > 0) {
          batch.set(trailer, offset);
          offset += trailer.byteLength;
        }
      }
      if (offset !== stream.byteLength) throw new Error("encoded size");
    },
  });
}

for (const size of [64, KiB, 64 * KiB, MiB]) {
  defineGroup("length-prefixed", lengthPrefixed(), size);
}
for (const size of [64, KiB]) {
  defineGroup("line", lineDelimited(), size);
}

// The TransformStream wrappers, to show what the web-streams layer costs on
// top of the codec (1 KiB frames, 1 MiB per iteration).
{
  const framing = lengthPrefixed();
  const size = KiB;
  const count = VOLUME / size;
  const payload = payloadOf(size);
  const payloads = Array.from({ length: count }, () => payload);
  const stream = concat(
    Array.from({ length: count }, () => encodeFrame(framing, payload)),
  );
  const chunks = cut(stream, 0x5eed);
  const group = "streams, length-prefixed 1 KiB (1 MiB/iter, iter/s = MiB/s)";

  Deno.bench({
    name: "FrameDecoderStream, random chunks",
    group,
    baseline: true,
    fn: async () => {
      let frames = 0;
      const readable = ReadableStream.from(chunks).pipeThrough(
        new FrameDecoderStream(framing),
      );
      for await (const _ of readable) frames++;
      if (frames !== count) throw new Error(`decoded ${frames} frames`);
    },
  });
  Deno.bench({
    name: "FrameEncoderStream",
    group,
    fn: async () => {
      let bytes = 0;
      const readable = ReadableStream.from(payloads).pipeThrough(
        new FrameEncoderStream(framing),
      );
      for await (const chunk of readable) bytes += chunk.byteLength;
      if (bytes !== stream.byteLength) throw new Error("encoded size");
    },
  });
}
