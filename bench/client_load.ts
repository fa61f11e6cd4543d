/**
 * tether's own client as a load generator: one `createClient()` connection
 * keeps `--pipeline` frames of `--size` bytes in flight against an echo
 * server and checks every echo. Runs on Deno and on Bun:
 *
 *     node_modules/.bin/deno run -A bench/client_load.ts --addr 127.0.0.1:PORT
 *     node_modules/.bin/bun run bench/client_load.ts --addr 127.0.0.1:PORT
 *       [--size 64] [--pipeline 64] [--duration 3000]
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
  },
});
const USAGE =
  "usage: client_load.ts --addr HOST:PORT [--size 64] [--pipeline 64] [--duration 3000]";
const match = /^(.+):(\d+)$/.exec(values.addr ?? "");
if (!match) fail(USAGE, "--addr must be HOST:PORT");
const size = intFlag(USAGE, "size", values.size, 8);
const pipeline = intFlag(USAGE, "pipeline", values.pipeline, 1);
const duration = intFlag(USAGE, "duration", values.duration, 1);

const client = createClient({ hostname: match[1]!, port: Number(match[2]) });
await client.waitFor("open");

// Each frame carries its sequence number, so a lost, duplicated or reordered
// echo shows up as a mismatch. Frame n reuses the buffer of frame n -
// pipeline, whose echo (and so its write) is done: a client sends from
// buffers it owns, as the Go loadgen does.
const slots = Array.from({ length: pipeline }, () => new Uint8Array(size));
function frame(seq: number): Uint8Array {
  const bytes = slots[seq % pipeline]!;
  new DataView(bytes.buffer).setFloat64(0, seq);
  return bytes;
}

const start = performance.now();
let sent = 0;
let received = 0;
let mismatch = 0;
for (; sent < pipeline; sent++) client.send(frame(sent));
for await (const echo of client) {
  const seq = new DataView(echo.buffer, echo.byteOffset, 8).getFloat64(0);
  if (seq !== received || echo.byteLength !== size) mismatch++;
  received++;
  if (performance.now() - start < duration) client.send(frame(sent++));
  if (received === sent) break;
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
