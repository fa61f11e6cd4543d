// Property-based tests of the PROXY protocol parser, driven by fast-check
// with a fixed seed: random bytes, valid headers under every chunking,
// truncated, oversize and mutated headers, garbage after the signatures. The
// parser must only ever throw ProxyProtocolError, hold no more than the
// header's bound, and hand back the bytes after the header untouched.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  encodeProxyHeader,
  MAX_V1_HEADER_SIZE,
  MAX_V2_HEADER_SIZE,
  type ProxyHeaderInit,
  ProxyHeaderParser,
  type ProxyInfo,
  ProxyProtocolError,
} from "../src/proxy/mod.ts";

const SEED = 0x7e7e_2025;
const RUNS = 500;

function options(numRuns: number): fc.Parameters<unknown> {
  return {
    seed: SEED,
    numRuns,
    plugins: [fc.interruptAfterTimeLimit(20_000)],
  };
}

// The 12 bytes that start every version 2 header.
const SIGNATURE_V2 = [
  ...encodeProxyHeader({ command: "LOCAL" }).subarray(0, 12),
];

/** The most a parser may hold, given its limit and what it has seen. */
function bound(parser: ProxyHeaderParser, maxHeaderSize: number): number {
  return parser.version === 1 ? MAX_V1_HEADER_SIZE : maxHeaderSize;
}

type Outcome =
  | { kind: "header"; info: ProxyInfo; rest: Uint8Array }
  | { kind: "more" }
  | { kind: "error"; code: string };

/**
 * Feeds `chunks` one by one, checking after each that the parser holds no
 * more than its bound; the rest of the stream after a header is collected.
 */
function feed(
  chunks: Uint8Array[],
  maxHeaderSize = MAX_V2_HEADER_SIZE,
): Outcome {
  const parser = new ProxyHeaderParser({ maxHeaderSize });
  for (let i = 0; i < chunks.length; i++) {
    let result;
    try {
      result = parser.push(chunks[i]!);
    } catch (error) {
      if (!(error instanceof ProxyProtocolError)) throw error;
      assert.ok(parser.buffered <= bound(parser, maxHeaderSize));
      return { kind: "error", code: error.code };
    }
    assert.ok(
      parser.buffered <= bound(parser, maxHeaderSize),
      `holds ${parser.buffered} bytes`,
    );
    if (result) {
      const rest = [...result.rest];
      for (const chunk of chunks.slice(i + 1)) rest.push(...chunk);
      return { kind: "header", info: result.info, rest: new Uint8Array(rest) };
    }
  }
  return { kind: "more" };
}

/** Cuts `bytes` at the sorted positions `cuts`. */
function cut(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))]
    .sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of points) {
    chunks.push(bytes.subarray(start, point));
    start = point;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6();
const port = fc.integer({ min: 0, max: 65535 });
const addressPair = fc.oneof(
  fc.tuple(ipv4, ipv4),
  fc.tuple(ipv6, ipv6),
  fc.tuple(ipv4, ipv6),
);

const initArb: fc.Arbitrary<ProxyHeaderInit> = fc.oneof(
  // Version 1: addresses, or UNKNOWN.
  fc.record({
    version: fc.constant(1 as const),
    pair: fc.option(fc.tuple(addressPair, port, port), { nil: undefined }),
  }).map(({ version, pair }) =>
    pair
      ? {
        version,
        source: { hostname: pair[0][0], port: pair[1] },
        destination: { hostname: pair[0][1], port: pair[2] },
      }
      : { version }
  ),
  // Version 2: addresses or LOCAL, and fields.
  fc.record({
    local: fc.boolean(),
    pair: fc.tuple(addressPair, port, port),
    alpn: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
    authority: fc.option(fc.domain(), { nil: undefined }),
    uniqueId: fc.option(fc.uint8Array({ maxLength: 128 }), { nil: undefined }),
    tlvs: fc.array(
      fc.record({
        type: fc.integer({ min: 0xe0, max: 0xef }),
        value: fc.uint8Array({ maxLength: 300 }),
      }),
      { maxLength: 4 },
    ),
    crc32c: fc.boolean(),
  }).map(({ local, pair, ...fields }) => {
    const init: ProxyHeaderInit = {
      source: { hostname: pair[0][0], port: pair[1] },
      destination: { hostname: pair[0][1], port: pair[2] },
      tlvs: fields.tlvs,
      crc32c: fields.crc32c,
    };
    if (local) init.command = "LOCAL";
    if (fields.alpn !== undefined) init.alpn = fields.alpn;
    if (fields.authority !== undefined) init.authority = fields.authority;
    if (fields.uniqueId !== undefined) init.uniqueId = fields.uniqueId;
    return init;
  }),
);

const cutsArb = fc.array(fc.nat(), { maxLength: 40 });

test("random bytes: only ProxyProtocolError, bounded memory", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }),
      fc.integer({ min: 16, max: 4096 }),
      (chunks, max) => {
        feed(chunks, max);
      },
    ),
    options(RUNS),
  );
});

test("valid headers, cut anywhere, followed by data: the same header and data", () => {
  fc.assert(
    fc.property(
      initArb,
      fc.uint8Array({ maxLength: 100 }),
      cutsArb,
      (init, data, cuts) => {
        const header = encodeProxyHeader(init);
        const whole = feed([header]);
        assert.equal(whole.kind, "header");
        const stream = new Uint8Array([...header, ...data]);
        const outcome = feed(cut(stream, cuts));
        assert.equal(outcome.kind, "header");
        if (outcome.kind !== "header" || whole.kind !== "header") return;
        assert.deepEqual(outcome.info, whole.info);
        assert.deepEqual([...outcome.rest], [...data]);
        if (init.source && init.command !== "LOCAL") {
          assert.equal(outcome.info.source?.port, init.source.port);
        }
      },
    ),
    options(RUNS),
  );
});

test("every split of valid headers into up to three chunks, and into single bytes", () => {
  const headers = [
    encodeProxyHeader({
      version: 1,
      source: { hostname: "255.255.255.255", port: 65535 },
      destination: { hostname: "1.2.3.4", port: 0 },
    }),
    encodeProxyHeader({
      version: 1,
      source: { hostname: "2001:db8::1", port: 1 },
      destination: { hostname: "::ffff:10.0.0.1", port: 2 },
    }),
    encodeProxyHeader({ command: "LOCAL" }),
    encodeProxyHeader({
      source: { hostname: "2001:db8::1", port: 1 },
      destination: { hostname: "2001:db8::2", port: 2 },
      alpn: "h2",
      authority: "example.com",
      tlvs: [{ type: 0x20, value: new Uint8Array([1, 0, 0, 0, 0]) }],
      crc32c: true,
    }),
  ];
  let splits = 0;
  for (const header of headers) {
    const stream = new Uint8Array([...header, 0, 0, 0, 1, 0x2a]);
    const expected = feed([stream]);
    assert.equal(expected.kind, "header");
    for (let a = 0; a <= stream.byteLength; a++) {
      for (let b = a; b <= stream.byteLength; b++) {
        assert.deepEqual(feed(cut(stream, [a, b])), expected);
        splits++;
      }
    }
    const bytes = [...stream].map((byte) => new Uint8Array([byte]));
    assert.deepEqual(feed(bytes), expected);
  }
  console.error(`proxy_fuzz_test: ${splits} splits checked`);
});

test("truncated headers never complete, and end() refuses them", () => {
  fc.assert(
    fc.property(initArb, fc.nat(), cutsArb, (init, at, cuts) => {
      const header = encodeProxyHeader(init);
      const prefix = header.subarray(0, at % header.byteLength);
      const parser = new ProxyHeaderParser();
      for (const chunk of cut(prefix, cuts)) {
        assert.equal(parser.push(chunk), undefined);
      }
      if (prefix.byteLength === 0) parser.end();
      else assert.throws(() => parser.end(), ProxyProtocolError);
    }),
    options(RUNS),
  );
});

test("oversize version 2 headers are refused from their first 16 bytes", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 16, max: 4096 }),
      fc.integer({ min: 0, max: 65535 }),
      (max, length) => {
        const fixed = new Uint8Array([
          ...SIGNATURE_V2,
          0x21,
          0x11,
          length >> 8,
          length & 0xff,
        ]);
        const outcome = feed([fixed, new Uint8Array(length)], max);
        if (16 + length > max) {
          assert.deepEqual(outcome, { kind: "error", code: "PROXY_INVALID" });
        }
      },
    ),
    options(RUNS),
  );
  // Version 1: refused at 107 bytes without a CRLF, whatever follows.
  const line = new TextEncoder().encode(`PROXY ${"9".repeat(200)}`);
  assert.deepEqual(feed([line]), { kind: "error", code: "PROXY_INVALID" });
  assert.equal(MAX_V2_HEADER_SIZE, 65551);
});

test("garbage after a signature, and mutated headers: a header or a typed error", () => {
  const signatures = [
    SIGNATURE_V2,
    [...SIGNATURE_V2, 0x21],
    [...new TextEncoder().encode("PROXY ")],
    [...new TextEncoder().encode("PROXY TCP4 ")],
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...signatures),
      fc.uint8Array({ maxLength: 300 }),
      cutsArb,
      (signature, garbage, cuts) => {
        feed(cut(new Uint8Array([...signature, ...garbage]), cuts));
      },
    ),
    options(RUNS),
  );
  fc.assert(
    fc.property(
      initArb,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      cutsArb,
      (init, mutations, cuts) => {
        const header = encodeProxyHeader(init).slice();
        for (const [at, byte] of mutations) {
          header[at % header.byteLength] = byte;
        }
        const outcome = feed(cut(header, cuts));
        assert.notEqual(outcome.kind, undefined);
      },
    ),
    options(RUNS),
  );
});
