import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeFrame } from "../src/framing/framing.ts";
import { lengthPrefixed } from "../src/framing/length_prefixed.ts";
import { lineDelimited } from "../src/framing/line_delimited.ts";
import { concat } from "./framing/_chunking.ts";
import {
  EXAMPLE_RUNTIMES,
  exampleCommand,
  HOST,
  pattern,
  readExactly,
  runtime,
  runToEnd,
  seeded,
  startExample,
} from "./_utils.ts";

const text = new TextDecoder();
const bytes = (s: string) => new TextEncoder().encode(s);

/**
 * Writes `wire` to a fresh connection in chunks cut by `cut`, reads the echo
 * concurrently, and checks it byte for byte.
 */
async function echoCheck(
  port: number,
  wire: Uint8Array,
  cut: (offset: number) => number,
): Promise<void> {
  const conn = await runtime.connect({ hostname: HOST, port });
  const reader = conn.readable.getReader();
  const echoed = readExactly(reader, wire.byteLength);
  for (let offset = 0; offset < wire.byteLength;) {
    const size = Math.min(cut(offset), wire.byteLength - offset);
    await conn.write(wire.slice(offset, offset + size));
    offset += size;
  }
  const back = await echoed;
  conn.close();
  assert.equal(back.byteLength, wire.byteLength);
  assert.ok(
    back.every((byte, i) => byte === wire[i]),
    "the echo matches byte for byte",
  );
}

for (const name of EXAMPLE_RUNTIMES) {
  test(`examples/echo_server.ts on ${name} echoes length-prefixed frames of 0 B to 4 MiB under any chunking`, async () => {
    await using server = await startExample(name, "echo_server.ts", [
      "--port",
      "0",
    ]);
    assert.match(server.firstLine, /^listening on 127\.0\.0\.1:\d+$/);
    const framing = lengthPrefixed();
    const small = concat(
      [0, 1, 2, 3, 4, 5, 100, 255, 256, 0].map((n, i) =>
        encodeFrame(framing, pattern(n, i))
      ),
    );
    // Byte by byte: every header and payload is split at every position.
    await echoCheck(server.port, small, () => 1);
    const sizes = [0, 1, 65535, 65536, 65537, 1024 * 1024, 4 * 1024 * 1024];
    const large = concat(
      sizes.map((n, i) => encodeFrame(framing, pattern(n, i))),
    );
    const random = seeded(7);
    await echoCheck(
      server.port,
      large,
      () => 1 + Math.floor(random() * 96 * 1024),
    );
  });

  test(`examples/echo_server.ts --per-frame on ${name} echoes lines up to 60 000 bytes under any chunking`, async () => {
    await using server = await startExample(name, "echo_server.ts", [
      "--port",
      "0",
      "--framing",
      "line",
      "--per-frame",
    ]);
    const framing = lineDelimited();
    const lines = ["", "hi", "x".repeat(1000), "y".repeat(60_000), "z"];
    const wire = concat(lines.map((line) => encodeFrame(framing, bytes(line))));
    const random = seeded(11);
    await echoCheck(server.port, wire, () => 1 + Math.floor(random() * 3000));
    await echoCheck(server.port, encodeFrame(framing, bytes("a b c")), () => 1);
  });

  test(`examples/server.ts on ${name} answers "received: <message>" and closes on "exit"`, async () => {
    await using server = await startExample(name, "server.ts", [
      "--port",
      "0",
      "--framing",
      "line",
    ]);
    assert.match(server.firstLine, /^listening on 127\.0\.0\.1:\d+$/);
    const conn = await runtime.connect({ hostname: HOST, port: server.port });
    const reader = conn.readable.getReader();
    await conn.write(bytes("hello\nexit\nignored\n"));
    const reply = bytes("received: hello\n");
    assert.equal(
      text.decode(await readExactly(reader, reply.byteLength)),
      "received: hello\n",
    );
    assert.deepEqual(await reader.read(), { done: true, value: undefined });
    conn.close();
  });

  test(`examples/client.ts on ${name} sends piped lines and prints the replies`, async () => {
    await using server = await startExample("deno", "server.ts", [
      "--port",
      "0",
    ]);
    const [command, args] = exampleCommand(name, "client.ts", [
      "--port",
      String(server.port),
    ]);
    const { code, stdout, stderr } = await runToEnd(
      command,
      args,
      "hi\nsecond line\n",
    );
    assert.equal(code, 0, stderr);
    assert.equal(stdout, "received: hi\nreceived: second line\n");
  });
}

for (const name of EXAMPLE_RUNTIMES) {
  test(`examples/rpc.ts on ${name} shows requests, errors, timeouts, push and a handover`, async () => {
    const [command, args] = exampleCommand(name, "rpc.ts", ["--port", "0"]);
    const { code, stdout, stderr } = await runToEnd(command, args, "");
    assert.equal(code, 0, stderr);
    const lines = stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^listening on 127\.0\.0\.1:\d+$/);
    assert.deepEqual(lines.slice(1), [
      "100 concurrent requests: the replies add up to 5050",
      'remote error BAD_INPUT: add needs two numbers: got "x"',
      "timed out after 100 ms",
      "sent first, second, third; replies came: third, second, first",
      "pushed: tick 1, tick 2, tick 3",
      "handover: 200 of 200 requests answered",
    ]);
  });
}
