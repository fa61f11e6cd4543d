/**
 * The memory benchmark: resident memory per idle connection, with heartbeats
 * flowing, for tether's example server on Deno and on Bun and for the Go
 * anchors when `go` is on PATH.
 *
 *     node_modules/.bin/deno run -A bench/memory.ts [--conns 10000] [--settle 5000]
 *
 * For each server: start it, read its resident set size (RSS), open `--conns`
 * connections from bench/idle_clients.ts (another process, on Bun) that each
 * send a heartbeat ping every second, wait `--settle` ms, read the RSS again.
 * The table shows (after − before) / conns. The open-file limit must allow
 * the connections (`ulimit -n`).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { intFlag } from "./_cli.ts";
import { sleep, stop, waitForLine } from "./_children.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const bin = (name: string) => join(ROOT, "node_modules", ".bin", name);

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    conns: { type: "string", default: "10000" },
    settle: { type: "string", default: "5000" },
  },
});
const USAGE = "usage: memory.ts [--conns N] [--settle MS]";
const conns = intFlag(USAGE, "conns", values.conns, 1);
const settle = intFlag(USAGE, "settle", values.settle, 0);

interface Server {
  name: string;
  command: string;
  args: string[];
}

const servers: Server[] = [
  {
    name: "tether-deno",
    command: bin("deno"),
    args: ["run", "--allow-net", "examples/server.ts", "--port", "0"],
  },
  {
    name: "tether-bun",
    command: bin("bun"),
    args: ["run", "examples/server.ts", "--port", "0"],
  },
];

/** Builds the Go anchor server; undefined without a working `go`. */
function buildGo(): string | undefined {
  const output = join(mkdtempSync(join(tmpdir(), "tether-memory-")), "echo");
  try {
    execFileSync("go", ["build", "-o", output, "echo.go"], {
      cwd: join(ROOT, "bench", "go"),
      env: { ...process.env, GOPROXY: "off", GOTOOLCHAIN: "local" },
      stdio: "ignore",
    });
    return output;
  } catch {
    return undefined;
  }
}

const goEcho = buildGo();
if (goEcho) {
  servers.push(
    { name: "go-plain", command: goEcho, args: ["-port", "0"] },
    { name: "go-bufio", command: goEcho, args: ["-port", "0", "-bufio"] },
  );
} else {
  console.error("[memory] go is not available: no Go anchors");
}

/** Resident set size of `pid` in KiB, from `ps`. */
function rss(pid: number): number {
  return Number(execFileSync("ps", ["-o", "rss=", "-p", String(pid)]));
}

async function measure(server: Server): Promise<number> {
  const child = spawn(server.command, server.args, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let clients: ChildProcess | undefined;
  try {
    const [, port] = await waitForLine(child, /listening on .+:(\d+)/);
    await sleep(1000);
    const before = rss(child.pid!);
    clients = spawn(bin("bun"), [
      "run",
      "bench/idle_clients.ts",
      "--port",
      port!,
      "--conns",
      String(conns),
    ], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
    await waitForLine(clients, /^ready \d+/m);
    await sleep(settle);
    return (rss(child.pid!) - before) * 1024 / conns;
  } finally {
    if (clients) await stop(clients);
    await stop(child);
  }
}

console.log(
  `| server | RSS per idle connection (${conns} connections, heartbeats every second) |`,
);
console.log("| --- | ---: |");
for (const server of servers) {
  try {
    const perConn = await measure(server);
    console.log(`| ${server.name} | ${(perConn / 1024).toFixed(1)} KiB |`);
  } catch (error) {
    console.log(`| ${server.name} | failed: ${(error as Error).message} |`);
  }
}
