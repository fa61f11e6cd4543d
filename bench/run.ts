/**
 * The end-to-end benchmark: echo servers driven over loopback by a load
 * generator, in interleaved repetitions, summarised as one markdown table.
 *
 *     deno task bench [--reps 3] [--duration 3000] [--only small-pipe,tether]
 *                     [--json results.json] [--no-go] [--loadgen auto|go|bun]
 *                     [--max-steal 10] [--retries 3]
 *
 * Servers: tether's examples/echo_server.ts on Deno, Bun and Node (compiled
 * with tsc first), the raw byte echoes of bench/servers/ on the same three,
 * and, when `go` is on PATH, the Go anchors of bench/go/echo.go (plain and
 * -bufio). Each is started once,
 * checked before every measurement and restarted if it died.
 *
 * Load: bench/go/loadgen.go when Go is available (it costs the least CPU on
 * a machine the server shares), else bench/loadgen.ts on Bun. With Go, the
 * `client` run also drives the buffered Go server with tether's client
 * (bench/client_load.ts on Deno and on Bun) next to the Go loadgen.
 *
 * Every repetition runs every (run, server) pair once, servers in a rotated
 * order, so slow phases of a noisy machine hit all servers alike; the table
 * shows medians over repetitions, and each ratio to the raw echo is the
 * median of the ratios within one repetition. On a virtual machine, a
 * measurement during which the hypervisor gave more than `--max-steal`
 * percent of the CPU to other guests is taken again, up to `--retries`
 * times: such a measurement says more about the neighbours than about the
 * server. Server CPU is the utime + stime of the
 * server's process tree from /proc/<pid>/stat, read before and after each
 * measurement, in clock ticks (1/100 s on Linux).
 */
import { parseArgs } from "node:util";
import { fail, intFlag } from "./_cli.ts";
import { fileURLToPath } from "node:url";
import {
  clockTicksPerSecond,
  machineTicks,
  signalTree,
  stolenPercent,
  treeTicks,
} from "./_procfs.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BENCH = `${ROOT}bench/`;

const USAGE = `usage: deno task bench [options]

  --reps N           repetitions, interleaved across servers (default 3)
  --duration MS      load per measurement in ms (default 3000)
  --warmup MS        load per (run, server) before measuring, 0 for none (default 500)
  --only A,B         keep runs and servers whose name contains one of these
                     (runs: small-pipe small-fan large ping-pong; servers:
                     tether-deno tether-bun tether-node, their -frames
                     variants that read frame by frame, raw-deno raw-bun
                     raw-node go-plain go-bufio)
  --json PATH        also write every measurement as JSON ("-" for stdout)
  --no-go            do not build or use the Go anchors and loadgen
  --loadgen KIND     auto (go if available, else bun), go or bun (default auto)
  --start-timeout MS how long a server may take to print its address (default 15000)
  --max-steal PCT    take a measurement again when the hypervisor stole more
                     than PCT % of the machine's CPU during it, 100 for never
                     (default 10; Linux only)
  --retries N        how many times one measurement is taken again at most (default 3)

Runs: small-pipe small-fan large ping-pong, and, with Go, client: tether's
client (bench/client_load.ts on Deno and Bun) and the Go loadgen against go-bufio.`;

interface Run {
  name: string;
  size: number;
  pipeline: number;
  conns: number;
}

/**
 * tether's client as the load generator, against the buffered Go server,
 * next to the Go loadgen: the client's share of the loadgen's rate.
 */
const CLIENT_RUN: Run = { name: "client", size: 64, pipeline: 64, conns: 1 };

const RUNS: Run[] = [
  { name: "small-pipe", size: 64, pipeline: 64, conns: 1 },
  { name: "small-fan", size: 64, pipeline: 16, conns: 50 },
  { name: "large", size: 65536, pipeline: 4, conns: 1 },
  { name: "ping-pong", size: 64, pipeline: 1, conns: 1 },
];

interface ServerSpec {
  name: string;
  command: string;
  args: string[];
  /** The raw echo of the same runtime, for the ratio column. */
  baseline?: string;
}

/**
 * tether's echo example on one runtime, twice: reading a batch per step (the
 * example's default) and frame by frame (`--per-frame`).
 */
function tetherSpecs(
  runtime: string,
  command: string,
  script: string[],
): ServerSpec[] {
  const args = [...script, "--port", "0", "--framing", "length"];
  const baseline = `raw-${runtime}`;
  return [
    { name: `tether-${runtime}`, command, args, baseline },
    {
      name: `tether-${runtime}-frames`,
      command,
      args: [...args, "--per-frame"],
      baseline,
    },
  ];
}

interface LoadgenResult {
  mode: string;
  conns: number;
  size: number;
  pipeline: number;
  seconds: number;
  msgs: number;
  msgs_per_s: number;
  mb_per_s: number;
  /** Absent from tether's client, which keeps no latencies. */
  p50_us?: number;
  p99_us?: number;
  errors: number;
  mismatch: number;
  cpu_s?: number;
}

interface Measurement {
  rep: number;
  run: string;
  server: string;
  loadgen: string;
  /** The loadgen's result; absent if it printed none. */
  result?: LoadgenResult;
  /** Server CPU (utime + stime of its process tree) in clock ticks. */
  server_cpu_ticks?: number;
  server_cpu_ns_per_frame?: number;
  /** Percent of the machine's CPU stolen by the hypervisor during the load. */
  stolen_pct?: number;
  /** How many times the measurement was taken; the last one is kept. */
  attempts: number;
  error?: string;
}

// ---------------------------------------------------------------- options

function parseOptions() {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        reps: { type: "string", default: "3" },
        duration: { type: "string", default: "3000" },
        warmup: { type: "string", default: "500" },
        only: { type: "string" },
        json: { type: "string" },
        "no-go": { type: "boolean", default: false },
        loadgen: { type: "string", default: "auto" },
        "start-timeout": { type: "string", default: "15000" },
        "max-steal": { type: "string", default: "10" },
        retries: { type: "string", default: "3" },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (error) {
    return fail(USAGE, error instanceof Error ? error.message : String(error));
  }
}
const values = parseOptions();
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const reps = intFlag(USAGE, "reps", values.reps, 1);
const duration = intFlag(USAGE, "duration", values.duration, 100);
const warmup = intFlag(USAGE, "warmup", values.warmup, 0);
const startTimeout = intFlag(
  USAGE,
  "start-timeout",
  values["start-timeout"],
  100,
);
const maxSteal = intFlag(USAGE, "max-steal", values["max-steal"], 0);
if (maxSteal > 100) {
  fail(USAGE, `--max-steal must be at most 100: got ${maxSteal}`);
}
const retries = intFlag(USAGE, "retries", values.retries, 0);
const loadgenChoice = values.loadgen;
if (!["auto", "go", "bun"].includes(loadgenChoice)) {
  fail(USAGE, `--loadgen must be auto, go or bun: got ${loadgenChoice}`);
}
if (loadgenChoice === "go" && values["no-go"]) {
  fail(USAGE, "--loadgen go and --no-go contradict each other");
}
const onlyTokens =
  values.only?.split(",").map((t) => t.trim()).filter((t) => t) ?? [];
const SERVER_NAMES = [
  "tether-deno",
  "tether-deno-frames",
  "raw-deno",
  "tether-bun",
  "tether-bun-frames",
  "raw-bun",
  "tether-node",
  "tether-node-frames",
  "raw-node",
  "go-plain",
  "go-bufio",
];
function matches(name: string): boolean {
  return onlyTokens.some((token) => name.includes(token));
}
if (
  onlyTokens.length > 0 &&
  ![...RUNS.map((run) => run.name), CLIENT_RUN.name, ...SERVER_NAMES].some(
    matches,
  )
) {
  fail(USAGE, `--only ${values.only} matches no run and no server`);
}

function log(message: string): void {
  // Once shutting down, the failures of the measurement in progress are noise.
  if (!shuttingDown) console.error(`[bench] ${message}`);
}

// ------------------------------------------------------ child processes

/** Every child this runner started and that may still run. */
const children = new Map<number, Deno.ChildProcess>();
/** Set once cleanup starts: nothing new is spawned after it. */
let shuttingDown = false;

function spawn(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Deno.ChildProcess {
  if (shuttingDown) throw new Error("shutting down");
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd ?? ROOT,
    ...(options.env ? { env: options.env } : {}),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  children.set(child.pid, child);
  child.status.finally(() => children.delete(child.pid));
  return child;
}

function alive(child: Deno.ChildProcess): boolean {
  return children.has(child.pid);
}

async function stop(child: Deno.ChildProcess): Promise<void> {
  if (!alive(child)) return;
  signalTree(child.pid, "SIGTERM");
  const exited = await within(child.status, 2000);
  if (!exited) {
    signalTree(child.pid, "SIGKILL");
    await within(child.status, 2000);
  }
}

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  shuttingDown = true;
  return cleaning ??= (async () => {
    for (let round = 0; round < 3 && children.size > 0; round++) {
      await Promise.all([...children.values()].map(stop));
    }
    if (tempDir) {
      await Deno.remove(tempDir, { recursive: true }).catch(() => {});
    }
  })();
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  Deno.addSignalListener(signal, () => {
    if (!shuttingDown) console.error(`[bench] ${signal}: stopping the servers`);
    cleanup().finally(() => Deno.exit(130));
  });
}
// A last resort if the runner exits without cleanup(): no child may outlive it.
globalThis.addEventListener("unload", () => {
  for (const pid of children.keys()) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `promise`'s value, or undefined after `ms`; the timer never lingers. */
async function within<T>(
  promise: Promise<T>,
  ms: number,
): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Keeps the last `limit` characters of a stream and drains the rest. */
class Tail {
  text = "";
  constructor(readonly limit = 4000) {}
  push(chunk: string): void {
    this.text = (this.text + chunk).slice(-this.limit);
  }
}

function drain(
  stream: ReadableStream<Uint8Array>,
  tail: Tail,
): Promise<void> {
  return stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => tail.push(chunk) }),
  ).catch(() => {});
}

// ---------------------------------------------------------------- servers

interface RunningServer {
  spec: ServerSpec;
  child: Deno.ChildProcess;
  addr: string;
  stderr: Tail;
}

async function startServer(spec: ServerSpec): Promise<RunningServer> {
  const child = spawn(spec.command, spec.args);
  const stderr = new Tail();
  drain(child.stderr, stderr);
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let buffered = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), startTimeout);
  });
  try {
    while (!buffered.includes("\n")) {
      const next = await Promise.race([reader.read(), timeout]);
      if (next === "timeout") {
        throw new Error(`no address within ${startTimeout} ms`);
      }
      if (next.done) throw new Error("exited before printing its address");
      buffered += next.value;
    }
  } catch (error) {
    await stop(child);
    throw new Error(
      `${spec.name}: ${(error as Error).message}\n${stderr.text}`.trimEnd(),
    );
  } finally {
    clearTimeout(timer);
  }
  // Keep draining stdout so the server never blocks on a full pipe.
  (async () => {
    try {
      while (!(await reader.read()).done) { /* discard */ }
    } catch {
      // The server is gone.
    }
  })();
  const line = buffered.slice(0, buffered.indexOf("\n")).trim();
  const match = /^listening on (.+:\d+)$/.exec(line);
  if (!match) {
    await stop(child);
    throw new Error(`${spec.name}: unexpected first line: ${line}`);
  }
  return { spec, child, addr: match[1]!, stderr };
}

// ------------------------------------------------------------------- Go

let tempDir: string | undefined;

async function commandWorks(command: string, args: string[]) {
  try {
    const output = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return output.success;
  } catch {
    return false; // Not on PATH.
  }
}

/**
 * Runs a build command to its end (at most 3 minutes); resolves to its
 * output if it failed, else to undefined.
 */
async function build(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string | undefined> {
  const child = spawn(command, args, options);
  const output = new Tail();
  drain(child.stdout, output);
  drain(child.stderr, output);
  const status = await within(child.status, 180_000);
  if (status?.success) return undefined;
  await stop(child);
  return output.text;
}

/** Builds bench/go's programs; undefined when Go is missing or fails. */
async function buildGo(): Promise<
  { echo: string; loadgen: string } | undefined
> {
  if (values["no-go"]) return undefined;
  if (!await commandWorks("go", ["version"])) {
    log("go is not on PATH: no Go anchors");
    return undefined;
  }
  tempDir ??= await Deno.makeTempDir({ prefix: "tether-bench-" });
  const env: Record<string, string> = {
    // The programs use the standard library only: never touch the network.
    GOPROXY: "off",
    GOFLAGS: "-mod=mod",
    GOTOOLCHAIN: "local",
  };
  if (!Deno.env.get("HOME") && !Deno.env.get("GOCACHE")) {
    env.GOCACHE = `${tempDir}/gocache`;
  }
  const built = { echo: `${tempDir}/echo`, loadgen: `${tempDir}/loadgen` };
  for (const [name, output] of Object.entries(built)) {
    const failure = await build("go", ["build", "-o", output, `${name}.go`], {
      cwd: `${BENCH}go`,
      env,
    });
    if (failure !== undefined) {
      log(`go build ${name}.go failed: no Go anchors\n${failure}`);
      return undefined;
    }
  }
  log("built the Go anchors and loadgen");
  return built;
}

// --------------------------------------------------------------- loadgen

interface Loadgen {
  kind: string;
  command: string;
  prefix: string[];
}

function findBun(): string | undefined {
  const local = `${ROOT}node_modules/.bin/bun`;
  try {
    Deno.statSync(local);
    return local;
  } catch {
    return undefined;
  }
}

/**
 * Compiles the Node servers with the repository's TypeScript, as a Node
 * project ships tether: Node 20 runs no TypeScript, and running it through
 * tsx would add the cost of tsx's output to every frame. Undefined when
 * `node` is not on PATH or the build fails.
 */
async function buildNode(): Promise<
  { command: string; dir: string } | undefined
> {
  if (!await commandWorks("node", ["--version"])) {
    log("node is not on PATH: no Node servers");
    return undefined;
  }
  tempDir ??= await Deno.makeTempDir({ prefix: "tether-bench-" });
  const dir = `${tempDir}/node`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${tempDir}/tsconfig.node.json`,
    JSON.stringify({
      extends: `${ROOT}tsconfig.build.json`,
      compilerOptions: {
        rootDir: ROOT,
        outDir: dir,
        declaration: false,
        typeRoots: [`${ROOT}node_modules/@types`],
      },
      files: [
        `${ROOT}examples/echo_server.ts`,
        `${BENCH}servers/raw_echo_node.ts`,
      ],
    }),
  );
  // ES modules, like the package.
  await Deno.writeTextFile(`${dir}/package.json`, '{"type":"module"}');
  const failure = await build(`${ROOT}node_modules/.bin/tsc`, [
    "-p",
    `${tempDir}/tsconfig.node.json`,
  ]);
  if (failure !== undefined) {
    log(`tsc failed: no Node servers (run npm ci)\n${failure}`);
    return undefined;
  }
  log("compiled the Node servers");
  return { command: "node", dir };
}

async function runLoadgen(
  loadgen: Loadgen,
  addr: string,
  run: Run,
  ms: number,
): Promise<{ result?: LoadgenResult; error?: string }> {
  const child = spawn(loadgen.command, [
    ...loadgen.prefix,
    "--addr",
    addr,
    "--mode",
    "lp",
    "--size",
    String(run.size),
    "--pipeline",
    String(run.pipeline),
    "--conns",
    String(run.conns),
    "--duration",
    String(ms),
  ]);
  const stdout = new Tail(100_000);
  const stderr = new Tail();
  const drained = Promise.all([
    drain(child.stdout, stdout),
    drain(child.stderr, stderr),
  ]);
  // The loadgen bounds itself (5 s to connect, 5 s to drain); this is the
  // backstop for a loadgen that hangs anyway.
  const limit = ms + 20_000;
  const status = await within(child.status, limit);
  if (!status) {
    await stop(child);
    return { error: `loadgen killed after ${limit} ms` };
  }
  await within(drained, 2000);
  const line = stdout.text.trim().split("\n").pop() ?? "";
  let result: LoadgenResult | undefined;
  try {
    result = JSON.parse(line) as LoadgenResult;
  } catch {
    return {
      error: `loadgen exited ${status.code} without a result: ${
        (stderr.text || stdout.text).trim().slice(-500)
      }`,
    };
  }
  if (!status.success) {
    return {
      result,
      error: `loadgen exited ${status.code}: errors ${result.errors}, ` +
        `mismatch ${result.mismatch}`,
    };
  }
  return { result };
}

// -------------------------------------------------------------- measuring

/** The successful result of the measurement of repetition `rep` that `match` picks. */
function resultIn(
  measurements: Measurement[],
  rep: number,
  match: (measurement: Measurement) => boolean,
): LoadgenResult | undefined {
  return measurements.find((m) =>
    m.rep === rep && m.result && !m.error && match(m)
  )?.result;
}

/**
 * The median over repetitions of `mine(rep) / base(rep)`, taken within each
 * repetition, where both servers met the machine in nearly the same state:
 * a ratio of medians could pair one's good phase with the other's bad one.
 */
function medianRatio(
  mine: (rep: number) => number | undefined,
  base: (rep: number) => number | undefined,
): number | undefined {
  const ratios: number[] = [];
  for (let rep = 1; rep <= reps; rep++) {
    const value = mine(rep);
    const baseValue = base(rep);
    if (value !== undefined && baseValue) ratios.push(value / baseValue);
  }
  return median(ratios);
}

/**
 * The client run as markdown: each load generator's median frames/s against
 * the buffered Go server, and its rate over the Go loadgen's, the median of
 * the ratios within each repetition.
 */
function clientTable(
  measurements: Measurement[],
  clients: Loadgen[],
): string[] {
  const rate = (kind: string, rep: number) =>
    resultIn(
      measurements,
      rep,
      (m) => m.run === CLIENT_RUN.name && m.loadgen === kind,
    )?.msgs_per_s;
  const lines = [
    `client: ${CLIENT_RUN.size}-byte frames, ${CLIENT_RUN.pipeline} in flight, ` +
    "one connection, against go-bufio; tether-* is bench/client_load.ts " +
    "(one createClient(), echoes read in batches).",
    "",
    "| load generator | frames/s | vs Go loadgen |",
    "| --- | ---: | ---: |",
  ];
  for (const client of clients) {
    const rates: number[] = [];
    for (let rep = 1; rep <= reps; rep++) {
      const mine = rate(client.kind, rep);
      if (mine !== undefined) rates.push(mine);
    }
    const ratio = medianRatio(
      (rep) => rate(client.kind, rep),
      (rep) => rate("go", rep),
    );
    lines.push(
      `| ${client.kind} | ${formatNumber(median(rates))} | ${
        ratio === undefined ? "—" : `×${formatNumber(ratio, 2)}`
      } |`,
    );
  }
  return lines;
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[mid]
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function formatNumber(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return "—";
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

async function main(): Promise<void> {
  const go = await buildGo();
  const bun = findBun();

  let loadgen: Loadgen;
  if (loadgenChoice === "go" || (loadgenChoice === "auto" && go)) {
    if (!go) {
      throw new Error("--loadgen go needs go on PATH and a working build");
    }
    loadgen = { kind: "go", command: go.loadgen, prefix: [] };
  } else {
    if (!bun) {
      throw new Error(
        "the Bun loadgen needs node_modules/.bin/bun: run npm ci first",
      );
    }
    loadgen = {
      kind: "bun",
      command: bun,
      prefix: ["run", `${BENCH}loadgen.ts`],
    };
  }

  const deno = Deno.execPath();
  const allServers: ServerSpec[] = [
    ...tetherSpecs("deno", deno, [
      "run",
      "--allow-net",
      "examples/echo_server.ts",
    ]),
    {
      name: "raw-deno",
      command: deno,
      args: [
        "run",
        "--allow-net",
        "bench/servers/raw_echo_deno.ts",
        "--port",
        "0",
      ],
      baseline: "raw-deno",
    },
  ];
  if (bun) {
    allServers.push(
      ...tetherSpecs("bun", bun, ["run", "examples/echo_server.ts"]),
      {
        name: "raw-bun",
        command: bun,
        args: ["run", "bench/servers/raw_echo_bun.ts", "--port", "0"],
        baseline: "raw-bun",
      },
    );
  } else {
    log("no node_modules/.bin/bun: no Bun servers (run npm ci)");
  }
  const node = await buildNode();
  if (node) {
    allServers.push(
      ...tetherSpecs("node", node.command, [
        `${node.dir}/examples/echo_server.js`,
      ]),
      {
        name: "raw-node",
        command: node.command,
        args: [`${node.dir}/bench/servers/raw_echo_node.js`, "--port", "0"],
        baseline: "raw-node",
      },
    );
  }
  if (go) {
    allServers.push(
      { name: "go-plain", command: go.echo, args: ["-port", "0"] },
      { name: "go-bufio", command: go.echo, args: ["-port", "0", "-bufio"] },
    );
  }

  const filterRuns = [...RUNS, CLIENT_RUN].some((run) => matches(run.name));
  const filterServers = allServers.some((server) => matches(server.name));
  const runs = filterRuns ? RUNS.filter((run) => matches(run.name)) : RUNS;
  const goBufio = allServers.find((server) => server.name === "go-bufio");
  // The client run needs the buffered Go server and the Go loadgen.
  const clients: Loadgen[] = [];
  if ((!filterRuns || matches(CLIENT_RUN.name)) && go && goBufio) {
    clients.push(
      { kind: "go", command: go.loadgen, prefix: [] },
      {
        kind: "tether-deno",
        command: deno,
        prefix: ["run", "--allow-net", `${BENCH}client_load.ts`],
      },
    );
    if (bun) {
      clients.push({
        kind: "tether-bun",
        command: bun,
        prefix: ["run", `${BENCH}client_load.ts`],
      });
    }
  } else if (filterRuns && matches(CLIENT_RUN.name)) {
    log("the client run needs go on PATH: skipped");
  }
  const specs = filterServers
    ? allServers.filter((server) => matches(server.name))
    : allServers;

  const ticksPerSecond = await clockTicksPerSecond();
  log(
    `loadgen: ${loadgen.kind} | servers: ${
      specs.map((s) => s.name).join(", ")
    }` +
      ` | runs: ${
        runs.map((r) => r.name).join(", ")
      } | ${reps} reps of ${duration} ms`,
  );

  const running = new Map<string, RunningServer>();
  const ensure = async (spec: ServerSpec): Promise<RunningServer> => {
    const current = running.get(spec.name);
    if (current && alive(current.child)) return current;
    if (current) {
      log(`${spec.name} had exited; restarting it\n${current.stderr.text}`);
    }
    const started = await startServer(spec);
    running.set(spec.name, started);
    return started;
  };
  for (const spec of specs) {
    const server = await ensure(spec);
    log(`${spec.name} listening on ${server.addr} (pid ${server.child.pid})`);
  }

  if (warmup > 0) {
    log(`warming up: ${warmup} ms per run and server`);
    for (const spec of specs) {
      for (const run of runs) {
        const server = await ensure(spec);
        const { error } = await runLoadgen(loadgen, server.addr, run, warmup);
        if (error) log(`warm-up ${run.name} on ${spec.name}: ${error}`);
      }
    }
  }

  /** One measurement of `run` on `spec`, with the CPU stolen meanwhile. */
  const measure = async (
    rep: number,
    run: Run,
    spec: ServerSpec,
    using: Loadgen,
    attempts: number,
  ): Promise<Measurement> => {
    const measurement: Measurement = {
      rep,
      run: run.name,
      server: spec.name,
      loadgen: using.kind,
      attempts,
    };
    try {
      const server = await ensure(spec);
      const machineBefore = machineTicks();
      const before = treeTicks(server.child.pid);
      const { result, error } = await runLoadgen(
        using,
        server.addr,
        run,
        duration,
      );
      const after = treeTicks(server.child.pid);
      const stolen = stolenPercent(machineBefore, machineTicks());
      if (stolen !== undefined) measurement.stolen_pct = stolen;
      if (result) measurement.result = result;
      if (error) measurement.error = error;
      if (before !== undefined && after !== undefined && result) {
        measurement.server_cpu_ticks = after - before;
        if (result.msgs > 0) {
          measurement.server_cpu_ns_per_frame = (after - before) *
            (1e9 / ticksPerSecond) / result.msgs;
        }
      }
    } catch (error) {
      measurement.error = (error as Error).message;
    }
    return measurement;
  };
  const describe = (measurement: Measurement): string => {
    const r = measurement.result;
    return (r
      ? `${formatNumber(r.msgs_per_s)} frames/s, ` +
        (r.p50_us === undefined ? "" : `p50 ${r.p50_us} µs, `) +
        `${formatNumber(measurement.server_cpu_ns_per_frame)} ns/frame`
      : "no result") +
      (measurement.stolen_pct === undefined
        ? ""
        : `, ${formatNumber(measurement.stolen_pct, 1)} % stolen`) +
      (measurement.error ? ` (${measurement.error})` : "");
  };
  const disturbed = (measurement: Measurement): boolean =>
    measurement.stolen_pct !== undefined && measurement.stolen_pct > maxSteal;

  const measurements: Measurement[] = [];
  let repeated = 0;
  const total = reps * (runs.length * specs.length + clients.length);
  /** Measures, taking it again while too much CPU was stolen. */
  const record = async (
    rep: number,
    run: Run,
    spec: ServerSpec,
    using: Loadgen,
    label: string,
  ): Promise<void> => {
    let measurement = await measure(rep, run, spec, using, 1);
    while (disturbed(measurement) && measurement.attempts <= retries) {
      log(`${label}: ${describe(measurement)}; taking it again`);
      repeated++;
      // A neighbour's burst often lasts a few seconds: let it pass.
      await sleep(1000);
      measurement = await measure(
        rep,
        run,
        spec,
        using,
        measurement.attempts + 1,
      );
    }
    measurements.push(measurement);
    log(`[${measurements.length}/${total}] ${label}: ${describe(measurement)}`);
    await sleep(100);
  };
  const ticksBefore = machineTicks();
  for (let rep = 1; rep <= reps; rep++) {
    for (const run of runs) {
      // Rotate the order each repetition so no server always goes first.
      const shift = (rep - 1 + runs.indexOf(run)) % specs.length;
      const order = [...specs.slice(shift), ...specs.slice(0, shift)];
      for (const spec of order) {
        await record(
          rep,
          run,
          spec,
          loadgen,
          `rep ${rep} ${run.name} ${spec.name}`,
        );
      }
    }
    for (const client of clients) {
      await record(
        rep,
        CLIENT_RUN,
        goBufio!,
        client,
        `rep ${rep} client ${client.kind}`,
      );
    }
  }

  // ------------------------------------------------------------ the table
  interface Row {
    run: string;
    server: string;
    framesPerS?: number | undefined;
    mbPerS?: number | undefined;
    p50?: number | undefined;
    p99?: number | undefined;
    nsPerFrame?: number | undefined;
    serverCpu?: number | undefined;
    loadgenCpu?: number | undefined;
    problems: number;
    measured: number;
  }
  const rows: Row[] = [];
  for (const run of runs) {
    for (const spec of specs) {
      const mine = measurements.filter((m) =>
        m.run === run.name && m.server === spec.name
      );
      const ok = mine.filter((m) => m.result && !m.error);
      const results = ok.map((m) => m.result!);
      const pick = (f: (r: LoadgenResult) => number | undefined) =>
        median(
          results.map(f).filter((v): v is number => v !== undefined),
        );
      rows.push({
        run: run.name,
        server: spec.name,
        framesPerS: pick((r) => r.msgs_per_s),
        mbPerS: pick((r) => r.mb_per_s),
        p50: pick((r) => r.p50_us),
        p99: pick((r) => r.p99_us),
        nsPerFrame: median(
          ok.map((m) => m.server_cpu_ns_per_frame).filter((v): v is number =>
            v !== undefined
          ),
        ),
        serverCpu: median(
          ok.filter((m) => m.server_cpu_ticks !== undefined).map((m) =>
            m.server_cpu_ticks! / ticksPerSecond / m.result!.seconds * 100
          ),
        ),
        loadgenCpu: pick((r) =>
          r.cpu_s === undefined ? undefined : r.cpu_s / r.seconds * 100
        ),
        problems: mine.length - ok.length,
        measured: mine.length,
      });
    }
  }
  const ratioOf = (
    run: string,
    server: string,
    baseline: string,
    f: (r: LoadgenResult) => number | undefined,
  ): number | undefined => {
    const value = (name: string) => (rep: number) => {
      const result = resultIn(
        measurements,
        rep,
        (m) => m.run === run && m.server === name,
      );
      return result && f(result);
    };
    return medianRatio(value(server), value(baseline));
  };

  // On a shared VM another guest can take CPU time in the middle of a run:
  // figures from a sitting with much of it stolen do not compare.
  const stolen = stolenPercent(ticksBefore, machineTicks());
  const stillDisturbed = measurements.filter(disturbed).length;
  const lines = [
    `loadgen: ${
      loadgen.kind === "go"
        ? "Go (bench/go/loadgen.go)"
        : "Bun (bench/loadgen.ts)"
    }; ` +
    `medians of ${reps} interleaved repetitions of ${duration} ms; ` +
    `server CPU from /proc in ticks of ${1000 / ticksPerSecond} ms` +
    (stolen === undefined
      ? "."
      : `; CPU stolen by the hypervisor during the runs: ${
        formatNumber(stolen, 1)
      } %; ${repeated} measurement(s) taken again for more than ${maxSteal} % ` +
        `stolen, ${stillDisturbed} of ${measurements.length} kept above it.`),
  ];
  if (rows.length > 0) {
    lines.push(
      "",
      "| run | server | frames/s | MB/s | p50 µs | p99 µs | server CPU ns/frame | vs raw (same runtime) | server CPU % | loadgen CPU % |",
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
  }
  for (const row of rows) {
    const baseline = specs.find((s) => s.name === row.server)!.baseline;
    let ratio = "—";
    if (baseline !== undefined) {
      const pingPong = row.run === "ping-pong";
      const value = ratioOf(
        row.run,
        row.server,
        baseline,
        pingPong ? (r) => r.p50_us : (r) => r.msgs_per_s,
      );
      if (value !== undefined) {
        ratio = `${pingPong ? "p50 " : ""}×${formatNumber(value, 2)}`;
      }
    }
    const problems = row.problems > 0
      ? ` (${row.problems}/${row.measured} failed)`
      : "";
    lines.push(
      `| ${row.run} | ${row.server}${problems} | ${
        formatNumber(row.framesPerS)
      } | ${formatNumber(row.mbPerS, 1)} | ${formatNumber(row.p50)} | ${
        formatNumber(row.p99)
      } | ${formatNumber(row.nsPerFrame)} | ${ratio} | ${
        formatNumber(row.serverCpu)
      } | ${formatNumber(row.loadgenCpu)} |`,
    );
  }
  if (rows.length > 0) {
    lines.push(
      "",
      "vs raw: frames/s over the raw echo of the same runtime (higher is better); " +
        "for ping-pong, p50 over the raw echo's p50 (lower is better); " +
        "the median of the ratios within each repetition.",
    );
  }
  if (clients.length > 0) lines.push("", ...clientTable(measurements, clients));
  console.log(lines.join("\n"));

  if (values.json) {
    const dump = JSON.stringify(
      {
        loadgen: loadgen.kind,
        reps,
        duration_ms: duration,
        clock_ticks_per_s: ticksPerSecond,
        measurements,
      },
      null,
      2,
    );
    if (values.json === "-") console.log(dump);
    else {
      await Deno.writeTextFile(values.json, dump + "\n");
      log(`wrote ${measurements.length} measurements to ${values.json}`);
    }
  }

  const failed = measurements.filter((m) => m.error).length;
  if (failed > 0) {
    log(`${failed} of ${measurements.length} measurements failed`);
    Deno.exitCode = 1;
  }
}

try {
  await main();
} catch (error) {
  if (!shuttingDown) {
    console.error(error instanceof Error ? error.message : error);
  }
  Deno.exitCode = 1;
} finally {
  await cleanup();
}
