/**
 * Holds many idle connections open against a server, each sending a
 * heartbeat ping frame ("PING", 4-byte big-endian length) every interval and
 * reading whatever comes back: the load of the memory benchmark.
 *
 *     deno run -A bench/idle_clients.ts --port P [--conns 10000] [--interval 1000]
 *     bun run bench/idle_clients.ts --port P ...
 *
 * Prints `ready N` once every connection is open, then runs until killed.
 */
import { parseArgs } from "node:util";
import { intFlag } from "./_cli.ts";
import process from "node:process";
import { type Conn, detectRuntime } from "../src/runtime/mod.ts";
import { encodeFrame, lengthPrefixed } from "../src/framing/mod.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    conns: { type: "string", default: "10000" },
    interval: { type: "string", default: "1000" },
  },
});
const USAGE = "usage: idle_clients.ts --port P [--conns N] [--interval MS]";
const port = intFlag(USAGE, "port", values.port ?? "", 1);
const count = intFlag(USAGE, "conns", values.conns, 1);
const interval = intFlag(USAGE, "interval", values.interval, 1);

const runtime = await detectRuntime();
const ping = encodeFrame(lengthPrefixed(), new TextEncoder().encode("PING"));
const conns: Conn[] = [];

async function open(): Promise<void> {
  const conn = await runtime.connect({ hostname: values.host!, port });
  conns.push(conn);
  // Replies are read and dropped, so the server never sees backpressure.
  (async () => {
    try {
      for await (const _ of conn.readable) { /* dropped */ }
    } catch {
      // The benchmark is over.
    }
  })();
}

// A few connects at a time: a burst of thousands overflows the accept queue.
const PARALLEL = 64;
let next = 0;
await Promise.all(
  Array.from({ length: PARALLEL }, async () => {
    while (next < count) {
      next++;
      await open();
    }
  }),
);
console.log(`ready ${conns.length}`);

// Spread the pings over the interval, as independent clients would.
let turn = 0;
const slices = 10;
setInterval(() => {
  for (let i = turn; i < conns.length; i += slices) {
    conns[i]!.write(ping).catch(() => {});
  }
  turn = (turn + 1) % slices;
}, interval / slices);
