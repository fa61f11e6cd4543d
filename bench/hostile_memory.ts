/**
 * What hostile peers cost a server: the peak resident set size (RSS) of
 * `examples/echo_server.ts` on Deno, Bun and Node while
 * `hostile_peers.ts` floods it.
 *
 *     node_modules/.bin/deno run -A bench/hostile_memory.ts [--duration 5000]
 *         [--only flood,flood-1,deaf-empty,deaf-64k] [--runtimes deno,bun,node]
 *         [-- server flags]
 *
 * The scenarios: 50 peers sending empty frames as fast as they can and
 * reading the replies (`flood`); the same with 1-byte frames (`flood-1`); 20
 * peers sending empty frames and never reading (`deaf-empty`); 20 peers
 * sending 64 KiB frames and never reading (`deaf-64k`). For each, a fresh
 * server: its RSS once it has settled, then its peak RSS while the peers run
 * (the kernel's high-water mark, reset when the peers start). The table shows
 * the growth per hostile connection. Flags after `--` go to the server.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { fail, intFlag } from "./_cli.ts";
import { sleep, stop, waitForLine } from "./_children.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const bin = (name: string) => join(ROOT, "node_modules", ".bin", name);

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  options: {
    duration: { type: "string", default: "5000" },
    only: { type: "string", default: "flood,flood-1,deaf-empty,deaf-64k" },
    runtimes: { type: "string", default: "deno,bun,node" },
  },
  allowPositionals: true,
});
const USAGE =
  "usage: hostile_memory.ts [--duration MS] [--only flood,flood-1,deaf-empty,deaf-64k] [--runtimes deno,bun,node] [-- server flags]";
const duration = intFlag(USAGE, "duration", values.duration, 1);
const serverFlags = positionals;

interface Scenario {
  name: string;
  conns: number;
  size: number;
  deaf: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: "flood", conns: 50, size: 0, deaf: false },
  { name: "flood-1", conns: 50, size: 1, deaf: false },
  { name: "deaf-empty", conns: 20, size: 0, deaf: true },
  { name: "deaf-64k", conns: 20, size: 65536, deaf: true },
];

const ECHO = ["examples/echo_server.ts", "--port", "0", "--framing", "length"];
const RUNTIMES: Record<string, { command: string; args: string[] }> = {
  deno: { command: bin("deno"), args: ["run", "-A", ...ECHO] },
  bun: { command: bin("bun"), args: ["run", ...ECHO] },
  node: { command: "node", args: ["--import", "tsx", ...ECHO] },
};

const scenarios = values.only.split(",").map((name) =>
  SCENARIOS.find((s) => s.name === name) ??
    fail(USAGE, `unknown scenario: ${name}`)
);
const runtimes = values.runtimes.split(",").map((name) =>
  RUNTIMES[name] ? name : fail(USAGE, `unknown runtime: ${name}`)
);

/** A line of `/proc/PID/status`, in KiB. */
function status(pid: number, field: "VmRSS" | "VmHWM"): number {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(text)![1]);
}

/** Resets the peak RSS of `pid` to its current RSS; false if not allowed. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

interface Result {
  before: number;
  peak: number;
  sent: number;
  cut: number;
}

async function measure(runtime: string, scenario: Scenario): Promise<Result> {
  const { command, args } = RUNTIMES[runtime]!;
  const server = spawn(command, [...args, ...serverFlags], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "ignore"],
  });
  let peers: ChildProcess | undefined;
  try {
    const [, port] = await waitForLine(server, /listening on .+:(\d+)/);
    await sleep(1000);
    const pid = server.pid!;
    const before = status(pid, "VmRSS");
    // Without the right to reset the high-water mark, sample instead.
    let sampled = resetPeak(pid) ? 0 : before;
    const sampler = sampled === 0 ? undefined : setInterval(() => {
      sampled = Math.max(sampled, status(pid, "VmRSS"));
    }, 10);
    peers = spawn(bin("deno"), [
      "run",
      "-A",
      "bench/hostile_peers.ts",
      "--port",
      port!,
      "--conns",
      String(scenario.conns),
      "--size",
      String(scenario.size),
      "--duration",
      String(duration),
      ...(scenario.deaf ? ["--deaf"] : []),
    ], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    let report = "";
    peers.stdout!.on("data", (data: Buffer) => report += data);
    await new Promise((resolve) => peers!.once("exit", resolve));
    clearInterval(sampler);
    const peak = sampler ? sampled : status(pid, "VmHWM");
    const last = report.trim().split("\n").at(-1) ?? "{}";
    const { sent = 0, cut = 0 } = JSON.parse(last);
    return { before, peak, sent, cut };
  } finally {
    if (peers) await stop(peers);
    await stop(server);
  }
}

const mib = (kib: number) => (kib / 1024).toFixed(1);

console.log(
  `| runtime | scenario | RSS before | peak | peak − before per conn | sent per conn | conns cut |`,
);
console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
for (const scenario of scenarios) {
  for (const runtime of runtimes) {
    try {
      const r = await measure(runtime, scenario);
      console.log(
        `| ${runtime} | ${scenario.name} | ${mib(r.before)} MiB | ${
          mib(r.peak)
        } MiB | ${mib((r.peak - r.before) / scenario.conns)} MiB | ${
          mib(r.sent / 1024 / scenario.conns)
        } MiB | ${r.cut}/${scenario.conns} |`,
      );
    } catch (error) {
      console.log(
        `| ${runtime} | ${scenario.name} | failed: ${
          (error as Error).message
        } |`,
      );
    }
  }
}
