/**
 * `--workers`: examples/echo_server.ts as one process and as two workers
 * sharing the port (`reusePort`), on each runtime where that works, over
 * loopback, in bounded time (about a minute):
 *
 *     node_modules/.bin/deno run -A bench/workers.ts [--reps 3] [--duration 2000]
 *                      [--conns 64] [--only deno,bun,node] [--node PATH]
 *
 * For each runtime it reports (a) how `--conns` connections, opened at once
 * and each echoed one frame before any closes, spread over the two workers
 * (each worker's `--verbose` count of accepted connections, printed when it
 * stops), and (b) the small-fan load of bench/run.ts (bench/loadgen.ts on
 * Bun: 50 connections × 16 frames of 64 bytes in flight) against 1 and 2
 * workers, in alternating order over `--reps` repetitions: the median
 * frames/s of each, and the median of the per-repetition ratios 2 : 1. Node
 * runs the sources through tsx for both, so its ratio holds, not its rate;
 * `--node` picks its binary (default `node` from PATH), such as
 * node_modules/node24/bin/node. A runtime whose `--workers 2` does not start
 * (Node before 22.12) is reported with the line it printed, and skipped.
 */
import { parseArgs } from "node:util";
import { fail, intFlag } from "./_cli.ts";
import { findBun, pickLoadgen } from "./_builds.ts";
import { runLoadgen, type RunningServer, startServer } from "./_load.ts";
import { RUNS } from "./_model.ts";
import { machineTicks, stolenPercent } from "./_procfs.ts";
import { cleanup, installCleanup, log, stop, within } from "./_processes.ts";

const USAGE = "usage: deno run -A bench/workers.ts [--reps 3] " +
  "[--duration 2000] [--conns 64] [--only deno,bun,node] [--node PATH]";
const RUNTIMES = ["deno", "bun", "node"] as const;
type RuntimeName = typeof RUNTIMES[number];

let values;
try {
  ({ values } = parseArgs({
    options: {
      reps: { type: "string", default: "3" },
      duration: { type: "string", default: "2000" },
      conns: { type: "string", default: "64" },
      only: { type: "string", default: RUNTIMES.join(",") },
      node: { type: "string", default: "node" },
    },
  }));
} catch (error) {
  fail(USAGE, error instanceof Error ? error.message : String(error));
}
const reps = intFlag(USAGE, "reps", values.reps, 1);
const duration = intFlag(USAGE, "duration", values.duration, 100);
const spreadConns = intFlag(USAGE, "conns", values.conns, 1);
const only = values.only.split(",");
const node = values.node;
for (const name of only) {
  if (!(RUNTIMES as readonly string[]).includes(name)) {
    fail(USAGE, `--only takes deno, bun and node: got ${name}`);
  }
}
const smallFan = RUNS.find((run) => run.name === "small-fan")!;
const bun = findBun();
const loadgen = pickLoadgen("bun", undefined, bun);
installCleanup();

/** The echo server on `runtime` with `workers` processes. */
function spec(runtime: RuntimeName, workers: number, verbose: boolean) {
  const args = [
    "examples/echo_server.ts",
    "--port",
    "0",
    "--workers",
    String(workers),
    ...(verbose ? ["--verbose"] : []),
  ];
  const name = `${runtime}-${workers}w`;
  switch (runtime) {
    case "deno":
      return {
        name,
        command: Deno.execPath(),
        // The parent starts its workers, each with --unstable-net.
        args: ["run", "--allow-net", "--allow-read", "--allow-run", ...args],
      };
    case "bun":
      return { name, command: bun!, args: ["run", ...args] };
    case "node":
      return {
        name,
        command: node,
        args: ["--import", "tsx", ...args],
      };
  }
}

/** Stops a server with SIGTERM alone, so that its workers report. */
async function stopGracefully(server: RunningServer): Promise<void> {
  try {
    Deno.kill(server.child.pid, "SIGTERM");
  } catch {
    // Gone already.
  }
  if (!await within(server.child.status, 15_000)) await stop(server.child);
}

/**
 * Opens `count` connections at once, echoes one frame on each, closes them
 * all, stops the server and returns each worker's count of accepted
 * connections, largest first.
 */
async function spread(server: RunningServer, count: number) {
  const colon = server.addr.lastIndexOf(":");
  const hostname = server.addr.slice(0, colon);
  const port = Number(server.addr.slice(colon + 1));
  const frame = new Uint8Array([0, 0, 0, 2, 104, 105]);
  const conns = await Promise.all(
    Array.from({ length: count }, async () => {
      const conn = await Deno.connect({ hostname, port });
      await conn.write(frame);
      const back = new Uint8Array(frame.byteLength);
      for (let got = 0; got < back.byteLength;) {
        const n = await conn.read(back.subarray(got));
        if (n === null) throw new Error("the echo server hung up");
        got += n;
      }
      return conn;
    }),
  );
  for (const conn of conns) conn.close();
  await stopGracefully(server);
  return [...server.stderr.text.matchAll(/^worker \d+ accepted (\d+) /gm)]
    .map((match) => Number(match[1]))
    .sort((a, b) => b - a);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? sorted[mid]!
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const thousands = (n: number) => `${Math.round(n / 1000)}k`;

const rows: string[] = [];
const before = machineTicks();
for (const runtime of RUNTIMES.filter((name) => only.includes(name))) {
  let shared: RunningServer;
  try {
    shared = await startServer(spec(runtime, 2, true), 30_000);
  } catch (error) {
    // The line it printed on stderr, past the workers' own --verbose lines.
    const lines = (error as Error).message.split("\n");
    const why = lines.slice(1).find((line) => !/^worker \d+ /.test(line)) ??
      lines[0]!;
    log(`${runtime}: --workers 2 does not start: ${why}`);
    rows.push(`| ${runtime} | skipped: ${why.trim()} | | | |`);
    continue;
  }
  const counts = await spread(shared, spreadConns);
  log(`${runtime}: ${spreadConns} connections spread as ${counts.join(" + ")}`);

  const servers = new Map<number, RunningServer>();
  for (const workers of [1, 2]) {
    servers.set(
      workers,
      await startServer(spec(runtime, workers, false), 30_000),
    );
  }
  const rates = new Map<number, number[]>([[1, []], [2, []]]);
  const ratios: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const rateOf = new Map<number, number>();
    for (const workers of rep % 2 === 0 ? [1, 2] : [2, 1]) {
      const { result, error } = await runLoadgen(
        loadgen,
        servers.get(workers)!.addr,
        smallFan,
        duration,
      );
      if (!result || error) {
        throw new Error(`${runtime}, ${workers} workers: ${error}`);
      }
      rateOf.set(workers, result.msgs_per_s);
      rates.get(workers)!.push(result.msgs_per_s);
      log(
        `${runtime} rep ${rep + 1}: ${workers} workers ${
          thousands(result.msgs_per_s)
        } frames/s`,
      );
    }
    ratios.push(rateOf.get(2)! / rateOf.get(1)!);
  }
  for (const server of servers.values()) await stopGracefully(server);
  rows.push(
    `| ${runtime} | ${counts.join(" + ")} | ${
      thousands(median(rates.get(1)!))
    } | ${thousands(median(rates.get(2)!))} | ${median(ratios).toFixed(2)}× |`,
  );
}
const stolen = stolenPercent(before, machineTicks());

console.log(
  `${navigator.hardwareConcurrency} CPUs, ${
    stolen === undefined ? "steal unknown" : `${stolen.toFixed(1)} % stolen`
  }; small-fan (50 conns × 16 in flight, 64 B) for ${duration} ms, medians of ${reps}\n`,
);
console.log(
  `| runtime | ${spreadConns} connections over 2 workers | 1 worker frames/s | 2 workers frames/s | 2 : 1 |`,
);
console.log("| --- | --- | ---: | ---: | ---: |");
for (const row of rows) console.log(row);
await cleanup();
