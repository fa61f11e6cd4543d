/**
 * tether's own client as a load generator: one `createClient()` connection
 * keeps `--pipeline` frames of `--size` bytes in flight against an echo
 * server and checks every echo. Runs on Deno and on Bun:
 *
 *     node_modules/.bin/deno run -A bench/client_load.ts --addr 127.0.0.1:PORT
 *     node_modules/.bin/bun run bench/client_load.ts --addr 127.0.0.1:PORT
 *       [--size 64] [--pipeline 64] [--duration 3000] [--per-frame]
 *
 * It reads the echoes a batch at a time (`client.batches()`); `--per-frame`
 * iterates the client frame by frame instead. `--mode lp` and `--conns 1`
 * are accepted, and nothing else for them, so that the benchmark runner can
 * start it with a loadgen's flags.
 *
 * Prints one JSON line with the fields of the loadgens that matter here:
 * msgs, seconds, msgs_per_s, mismatch. Exits 1 on a mismatch.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { fail, intFlag } from "./_cli.ts";
import { createClient } from "../mod.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    addr: { type: "string" },
    size: { type: "string", default: "64" },
    pipeline: { type: "string", default: "64" },
    duration: { type: "string", default: "3000" },
    "per-frame": { type: "boolean", default: false },
    mode: { type: "string", default: "lp" },
    conns: { type: "string", default: "1" },
  },
});
const USAGE =
  "usage: client_load.ts --addr HOST:PORT [--size 64] [--pipeline 64] [--duration 3000] [--per-frame] [--mode lp] [--conns 1]";
const match = /^(.+):(\d+)$/.exec(values.addr ?? "");
if (!match) fail(USAGE, "--addr must be HOST:PORT");
const size = intFlag(USAGE, "size", values.size, 8);
const pipeline = intFlag(USAGE, "pipeline", values.pipeline, 1);
const duration = intFlag(USAGE, "duration", values.duration, 1);
if (values.mode !== "lp") {
  fail(USAGE, "--mode must be lp: frames are length-prefixed");
}
if (values.conns !== "1") {
  fail(USAGE, "--conns must be 1: one client, one connection");
}

const client = createClient({ hostname: match[1]!, port: Number(match[2]) });
await client.waitFor("open");

// Each frame carries its sequence number (big-endian uint32 in its first 4
// bytes), so a lost, duplicated or reordered echo shows up as a mismatch.
// Frame n reuses the buffer of frame n - pipeline, whose echo (and so its
// write) is done: a client sends from buffers it owns, as the Go loadgen
// does. Bytes are read and written one by one: a DataView per frame would
// cost the load generator more than tether spends on the frame.
const slots = Array.from({ length: pipeline }, () => new Uint8Array(size));
function frame(seq: number): Uint8Array {
  const bytes = slots[seq % pipeline]!;
  bytes[0] = seq >>> 24;
  bytes[1] = seq >>> 16;
  bytes[2] = seq >>> 8;
  bytes[3] = seq;
  return bytes;
}

const start = performance.now();
let sent = 0;
let received = 0;
let mismatch = 0;
let now = start;
/** Checks one echo and sends the next frame; false once all are back. */
function answer(echo: Uint8Array): boolean {
  const seq = echo[0]! * 0x100_0000 +
    (echo[1]! << 16 | echo[2]! << 8 | echo[3]!);
  if (seq !== received || echo.byteLength !== size) mismatch++;
  received++;
  if (now - start < duration) client.send(frame(sent++));
  return received < sent;
}
for (; sent < pipeline; sent++) client.send(frame(sent));
if (values["per-frame"]) {
  for await (const echo of client) {
    now = performance.now();
    if (!answer(echo)) break;
  }
} else {
  reading: for await (const echoes of client.batches()) {
    now = performance.now();
    for (const echo of echoes) if (!answer(echo)) break reading;
  }
}
const seconds = (performance.now() - start) / 1000;
await client.close();
console.log(JSON.stringify({
  size,
  pipeline,
  seconds,
  msgs: received,
  msgs_per_s: received / seconds,
  mismatch,
}));
process.exit(mismatch > 0 ? 1 : 0);
