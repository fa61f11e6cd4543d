/**
 * Hostile peers for `hostile_memory.ts`, on Deno: `--conns` connections to a
 * length-prefixed server on 127.0.0.1 that each send frames of `--size`
 * bytes as fast as the server takes them, for `--duration` ms.
 *
 *     deno run -A bench/hostile_peers.ts --port 7000 --conns 50 --size 0 [--deaf]
 *
 * A flooder reads and drops what it is sent; with `--deaf`, nothing is ever
 * read, as by a peer that sends and does not read. The last line on stdout
 * is one JSON object: bytes sent, and how many connections the server cut.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { intFlag } from "./_cli.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    port: { type: "string" },
    conns: { type: "string", default: "50" },
    size: { type: "string", default: "0" },
    duration: { type: "string", default: "5000" },
    deaf: { type: "boolean", default: false },
  },
});
const USAGE =
  "usage: hostile_peers.ts --port N [--conns 50] [--size 0] [--duration 5000] [--deaf]";
const port = intFlag(USAGE, "port", values.port ?? "", 1);
const conns = intFlag(USAGE, "conns", values.conns, 1);
const size = intFlag(USAGE, "size", values.size, 0);
const duration = intFlag(USAGE, "duration", values.duration, 1);

// As many whole frames as fit in 64 KiB, or one frame when it is larger.
const frame = 4 + size;
const count = Math.max(1, Math.floor(65536 / frame));
const chunk = new Uint8Array(count * frame);
const view = new DataView(chunk.buffer);
for (let at = 0; at < chunk.byteLength; at += frame) view.setUint32(at, size);

const deadline = Date.now() + duration;
let sent = 0;
let cut = 0;

async function drop(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(65536);
  try {
    while ((await conn.read(buffer)) !== null) { /* dropped */ }
  } catch { /* cut by the server */ }
}

async function peer(): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (!values.deaf) void drop(conn);
  // A write stuck on a full socket buffer stops at the deadline too.
  const stop = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed already */ }
  }, Math.max(0, deadline - Date.now()));
  try {
    while (Date.now() < deadline) {
      let at = 0;
      while (at < chunk.byteLength) at += await conn.write(chunk.subarray(at));
      sent += chunk.byteLength;
    }
  } catch {
    if (Date.now() < deadline) cut++;
  } finally {
    clearTimeout(stop);
    try {
      conn.close();
    } catch { /* closed already */ }
  }
}

console.log("ready");
await Promise.all(Array.from({ length: conns }, peer));
console.log(JSON.stringify({ conns, size, deaf: values.deaf, sent, cut }));
