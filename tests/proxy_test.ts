// The PROXY protocol: the header parser and encoder against the examples of
// HAProxy's proxy-protocol.txt, and servers and clients on real sockets.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  connect,
  type Connection,
  createClient,
  listen,
  NetError,
  type Runtime,
  type TetherErrorCode,
} from "../mod.ts";
import {
  encodeProxyHeader,
  parseProxyHeader,
  ProxyHeaderParser,
  type ProxyInfo,
  ProxyProtocolError,
} from "../src/proxy/mod.ts";
import { crc32c as crc } from "../src/proxy/_wire.ts";
import { createMessageClient, listenMessages } from "../src/messaging/mod.ts";
import { encodeFrame } from "../src/framing/framing.ts";
import { lengthPrefixed } from "../src/framing/length_prefixed.ts";
import { HOST, runtime } from "./_utils.ts";
import { fromAsync } from "./_async.ts";
import { selfSigned } from "./_self_signed.ts";
import { FakeClock, settle } from "./_fake_clock.ts";
import { serve } from "../src/server/server.ts";

const encode = (text: string) => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
// The 12 bytes that start every version 2 header.
const SIGNATURE = [...encodeProxyHeader({ command: "LOCAL" }).subarray(0, 12)];

function parse(bytes: Uint8Array | string): ProxyInfo {
  const data = typeof bytes === "string" ? encode(bytes) : bytes;
  const result = parseProxyHeader(data);
  assert.ok(result, "the header is complete");
  assert.equal(result.length, data.byteLength);
  return result.info;
}

function refused(bytes: Uint8Array | string, code: TetherErrorCode): void {
  const data = typeof bytes === "string" ? encode(bytes) : bytes;
  assert.throws(() => parseProxyHeader(data), (error: unknown) => {
    assert.ok(error instanceof ProxyProtocolError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  });
}

function v2(command: number, family: number, body: number[]): Uint8Array {
  return new Uint8Array([
    ...SIGNATURE,
    0x20 | command,
    family,
    body.length >> 8,
    body.length & 0xff,
    ...body,
  ]);
}

test("version 1: the spec's lines, and the canonical address of TCP6", () => {
  const info = parse("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
  assert.deepEqual(info, {
    version: 1,
    command: "PROXY",
    transport: "TCP4",
    source: { hostname: "192.168.0.1", port: 56324 },
    destination: { hostname: "192.168.0.11", port: 443 },
    tlvs: [],
  });
  const six = parse(
    "PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::ffff:10.0.0.1 0 65535\r\n",
  );
  assert.deepEqual(six.source, { hostname: "2001:db8::1", port: 0 });
  assert.deepEqual(six.destination, {
    hostname: "::ffff:10.0.0.1",
    port: 65535,
  });
  assert.equal(parse("PROXY UNKNOWN\r\n").source, undefined);
  // UNKNOWN ignores the rest of the line, up to 107 bytes in all.
  const longest = `PROXY UNKNOWN ${"ffff:".repeat(7)}ffff ${
    "ffff:".repeat(7)
  }ffff 65535 65535\r\n`;
  assert.equal(longest.length, 107);
  assert.equal(parse(longest).transport, "UNKNOWN");
});

test("version 1: malformed lines are refused", () => {
  for (
    const line of [
      "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n", // LF alone
      "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\r\n",
      "PROXY TCP4 192.168.0.01 192.168.0.11 56324 443\r\n", // leading zero
      "PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n",
      "PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n",
      "PROXY TCP4 256.168.0.1 192.168.0.11 1 443\r\n",
      "PROXY TCP4 ::1 192.168.0.11 1 443\r\n", // family mismatch
      "PROXY TCP6 1::2::3 ::1 1 443\r\n",
      "PROXY TCP4 192.168.0.1 192.168.0.11 1\r\n", // a field short
      "PROXY TCP4  192.168.0.1 192.168.0.11 1 2\r\n",
      "PROXY UDP4 192.168.0.1 192.168.0.11 1 2\r\n",
      `PROXY UNKNOWN ${"x".repeat(100)}\r\n`, // past 107 bytes
    ]
  ) refused(line, "PROXY_INVALID");
  refused("GET / HTTP/1.1\r\n", "PROXY_MISSING");
  refused("PROXZ", "PROXY_MISSING");
  // Refused at the 107th byte without a CRLF, not later.
  const parser = new ProxyHeaderParser();
  assert.equal(
    parser.push(encode(`PROXY UNKNOWN ${"a".repeat(92)}`)),
    undefined,
  );
  assert.throws(() => parser.push(encode("a")), /no CRLF within 107/);
});

test("version 2: addresses of every family, LOCAL and UNSPEC", () => {
  const four = parse(
    v2(1, 0x11, [10, 0, 0, 1, 10, 0, 0, 2, 0x1f, 0x90, 0, 80]),
  );
  assert.deepEqual(four.source, { hostname: "10.0.0.1", port: 8080 });
  assert.deepEqual(four.destination, { hostname: "10.0.0.2", port: 80 });
  const six = parse(v2(1, 0x21, [
    ...[0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1],
    ...[...Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1],
    0,
    1,
    0,
    2,
  ]));
  assert.deepEqual(six.source, { hostname: "2001:db8::1", port: 1 });
  assert.deepEqual(six.destination, { hostname: "::ffff:127.0.0.1", port: 2 });
  const path = [...encode("/run/a.sock"), ...Array(108 - 11).fill(0)];
  const unix = parse(v2(1, 0x31, [...path, ...path]));
  assert.equal(unix.transport, "UNIX_STREAM");
  assert.deepEqual(unix.source, {
    transport: "unix",
    hostname: "",
    port: 0,
    path: "/run/a.sock",
  });
  // LOCAL keeps no address, whatever the family says.
  const local = parse(v2(0, 0x11, [10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2]));
  assert.equal(local.command, "LOCAL");
  assert.equal(local.source, undefined);
  assert.equal(parse(v2(1, 0x00, [])).transport, "UNKNOWN");
});

test("version 2: TLVs decoded, SSL sub-fields, CRC32C checked", () => {
  const tlv = (type: number, value: number[]) => [
    type,
    value.length >> 8,
    value.length & 0xff,
    ...value,
  ];
  const ssl = [
    0x07,
    0,
    0,
    0,
    0,
    ...tlv(0x21, [...encode("TLSv1.3")]),
    ...tlv(0x22, [...encode("client.example")]),
    ...tlv(0x23, [...encode("TLS_AES_128_GCM_SHA256")]),
    ...tlv(0x24, [...encode("SHA256")]),
    ...tlv(0x25, [...encode("RSA2048")]),
  ];
  const info = parse(v2(1, 0x11, [
    ...[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2],
    ...tlv(0x01, [...encode("h2")]),
    ...tlv(0x02, [...encode("example.com")]),
    ...tlv(0x04, [0, 0, 0]),
    ...tlv(0x05, [9, 9]),
    ...tlv(0x20, ssl),
    ...tlv(0x30, [...encode("blue")]),
    ...tlv(0xe0, [42]),
  ]));
  assert.equal(info.alpn, "h2");
  assert.equal(info.authority, "example.com");
  assert.deepEqual([...info.uniqueId!], [9, 9]);
  assert.equal(info.netns, "blue");
  assert.deepEqual(
    { ...info.ssl, tlvs: info.ssl!.tlvs.length },
    {
      client: 7,
      verify: 0,
      version: "TLSv1.3",
      cn: "client.example",
      cipher: "TLS_AES_128_GCM_SHA256",
      sigAlg: "SHA256",
      keyAlg: "RSA2048",
      tlvs: 5,
    },
  );
  assert.deepEqual(info.tlvs.map((t) => t.type), [
    1,
    2,
    4,
    5,
    0x20,
    0x30,
    0xe0,
  ]);
  // RFC 3720's check value of CRC-32C.
  assert.equal(crc(encode("123456789")), 0xe3069283);
  const signed = encodeProxyHeader({
    source: { hostname: "1.2.3.4", port: 1 },
    destination: { hostname: "5.6.7.8", port: 2 },
    crc32c: true,
  });
  assert.equal(parse(signed).tlvs[0]!.type, 0x03);
  const tampered = signed.slice();
  tampered[16] = tampered[16]! ^ 1;
  refused(tampered, "PROXY_INVALID");
});

test("version 2: malformed headers are refused", () => {
  refused(v2(2, 0x11, Array(12).fill(0)), "PROXY_INVALID"); // command
  refused(v2(1, 0x13, Array(12).fill(0)), "PROXY_INVALID"); // protocol
  refused(v2(1, 0x41, Array(12).fill(0)), "PROXY_INVALID"); // family
  refused(v2(1, 0x21, Array(12).fill(0)), "PROXY_INVALID"); // too short
  refused(v2(1, 0x11, [...Array(12).fill(0), 0x01, 0, 5, 1]), "PROXY_INVALID");
  refused(v2(1, 0x11, [...Array(12).fill(0), 0x01, 0]), "PROXY_INVALID");
  refused(
    v2(1, 0x11, [...Array(12).fill(0), 0x05, 0, 129, ...Array(129).fill(1)]),
    "PROXY_INVALID",
  );
  refused(
    v2(1, 0x11, [...Array(12).fill(0), 0x20, 0, 2, 1, 0]),
    "PROXY_INVALID",
  );
  const wrongVersion = v2(1, 0x11, Array(12).fill(0));
  wrongVersion[12] = 0x31;
  refused(wrongVersion, "PROXY_INVALID");
  // Over maxHeaderSize: refused from the fixed part, before the body.
  const parser = new ProxyHeaderParser({ maxHeaderSize: 100 });
  assert.throws(
    () => parser.push(v2(1, 0x11, Array(85).fill(0)).subarray(0, 16)),
    /101 bytes is larger than the limit of 100/,
  );
  // A version not accepted.
  assert.throws(
    () => parseProxyHeader(encode("PROXY UNKNOWN\r\n"), { versions: [2] }),
    /version 1 is not accepted/,
  );
  assert.throws(() => new ProxyHeaderParser({ versions: [3 as 1] }), TypeError);
  assert.throws(() => new ProxyHeaderParser({ maxHeaderSize: 15 }), RangeError);
});

test("the encoder round-trips through the parser, and a ProxyInfo is passed on", () => {
  const init = {
    source: { hostname: "2001:db8::7", port: 51234 },
    destination: { hostname: "192.0.2.1", port: 443 },
    alpn: "h2",
    authority: "example.com",
    uniqueId: new Uint8Array([1, 2, 3]),
    netns: "ns",
    tlvs: [{ type: 0xe1, value: new Uint8Array([7]) }],
    crc32c: true,
  };
  const info = parse(encodeProxyHeader(init));
  assert.equal(info.transport, "TCP6");
  assert.deepEqual(info.source, init.source);
  // Mixed families go as IPv6, the IPv4 one mapped.
  assert.deepEqual(info.destination, {
    hostname: "::ffff:192.0.2.1",
    port: 443,
  });
  assert.equal(info.alpn, "h2");
  assert.equal(info.netns, "ns");
  // Passed on: the same fields once each, the checksum recomputed.
  const again = parse(encodeProxyHeader({ ...info, crc32c: true }));
  assert.deepEqual(again.tlvs, info.tlvs);
  assert.equal(
    decode(encodeProxyHeader({ version: 1, command: "LOCAL" })),
    "PROXY UNKNOWN\r\n",
  );
  assert.equal(
    decode(encodeProxyHeader({
      version: 1,
      source: { hostname: "::1", port: 1 },
      destination: { hostname: "::2", port: 2 },
    })),
    "PROXY TCP6 ::1 ::2 1 2\r\n",
  );
  assert.deepEqual(
    [...encodeProxyHeader({ command: "LOCAL" }).subarray(12)],
    [0x20, 0x00, 0, 0],
  );
  assert.throws(() => encodeProxyHeader({ version: 1, alpn: "h2" }), TypeError);
  assert.throws(
    () =>
      encodeProxyHeader({
        source: { hostname: "example.com", port: 1 },
        destination: { hostname: "::1", port: 1 },
      }),
    TypeError,
  );
  assert.throws(
    () => encodeProxyHeader({ source: { hostname: "1.2.3.4", port: 1 } }),
    TypeError,
  );
});

// ---------------------------------------------------------------------------
// Servers and clients.

/** Answers each frame with where the server sees the client. */
async function whoAmI(conn: Connection): Promise<void> {
  for await (const frame of conn) {
    await conn.send(
      `${decode(frame)} ${conn.remoteAddr.hostname} ${conn.remoteAddr.port}`,
    );
  }
}

async function ask(conn: Connection, text: string): Promise<string> {
  await conn.send(text);
  for await (const frame of conn) return decode(frame);
  throw new Error("the connection ended without a reply");
}

const SOURCE = { hostname: "203.0.113.7", port: 51234 };
const DESTINATION = { hostname: "198.51.100.1", port: 7000 };

test("a proxied connection: the client's address, the header, bytes after it intact", async () => {
  const errors: unknown[] = [];
  const infos: (ProxyInfo | undefined)[] = [];
  await using server = await listen({
    hostname: HOST,
    port: 0,
    proxyProtocol: { trusted: ["127.0.0.0/8"] },
    onError: (error) => errors.push(error),
    handler: (conn) => {
      infos.push(conn.proxy);
      return whoAmI(conn);
    },
  });
  for (const version of [1, 2] as const) {
    await using conn = await connect({
      port: server.addr.port,
      proxyHeader: { version, source: SOURCE, destination: DESTINATION },
    });
    assert.equal(await ask(conn, "hi"), "hi 203.0.113.7 51234");
  }
  // Header and frames in one write, as HAProxy may send them: the frames
  // reach the framing whole, on every read path.
  const raw = await runtime.connect({ hostname: HOST, port: server.addr.port });
  const header = encodeProxyHeader({
    source: SOURCE,
    destination: DESTINATION,
  });
  const frames = [
    encodeFrame(lengthPrefixed(), encode("one")),
    encodeFrame(lengthPrefixed(), encode("two")),
  ];
  await raw.write(new Uint8Array([...header, ...frames[0]!, ...frames[1]!]));
  const replies = await readFrames(raw, 2);
  assert.deepEqual(replies, ["one 203.0.113.7 51234", "two 203.0.113.7 51234"]);
  raw.close();
  assert.deepEqual(infos.map((info) => info?.version), [1, 2, 2]);
  assert.deepEqual(errors, []);
});

/** Reads `count` length-prefixed frames from a raw connection. */
async function readFrames(
  conn: Awaited<ReturnType<Runtime["connect"]>>,
  count: number,
): Promise<string[]> {
  const decoder = lengthPrefixed().createDecoder();
  const frames: string[] = [];
  while (frames.length < count) {
    const chunk = conn.read ? await conn.read() : null;
    if (chunk === null) break;
    decoder.decode(chunk, { enqueue: (frame) => frames.push(decode(frame)) });
  }
  return frames;
}

test("refused headers close only their connection, each with its typed error", async () => {
  const errors: ProxyProtocolError[] = [];
  let handled = 0;
  await using server = await listen({
    hostname: HOST,
    port: 0,
    proxyProtocol: {
      trusted: ["127.0.0.1", "::1"],
      timeout: 200,
      maxHeaderSize: 1000,
    },
    onError: (error) => errors.push(error as ProxyProtocolError),
    handler: (conn) => {
      handled++;
      return whoAmI(conn);
    },
  });
  // A proxied connection that stays open through it all.
  await using good = await connect({
    port: server.addr.port,
    proxyHeader: { source: SOURCE, destination: DESTINATION },
  });
  assert.equal(await ask(good, "before"), "before 203.0.113.7 51234");
  const bad = async (bytes: Uint8Array | undefined) => {
    const raw = await runtime.connect({
      hostname: HOST,
      port: server.addr.port,
    });
    if (bytes) await raw.write(bytes).catch(() => {});
    // The server closes it: the read ends or is reset.
    await (raw.read?.() ?? Promise.resolve(null)).catch(() => null);
    raw.close();
  };
  await bad(encode("PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n")); // invalid
  await bad(encode("hello, no header")); // missing
  await bad(new Uint8Array(SIGNATURE)); // incomplete: times out
  // Over maxHeaderSize: 2000 bytes announced.
  await bad(new Uint8Array([...SIGNATURE, 0x21, 0x11, 0x07, 0xd0]));
  // The connection is closed before its error is reported.
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(
    errors.map((error) => error.code),
    ["PROXY_INVALID", "PROXY_MISSING", "PROXY_TIMEOUT", "PROXY_INVALID"],
  );
  assert.ok(errors.every((error) => error instanceof ProxyProtocolError));
  assert.equal(errors[0]!.remoteAddr?.hostname, HOST);
  assert.match(
    errors[0]!.message,
    /^Cannot accept the connection from 127\.0\.0\.1:\d+ as /,
  );
  // A health check: connect, then close, with no byte: no report at all.
  (await runtime.connect({ hostname: HOST, port: server.addr.port })).close();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(errors.length, 4, String(errors[4]));
  assert.equal(await ask(good, "after"), "after 203.0.113.7 51234");
  assert.equal(handled, 1);
  assert.equal(server.connections, 1);
});

test("untrusted peers are refused; without required, served as they are", async () => {
  const errors: ProxyProtocolError[] = [];
  await using strict = await listen({
    hostname: HOST,
    port: 0,
    proxyProtocol: { trusted: ["10.0.0.0/8", "::ffff:192.0.2.0/120"] },
    onError: (error) => errors.push(error as ProxyProtocolError),
    handler: whoAmI,
  });
  await using conn = await connect({
    port: strict.addr.port,
    proxyHeader: { source: SOURCE, destination: DESTINATION },
  });
  assert.deepEqual(await fromAsync(conn), []);
  assert.equal(errors[0]?.code, "PROXY_UNTRUSTED");

  await using lenient = await listen({
    hostname: HOST,
    port: 0,
    proxyProtocol: { trusted: ["::1"], required: false },
    onError: (error) => errors.push(error as ProxyProtocolError),
    handler: whoAmI,
  });
  // No header: served with its own address, its first bytes intact.
  await using plain = await connect({ port: lenient.addr.port });
  assert.match(await ask(plain, "plain"), /^plain 127\.0\.0\.1 \d+$/);
  // A header from a peer not trusted: refused, as a spoofing attempt.
  await using spoof = await connect({
    port: lenient.addr.port,
    proxyHeader: { version: 1, source: SOURCE, destination: DESTINATION },
  });
  assert.deepEqual(await fromAsync(spoof), []);
  assert.deepEqual(errors.map((error) => error.code), [
    "PROXY_UNTRUSTED",
    "PROXY_UNTRUSTED",
  ]);
  const invalid = [
    [{ trusted: ["10.0.0.0/33"] }, TypeError],
    [{ trusted: ["localhost"] }, TypeError],
    // IPv4-mapped, /8 would be every IPv4 address: refused.
    [{ trusted: ["::ffff:10.0.0.0/8"] }, TypeError],
    [{ trusted: [], timeout: -1 }, RangeError],
  ] as const;
  for (const [proxyProtocol, type] of invalid) {
    await assert.rejects(
      listen({ hostname: HOST, port: 0, proxyProtocol, handler: () => {} }),
      type,
    );
  }
});

test("LOCAL keeps the proxy's address; createClient and messaging pass headers too", async () => {
  await using server = await listen({
    hostname: HOST,
    port: 0,
    proxyProtocol: { trusted: ["127.0.0.1"] },
    handler: whoAmI,
  });
  await using local = await connect({
    port: server.addr.port,
    proxyHeader: { command: "LOCAL" },
  });
  assert.match(await ask(local, "local"), /^local 127\.0\.0\.1 \d+$/);

  await using client = createClient({
    port: server.addr.port,
    proxyHeader: { source: SOURCE, destination: DESTINATION },
  });
  client.send("client");
  for await (const frame of client) {
    assert.equal(decode(frame), "client 203.0.113.7 51234");
    break;
  }

  await using messages = await listenMessages({
    hostname: HOST,
    port: 0,
    proxyProtocol: { trusted: ["127.0.0.1"] },
    onRequest: (_, peer) => peer.remoteAddr.hostname,
  });
  await using messageClient = createMessageClient({
    port: messages.addr.port,
    proxyHeader: { version: 1, source: SOURCE, destination: DESTINATION },
  });
  assert.equal(decode(await messageClient.request("who")), "203.0.113.7");

  await assert.rejects(
    connect({
      port: server.addr.port,
      proxyHeader: encode("PROXY UNKNOWN\r\nextra"),
    }),
    /5 bytes follow the header/,
  );
  await assert.rejects(
    connect({
      port: server.addr.port,
      proxyHeader: { version: 1, netns: "x" },
    }),
    TypeError,
  );
});

const tls = selfSigned();

test("TLS after the header, on both ends", {
  skip: tls ? false : "openssl is not installed",
}, async () => {
  const { cert, key } = tls!;
  const errors: unknown[] = [];
  await using server = await listen({
    hostname: HOST,
    port: 0,
    tls: { cert, key },
    proxyProtocol: { trusted: ["127.0.0.1"] },
    onError: (error) => errors.push(error),
    handler: whoAmI,
  });
  for (const version of [1, 2] as const) {
    await using conn = await connect({
      port: server.addr.port,
      tls: { caCerts: [cert], serverName: "localhost" },
      proxyHeader: { version, source: SOURCE, destination: DESTINATION },
    });
    assert.equal(await ask(conn, "secret"), "secret 203.0.113.7 51234");
    assert.equal(conn.remoteAddr.port, server.addr.port);
  }
  // An untrusted certificate fails the client's handshake with ETLS.
  await assert.rejects(
    connect({
      port: server.addr.port,
      tls: { serverName: "localhost" },
      proxyHeader: { source: SOURCE, destination: DESTINATION },
    }),
    (error: unknown) => error instanceof NetError && error.code === "ETLS",
  );
  // A bad key fails listen() before it binds.
  await assert.rejects(
    listen({
      hostname: HOST,
      port: 0,
      tls: { cert, key: "nope" },
      proxyProtocol: { trusted: [] },
      handler: () => {},
    }),
    (error: unknown) => error instanceof NetError && error.code === "ETLS",
  );
  // A runtime that cannot start TLS on an open connection: ENOTSUP.
  const bare: Runtime = {
    name: "bare",
    connect: runtime.connect,
    listen: runtime.listen,
  };
  await assert.rejects(
    listen({
      hostname: HOST,
      port: 0,
      tls: { cert, key },
      proxyProtocol: { trusted: [] },
      runtime: bare,
      handler: () => {},
    }),
    (error: unknown) => error instanceof NetError && error.code === "ENOTSUP",
  );
  await assert.rejects(
    connect({
      port: server.addr.port,
      tls: true,
      runtime: bare,
      proxyHeader: { command: "LOCAL" },
    }),
    (error: unknown) => error instanceof NetError && error.code === "ENOTSUP",
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  // The failed handshake is the server's only report.
  assert.ok(
    errors.every((error) => error instanceof NetError && error.code === "ETLS"),
    String(errors),
  );
});

test("a peer that leaves or stalls during the TLS handshake frees its slot", {
  skip: tls ? false : "openssl is not installed",
}, async () => {
  const { cert, key } = tls!;
  const clock = new FakeClock();
  const errors: unknown[] = [];
  await using server = await serve({
    hostname: HOST,
    port: 0,
    tls: { cert, key },
    maxConnections: 1,
    proxyProtocol: { trusted: ["127.0.0.1"] },
    onError: (error) => errors.push(error),
    handler: whoAmI,
  }, clock);
  const header = encodeProxyHeader({
    source: SOURCE,
    destination: DESTINATION,
  });
  const serveOnce = async () => {
    await using conn = await connect({
      port: server.addr.port,
      tls: { caCerts: [cert], serverName: "localhost" },
      proxyHeader: { source: SOURCE, destination: DESTINATION },
    });
    assert.equal(await ask(conn, "next"), "next 203.0.113.7 51234");
  };
  // The one slot frees once the server has seen the peer go: until then a
  // new connection is turned away, so a bounded number of tries.
  const served = async () => {
    for (let attempt = 1;; attempt++) {
      try {
        return await serveOnce();
      } catch (error) {
        if (attempt === 100) throw error;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  };
  // A header, then the end of the stream before any TLS byte.
  for (let i = 0; i < 3; i++) {
    const peer = await runtime.connect({
      hostname: HOST,
      port: server.addr.port,
    });
    await peer.write(header);
    peer.close();
    await served();
  }
  // A header and the first byte of a handshake, then silence: the timeout
  // (on the server's clock) ends it.
  const stalled = await runtime.connect({
    hostname: HOST,
    port: server.addr.port,
  });
  await stalled.write(new Uint8Array([...header, 0x16]));
  await settle();
  while (server.connections === 0 && clock.pending === 0) await settle();
  clock.tick(3000);
  await served();
  stalled.close();
  assert.ok(
    errors.some((error) =>
      error instanceof ProxyProtocolError && error.code === "PROXY_TIMEOUT"
    ),
    String(errors),
  );
});

test("proxyProtocol is refused on a Unix socket, where no peer can be trusted", async () => {
  await assert.rejects(
    listen({
      path: "/tmp/tether-never-bound.sock",
      proxyProtocol: { trusted: ["127.0.0.1"] },
      handler: () => {},
    }),
    TypeError,
  );
});
