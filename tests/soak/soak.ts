// A bounded soak test (about 35 s): 200 self-healing clients against
// examples/echo_server.ts in a child process on this same runtime, each
// sending a numbered frame every 20-50 ms, while random clients are closed
// and replaced and the server is killed (SIGKILL) once and restarted on the
// same port. Then it checks:
//
// - every echo is byte for byte a frame its client sent, none comes twice or
//   out of order, none is missing from the middle of a connection, and every
//   frame written on a live connection is echoed (frames in flight when a
//   link breaks may be lost: tether does not resend, see the README);
// - all clients reconnect after the restart and resume;
// - no leaked descriptors: /proc/self/fd after the cleanup against after the
//   warm-up (Linux only);
// - no leaked memory: RSS and JS heap after the cleanup (and the heap at the
//   end of the traffic) against a baseline taken with all clients running;
// - no leaked timers or sockets: the process exits by itself.
//
// Not part of the test suite (the name has no `_test`): `npm run soak` runs
// it on Deno and on Bun (tests/soak/run.mjs), `npx deno task soak` on Deno:
//
//     node_modules/.bin/deno run -A tests/soak/soak.ts
//     node_modules/.bin/bun run tests/soak/soak.ts
//
// SOAK_SEED=<n> seeds the random choices (churn, send intervals, payload
// sizes, backoff jitter); the network's timing is not reproducible. The last
// line is `soak <runtime>: OK ...` or `soak <runtime>: FAIL ...`, and the exit
// code is 0 only if all checks pass. On success nothing calls process.exit:
// if a timer or socket keeps the process alive, a watchdog (which alone would
// not) fails it after LINGER_MS.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readlinkSync } from "node:fs";
import process from "node:process";
import { setTimeout as unrefableTimeout } from "node:timers";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import {
  type Client,
  createClient,
  QueueFullError,
  StatusEvent,
  TetherError,
} from "../../mod.ts";
import { prng } from "../framing/_chunking.ts";

// ---------------------------------------------------------------- settings

const HOST = "127.0.0.1";
const CLIENTS = 200;
/** Traffic time, from the moment all first clients are open. */
const TRAFFIC_MS = 30_000;
/** When the memory baseline is taken (see `main`). */
const BASELINE_AT_MS = 3_000;
/** When the server is killed, and how long it stays down. */
const RESTART_AT_MS = 14_000;
const DOWN_MS = 300;
/** Every CHURN_EVERY_MS, 0 to CHURN_MAX random clients are closed and replaced. */
const CHURN_EVERY_MS = 250;
const CHURN_MAX = 5;
/** Each client sends one frame every SEND_MIN_MS to SEND_MAX_MS. */
const SEND_MIN_MS = 20;
const SEND_MAX_MS = 50;
const TICK_MS = 10;
const MAX_FILLER = 160;
/** Bounds of the phases that wait for something. */
const OPEN_TIMEOUT_MS = 10_000;
const RECOVERY_LIMIT_MS = 10_000;
const DRAIN_MS = 5_000;
const CLOSE_TIMEOUT_MS = 10_000;
const SERVER_START_MS = 10_000;
/** The whole run must end within this, or it fails. */
const DEADLINE_MS = 58_000;
/** After main returns, the process must be gone within this. */
const LINGER_MS = 5_000;
const FD_SLACK = 3;
const RSS_LIMIT = 0.10;
const HEAP_LIMIT = 0.15;

const SEED = Number(process.env.SOAK_SEED ?? 20_240_607) >>> 0;

// ----------------------------------------------------------------- runtime

type RuntimeName = "deno" | "bun" | "node";
const bunGlobal = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun;
const RUNTIME: RuntimeName | undefined = bunGlobal
  ? "bun"
  : "Deno" in globalThis
  ? "deno"
  : process.versions?.node
  ? "node"
  : undefined;
if (!RUNTIME) {
  console.error("soak: run me on Deno, Bun or Node");
  process.exit(2);
}
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BINARY = RUNTIME === "node" ? process.execPath : fileURLToPath(
  new URL(`../../node_modules/.bin/${RUNTIME}`, import.meta.url),
);

/** A full garbage collection, if this runtime lets us ask for one. */
const collect: (() => void) | undefined = (() => {
  if (bunGlobal) return () => bunGlobal.gc(true);
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  try {
    // Like --expose-gc, but from inside: Deno's node:v8 passes the flag on.
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as unknown;
    return typeof gc === "function" ? gc as () => void : undefined;
  } catch {
    return undefined;
  }
})();

const sleep = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Whether `promise` settled within `ms`; the timer never outlives it. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

interface Memory {
  rss: number;
  heap: number;
}

/**
 * Memory after full collections. The sample is taken right after the last
 * one: during traffic, even 100 ms of fresh garbage adds megabytes.
 */
async function measure(): Promise<Memory> {
  for (let i = 0; i < 3; i++) {
    collect?.();
    await sleep(100);
  }
  collect?.();
  const usage = process.memoryUsage();
  return { rss: usage.rss, heap: usage.heapUsed };
}

const FD_DIR = "/proc/self/fd";
/** The open file descriptors and what they point to, or undefined off Linux. */
function openFds(): Map<string, string> | undefined {
  try {
    const fds = new Map<string, string>();
    for (const fd of readdirSync(FD_DIR)) {
      let target = "?";
      try {
        target = readlinkSync(`${FD_DIR}/${fd}`);
      } catch {
        // The descriptor readdir itself used is gone by now.
        continue;
      }
      fds.set(fd, target);
    }
    return fds;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------ server

interface EchoServer {
  child: ChildProcess;
  port: number;
  /** Settles once the process is gone and its pipes are closed. */
  gone: Promise<void>;
}

let server: EchoServer | undefined;

/** Runs examples/echo_server.ts on this runtime and waits for its address. */
function startServer(port: number): Promise<EchoServer> {
  const script = "examples/echo_server.ts";
  const args = RUNTIME === "deno"
    ? ["run", "--allow-net", "--allow-read", script]
    : RUNTIME === "node"
    ? ["--import", "tsx", script]
    : ["run", script];
  const child = spawn(
    BINARY,
    [...args, "--host", HOST, "--port", String(port)],
    {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    },
  );
  const gone = new Promise<void>((resolve) => child.once("close", resolve));
  let stderr = "";
  child.stderr!.on("data", (data) => stderr = (stderr + data).slice(-2000));
  return new Promise((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`echo server: no address within ${SERVER_START_MS}ms`));
    }, SERVER_START_MS);
    const onData = (data: unknown) => {
      stdout += data;
      const newline = stdout.indexOf("\n");
      if (newline < 0) return;
      child.stdout!.off("data", onData);
      child.stdout!.resume();
      clearTimeout(timer);
      const line = stdout.slice(0, newline);
      const match = line.match(/^listening on .*:(\d+)$/);
      if (!match) {
        child.kill("SIGKILL");
        reject(new Error(`echo server said ${JSON.stringify(line)}`));
        return;
      }
      resolve({ child, port: Number(match[1]), gone });
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`echo server exited (${code ?? signal}) early: ${stderr}`),
      );
    });
  });
}

/** Starts the server on `port`, retrying while the port is still taken. */
async function restartServer(port: number): Promise<EchoServer> {
  for (let attempt = 1;; attempt++) {
    try {
      return await startServer(port);
    } catch (error) {
      if (attempt >= 20) throw error;
      await sleep(100);
    }
  }
}

async function killServer(signal: "SIGKILL" | "SIGTERM"): Promise<void> {
  const current = server;
  server = undefined;
  if (!current) return;
  current.child.kill(signal);
  if (!await within(current.gone, 3000)) {
    current.child.kill("SIGKILL");
    await within(current.gone, 3000);
  }
}

// ----------------------------------------------------------------- clients

interface Sent {
  bytes: Uint8Array;
  /** The number of the connection that carries it (see `sendOne`). */
  gen: number;
  failed: boolean;
}

interface Tracked {
  id: number;
  client: Client;
  random: () => number;
  seq: number;
  /** Frames sent and not yet echoed, in order of `seq`. */
  pending: Map<number, Sent>;
  lastEchoed: number;
  /** Connections opened so far. */
  opens: number;
  sending: boolean;
  nextAt: number;
  createdAt: number;
  echoesSinceRestart: number;
  /** When it was open again after the server crash. */
  backAt: number | undefined;
  reader: Promise<void>;
}

const totals = {
  created: 0,
  replaced: 0,
  sent: 0,
  written: 0,
  sendFailed: 0,
  queueFull: 0,
  echoes: 0,
  mismatches: 0,
  duplicates: 0,
  unknown: 0,
  /** Frames missing from the middle of one connection's echoes. */
  gaps: 0,
  /** Frames lost with a connection that broke (allowed by the README). */
  lostInFlight: 0,
  /** Frames not echoed when their client was closed on purpose. */
  lostOnClose: 0,
  reconnects: 0,
  unexpectedClose: 0,
  readerErrors: 0,
};
/** How long client.close() took: the slowest, and how many took 1 s or more. */
const closeTimes = { max: 0, slow: 0 };
const sendErrors = new Map<string, number>();
const problems: string[] = [];
function problem(message: string): void {
  if (problems.length < 20) problems.push(message);
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();
let killedAt = Infinity;
let restartedAt = Infinity;
/** When each client that was there at the crash was open again. */
const backTimes: number[] = [];
let nextId = 0;

function frameFor(t: Tracked, seq: number): Uint8Array {
  const size = Math.floor(t.random() * (MAX_FILLER + 1));
  let filler = "";
  for (let i = 0; i < size; i++) {
    filler += String.fromCharCode(97 + (t.id * 7 + seq * 13 + i) % 26);
  }
  return encoder.encode(`c${t.id}:${seq}:${filler}`);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function errorName(error: unknown): string {
  if (error instanceof TetherError) return error.code;
  return error instanceof Error ? error.name : typeof error;
}

function newClient(port: number, master: () => number): Tracked {
  const id = nextId++;
  const random = prng(Math.floor(master() * 2 ** 32));
  const jitter = prng(Math.floor(master() * 2 ** 32));
  const client = createClient({
    hostname: HOST,
    port,
    connectTimeout: 5000,
    reconnect: { minTimeout: 20, maxTimeout: 500 },
    random: jitter,
  });
  const now = performance.now();
  const t: Tracked = {
    id,
    client,
    random,
    seq: 0,
    pending: new Map(),
    lastEchoed: -1,
    opens: 0,
    sending: true,
    nextAt: now + random() * SEND_MAX_MS,
    createdAt: now,
    echoesSinceRestart: 0,
    backAt: undefined,
    reader: Promise.resolve(),
  };
  client.addEventListener("status", (event) => {
    if (!(event instanceof StatusEvent)) return;
    const { state, reason, error } = event.status;
    if (state === "open") {
      t.opens++;
      if (t.opens > 1) totals.reconnects++;
      const now = performance.now();
      if (t.createdAt < killedAt && now > killedAt && t.backAt === undefined) {
        t.backAt = now;
        backTimes.push(now);
      }
    } else if (state === "closed" && reason !== "closed") {
      totals.unexpectedClose++;
      problem(`client ${id} closed (${reason}): ${errorName(error)}`);
    }
  });
  t.reader = (async () => {
    try {
      for await (const frame of client) onEcho(t, frame);
    } catch (error) {
      totals.readerErrors++;
      problem(`client ${id} reader: ${errorName(error)} ${error}`);
    }
  })();
  totals.created++;
  return t;
}

function sendOne(t: Tracked): void {
  const seq = t.seq++;
  const bytes = frameFor(t, seq);
  // Client.send writes on the open connection at once, or queues the frame
  // for the next one, which opens (and flushes the queue) before the next
  // "open" status event: so this is the connection that will carry it.
  const conn = t.client.connection;
  const gen = conn && !conn.signal.aborted ? t.opens : t.opens + 1;
  const sent: Sent = { bytes, gen, failed: false };
  t.pending.set(seq, sent);
  totals.sent++;
  t.client.send(bytes).then(
    () => totals.written++,
    (error) => {
      const name = errorName(error);
      sendErrors.set(name, (sendErrors.get(name) ?? 0) + 1);
      if (error instanceof QueueFullError) {
        // Refused at once: never sent, so no echo is owed.
        totals.queueFull++;
        t.pending.delete(seq);
        return;
      }
      totals.sendFailed++;
      sent.failed = true;
    },
  );
}

function onEcho(t: Tracked, frame: Uint8Array): void {
  totals.echoes++;
  if (performance.now() >= restartedAt) t.echoesSinceRestart++;
  const match = decoder.decode(frame.subarray(0, 32)).match(/^c(\d+):(\d+):/);
  if (!match || Number(match[1]) !== t.id) {
    totals.unknown++;
    problem(`client ${t.id}: foreign echo ${JSON.stringify(match?.[0])}`);
    return;
  }
  const seq = Number(match[2]);
  if (seq <= t.lastEchoed) {
    // Echoes of one client come back in order, each once.
    totals.duplicates++;
    problem(
      `client ${t.id}: echo ${seq} again or late (after ${t.lastEchoed})`,
    );
    return;
  }
  const sent = t.pending.get(seq);
  if (!sent) {
    totals.unknown++;
    problem(`client ${t.id}: echo of frame ${seq}, never sent`);
    return;
  }
  if (!sameBytes(sent.bytes, frame)) {
    totals.mismatches++;
    problem(`client ${t.id}: echo of frame ${seq} differs from what was sent`);
  }
  // Frames before this one with no echo: lost with an earlier connection,
  // or a gap in this connection's stream (a bug: TCP loses no middle).
  for (const [earlier, lost] of t.pending) {
    if (earlier >= seq) break;
    t.pending.delete(earlier);
    if (lost.gen >= sent.gen) {
      totals.gaps++;
      problem(
        `client ${t.id}: frame ${earlier} (connection ${lost.gen}) has no echo but ${seq} (connection ${sent.gen}) has`,
      );
    } else {
      totals.lostInFlight++;
    }
  }
  t.pending.delete(seq);
  t.lastEchoed = seq;
}

/** Frames written on the current connection that still owe an echo. */
function owed(t: Tracked): number {
  let count = 0;
  for (const sent of t.pending.values()) {
    if (sent.gen === t.opens && !sent.failed) count++;
  }
  return count;
}

/** Closes a client on purpose and books its unanswered frames. */
async function retire(t: Tracked): Promise<void> {
  t.sending = false;
  const start = performance.now();
  await t.client.close();
  await t.reader;
  const ms = performance.now() - start;
  closeTimes.max = Math.max(closeTimes.max, ms);
  if (ms >= 1000) closeTimes.slow++;
  for (const sent of t.pending.values()) {
    if (sent.gen < t.opens) totals.lostInFlight++;
    else totals.lostOnClose++;
  }
  t.pending.clear();
}

// -------------------------------------------------------------------- main

interface Result {
  ok: boolean;
  line: string;
}

async function warmUp(): Promise<void> {
  // Brings up everything the runtime creates lazily (the event loop's and
  // child processes' descriptors, JIT code, socket paths) before the
  // descriptor baseline.
  server = await startServer(0);
  const random = prng(SEED ^ 0x5a5a5a5a);
  const few = Array.from({ length: 5 }, () => newClient(server!.port, random));
  await Promise.all(few.map((t) => t.client.waitFor("open")));
  for (let i = 0; i < 20; i++) for (const t of few) sendOne(t);
  const start = performance.now();
  while (few.some((t) => owed(t) > 0) && performance.now() - start < 3000) {
    await sleep(20);
  }
  await Promise.all(few.map(retire));
  await killServer("SIGKILL");
  // Both ways the run stops a server, twice: Deno opens a socket pair of its
  // own around the second child process.
  server = await startServer(0);
  await killServer("SIGTERM");
  // Warm-up clients do not count.
  for (const key of Object.keys(totals) as (keyof typeof totals)[]) {
    totals[key] = 0;
  }
  sendErrors.clear();
  problems.length = 0;
  closeTimes.max = 0;
  closeTimes.slow = 0;
}

async function main(): Promise<Result> {
  const t0 = performance.now();
  const elapsed = () => ((performance.now() - t0) / 1000).toFixed(1);
  const log = (message: string) =>
    console.log(`[${elapsed().padStart(5)}s] ${message}`);
  log(
    `soak on ${RUNTIME}: seed ${SEED}, ${CLIENTS} clients, ${TRAFFIC_MS}ms, gc ${
      collect ? "on" : "unavailable"
    }`,
  );

  await warmUp();
  const idle = await measure();
  const fdsBefore = openFds();
  log(
    `warm-up done: ${fdsBefore?.size ?? "?"} fds, rss ${mb(idle.rss)} MB idle`,
  );

  // The run.
  server = await startServer(0);
  const port = server.port;
  const master = prng(SEED);
  let live: Tracked[] = [];
  for (let i = 0; i < CLIENTS; i++) live.push(newClient(port, master));
  const allOpen = Promise.all(live.map((t) => t.client.waitFor("open")));
  if (!await within(allOpen, OPEN_TIMEOUT_MS)) {
    throw new Error(`not all ${CLIENTS} clients open in ${OPEN_TIMEOUT_MS}ms`);
  }
  log(`${CLIENTS} clients open on port ${port}`);

  const retiring = new Set<Promise<void>>();
  const trafficStart = performance.now();
  let sendTicks = 0;
  const ticker = setInterval(() => {
    sendTicks++;
    const now = performance.now();
    for (const t of live) {
      if (!t.sending) continue;
      // After a stall, skip the missed sends instead of bursting.
      if (t.nextAt < now - 200) t.nextAt = now;
      for (let n = 0; n < 3 && t.nextAt <= now; n++) {
        sendOne(t);
        t.nextAt += SEND_MIN_MS + t.random() * (SEND_MAX_MS - SEND_MIN_MS);
      }
    }
  }, TICK_MS);
  const churner = setInterval(() => {
    const count = Math.floor(master() * (CHURN_MAX + 1));
    for (let i = 0; i < count; i++) {
      const index = Math.floor(master() * live.length);
      const victim = live[index]!;
      live[index] = newClient(port, master);
      totals.replaced++;
      const done: Promise<void> = retire(victim).finally(() =>
        retiring.delete(done)
      );
      retiring.add(done);
    }
  }, CHURN_EVERY_MS);

  // A full collection every second during the traffic, with an RSS sample:
  // the trace shows a leak as a climb, and the collections keep garbage from
  // piling up. Without them Deno lets RSS reach 150-175 MB of garbage, and
  // how much of that V8 and malloc give back after the final collection
  // varies from run to run by more than the 10% allowed: noise, not a leak
  // (the heap and external memory return to the same values every time).
  const rssTrace: number[] = [];
  const sampler = setInterval(() => {
    collect?.();
    rssTrace.push(process.memoryUsage().rss);
  }, 1000);
  let baseline: Memory | undefined;
  let recoveryMs = NaN;
  let recoveryText = "";
  let openAtRestart = 0;
  try {
    await sleep(BASELINE_AT_MS);
    // The memory baseline: 200 clients connected and sending for a few
    // seconds, so the runtime's heap, its allocator and the JIT are at their
    // working size. What follows (most of the traffic, hundreds of replaced
    // clients, a restart that reconnects every client) must not grow it: an
    // idle baseline would only measure that allocators keep their peak.
    baseline = await measure();
    log(
      `baseline: rss ${mb(baseline.rss)} MB, heap ${
        mb(baseline.heap)
      } MB, ${totals.echoes} echoes so far`,
    );

    await sleep(trafficStart + RESTART_AT_MS - performance.now());
    openAtRestart = live.filter((t) => t.client.state === "open").length;
    log(`killing the server (SIGKILL), ${openAtRestart} clients open`);
    killedAt = performance.now();
    await killServer("SIGKILL");
    await sleep(DOWN_MS);
    server = await restartServer(port);
    restartedAt = performance.now();
    const reconnectsBefore = totals.reconnects;
    while (
      live.some((t) => t.client.state !== "open") &&
      performance.now() - restartedAt < RECOVERY_LIMIT_MS
    ) {
      await sleep(10);
    }
    recoveryMs = performance.now() - restartedAt;
    const back = backTimes.map((at) => Math.max(0, at - restartedAt)).sort((
      a,
      b,
    ) => a - b);
    const pct = (p: number) =>
      (back[Math.min(back.length - 1, Math.floor(back.length * p))] ?? NaN)
        .toFixed(0);
    recoveryText = `p50 ${pct(0.5)}ms, p95 ${pct(0.95)}ms, max ${pct(1)}ms`;
    log(
      `server back on port ${server.port}; ${
        live.filter((t) => t.client.state === "open").length
      }/${live.length} clients open again after ${recoveryMs.toFixed(0)}ms (${
        totals.reconnects - reconnectsBefore
      } reconnects; per client ${recoveryText})`,
    );

    await sleep(trafficStart + TRAFFIC_MS - performance.now());
  } finally {
    clearInterval(ticker);
    clearInterval(churner);
    clearInterval(sampler);
  }
  for (const t of live) t.sending = false;
  const trafficMs = performance.now() - trafficStart;
  log(
    `traffic stopped: ${totals.sent} sent, ${totals.echoes} echoes, ${totals.replaced} replaced, ${sendTicks} ticks`,
  );

  // Drain: every frame written on a live connection owes an echo.
  const drainStart = performance.now();
  while (
    live.some((t) => owed(t) > 0) &&
    performance.now() - drainStart < DRAIN_MS
  ) {
    await sleep(20);
  }
  const unanswered = live.reduce((sum, t) => sum + owed(t), 0);
  const notOpen = live.filter((t) => t.client.state !== "open").length;
  const drainMs = performance.now() - drainStart;
  const notResumed =
    live.filter((t) => t.createdAt < restartedAt && t.echoesSinceRestart === 0)
      .length;
  const atEnd = await measure();
  log(
    `drained in ${
      drainMs.toFixed(0)
    }ms: ${unanswered} echoes missing, ${notOpen} clients not open, rss ${
      mb(atEnd.rss)
    } MB`,
  );

  // Cleanup.
  const finalClose = Promise.all(live.map(retire));
  const closedInTime = await within(
    Promise.all([finalClose, ...retiring]),
    CLOSE_TIMEOUT_MS,
  );
  live = [];
  await killServer("SIGTERM");
  log(`clients closed${closedInTime ? "" : " (TIMED OUT)"}, server stopped`);
  await sleep(300);
  const after = await measure();
  const fdsAfter = openFds();

  // Verdict.
  const failures: string[] = [];
  const fail = (cond: boolean, message: string) => {
    if (cond) failures.push(message);
  };
  fail(totals.mismatches > 0, `${totals.mismatches} echoes differ from sent`);
  fail(totals.duplicates > 0, `${totals.duplicates} duplicate/late echoes`);
  fail(totals.unknown > 0, `${totals.unknown} unknown echoes`);
  fail(totals.gaps > 0, `${totals.gaps} frames lost mid-connection`);
  fail(unanswered > 0, `${unanswered} written frames never echoed`);
  fail(notOpen > 0, `${notOpen} clients not open at the end`);
  fail(notResumed > 0, `${notResumed} clients never resumed after restart`);
  fail(
    !(recoveryMs < RECOVERY_LIMIT_MS),
    `clients not all back within ${RECOVERY_LIMIT_MS}ms of the restart`,
  );
  fail(totals.unexpectedClose > 0, `${totals.unexpectedClose} clients gave up`);
  fail(totals.readerErrors > 0, `${totals.readerErrors} reader errors`);
  fail(totals.queueFull > 0, `${totals.queueFull} frames refused (queue full)`);
  fail(
    totals.echoes < totals.sent * 0.9,
    `only ${totals.echoes} of ${totals.sent} frames echoed`,
  );
  fail(!closedInTime, `clients not closed within ${CLOSE_TIMEOUT_MS}ms`);
  let fdText = "fds n/a (no /proc)";
  if (fdsBefore && fdsAfter) {
    fdText = `fds ${fdsBefore.size}→${fdsAfter.size}`;
    const added = [...fdsAfter].filter(([fd, target]) =>
      fdsBefore.get(fd) !== target
    ).map(([fd, target]) => `${fd}→${target}`);
    if (added.length > 0) {
      log(`fds new since the baseline: ${added.join(", ")}`);
    }
    if (fdsAfter.size > fdsBefore.size + FD_SLACK) {
      failures.push(
        `${fdsAfter.size - fdsBefore.size} more fds: ${
          added.slice(0, 10).join(", ")
        }`,
      );
    }
  }
  // With the same 200 clients, 10 times the traffic of the baseline and a
  // reconnection of every client must leave no more live JS memory.
  const heapGrowth = atEnd.heap / baseline!.heap - 1;
  fail(
    heapGrowth > HEAP_LIMIT,
    `heap grew ${
      (heapGrowth * 100).toFixed(1)
    }% during the traffic with the same ${CLIENTS} clients (limit ${
      HEAP_LIMIT * 100
    }%)`,
  );
  const growth = after.rss / baseline!.rss - 1;
  fail(
    growth > RSS_LIMIT,
    `rss grew ${(growth * 100).toFixed(1)}% (limit ${RSS_LIMIT * 100}%)`,
  );
  // The JS heap is the sharper leak detector: it holds every client,
  // connection, listener and timer callback, and after a full collection
  // only the live ones. With no client left it must be below the baseline.
  fail(
    after.heap > baseline!.heap,
    `heap grew from ${mb(baseline!.heap)} to ${mb(after.heap)} MB`,
  );

  log(
    `totals: ${totals.sent} frames sent, ${totals.written} written, ${totals.echoes} echoes (mismatched/duplicate/unknown/gaps ${totals.mismatches}/${totals.duplicates}/${totals.unknown}/${totals.gaps}), ${totals.sendFailed} sends failed ${
      JSON.stringify(Object.fromEntries(sendErrors))
    }, ${totals.lostInFlight} lost with a broken link, ${totals.lostOnClose} unanswered at close`,
  );
  log(
    `clients: ${totals.created} created, ${totals.replaced} replaced, ${totals.reconnects} reconnects (${openAtRestart} open at the restart, back in ${
      recoveryMs.toFixed(0)
    }ms); ${
      (totals.echoes / (trafficMs / 1000)).toFixed(0)
    } echoes/s; close() took up to ${
      closeTimes.max.toFixed(0)
    }ms, ${closeTimes.slow} took ≥1s`,
  );
  log(
    `memory: rss ${mb(idle.rss)} idle → ${mb(baseline!.rss)} baseline → ${
      mb(atEnd.rss)
    } end of traffic → ${mb(after.rss)} MB after cleanup; heap ${
      mb(baseline!.heap)
    } → ${mb(atEnd.heap)} → ${mb(after.heap)} MB`,
  );
  log(
    `rss each 2 s during the traffic (MB): ${
      rssTrace.filter((_, i) => i % 2 === 1).map((rss) => mb(rss, 0)).join(" ")
    }`,
  );
  for (const message of problems) log(`  problem: ${message}`);
  const sign = growth < 0 ? "−" : "+";
  const summary = `${totals.echoes} echoes, ${
    totals.mismatches + totals.duplicates + totals.unknown + totals.gaps
  } mismatches, ${fdText}, rss ${mb(baseline!.rss)}→${
    mb(after.rss)
  } MB (${sign}${Math.abs(growth * 100).toFixed(0)}%), ${elapsed()}s`;
  return failures.length === 0
    ? { ok: true, line: `soak ${RUNTIME}: OK ${summary}` }
    : {
      ok: false,
      line: `soak ${RUNTIME}: FAIL ${failures.join("; ")} | ${summary}`,
    };
}

function mb(bytes: number, digits = 1): string {
  return (bytes / 2 ** 20).toFixed(digits);
}

/** Fails the run from a timer: kills the server so nothing is left behind. */
function abandon(message: string): never {
  server?.child.kill("SIGKILL");
  console.log(`soak ${RUNTIME}: FAIL ${message}`);
  process.exit(1);
}

const deadline = setTimeout(
  () => abandon(`still running after ${DEADLINE_MS}ms`),
  DEADLINE_MS,
);

let result: Result;
try {
  result = await main();
} catch (error) {
  server?.child.kill("SIGKILL");
  result = {
    ok: false,
    line: `soak ${RUNTIME}: FAIL ${
      error instanceof Error ? error.stack : error
    }`,
  };
}
clearTimeout(deadline);
console.log(result.line);
if (!result.ok) process.exitCode = 1;
// No process.exit: the process must end by itself now. If a timer or a socket
// leaked, this watchdog (which alone would not keep it alive) fires.
unrefableTimeout(
  () =>
    abandon(
      `the process did not exit within ${LINGER_MS}ms of the end: a timer or socket leaked`,
    ),
  LINGER_MS,
).unref();
