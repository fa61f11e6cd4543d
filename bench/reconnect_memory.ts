/**
 * Memory of a reconnecting client: does a client with heartbeats and a
 * long-lived `signal` keep a flat resident set size (RSS) over many
 * reconnections? Runs unchanged on Deno, Bun and Node:
 *
 *     node_modules/.bin/deno run -A --v8-flags=--expose-gc bench/reconnect_memory.ts
 *     node_modules/.bin/bun run bench/reconnect_memory.ts
 *     node --expose-gc --import tsx bench/reconnect_memory.ts
 *       [--cycles 10000] [--warmup 1000] [--every 1000] [--max-time 300000]
 *       [--no-heartbeat] [--no-signal]
 *
 * A tether server on 127.0.0.1 answers one frame per connection and hangs
 * up; one `createClient()` (heartbeats every second, no wait between
 * attempts, an `AbortController`'s signal that lives as long as the client)
 * reconnects at once. A cycle is one `open` status of the client: send a
 * frame, read its answer, let the server's hang-up start the next one.
 *
 * After `--warmup` cycles, every `--every` cycles and at the end, the script
 * collects garbage where the runtime lets it (`gc` exposed by the flags above,
 * `Bun.gc` on Bun), reads `process.memoryUsage()` and prints a line. The last
 * line gives the growth of RSS and of the used heap from the warm-up sample to
 * the end, in MB (10^6 bytes), and over the second half of the run alone,
 * where a leak still grows but the warm-up of the runtime's allocator (RSS
 * rising for the first few thousand cycles, then flat) no longer shows.
 * `--no-heartbeat` runs the client without heartbeats and `--no-signal`
 * without the signal, to tell which of the two the growth comes with.
 *
 * Exits 0 after `--cycles` cycles; 1 if a cycle goes wrong or `--max-time`
 * ms pass first (the figures so far are printed); 2 on a bad flag.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { createClient, listen, StatusEvent } from "../mod.ts";
import { detectRuntime } from "../src/runtime/mod.ts";

const USAGE =
  "usage: reconnect_memory.ts [--cycles 10000] [--warmup 1000] [--every 1000] [--max-time 300000] [--no-heartbeat] [--no-signal]";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    cycles: { type: "string", default: "10000" },
    warmup: { type: "string", default: "1000" },
    every: { type: "string", default: "1000" },
    "max-time": { type: "string", default: "300000" },
    "no-heartbeat": { type: "boolean", default: false },
    "no-signal": { type: "boolean", default: false },
  },
});

function intFlag(name: string, raw: string, min: number): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    console.error(
      `--${name} must be an integer of at least ${min}: got ${raw}\n\n${USAGE}`,
    );
    process.exit(2);
  }
  return value;
}

const cycles = intFlag("cycles", values.cycles, 1);
const warmup = intFlag("warmup", values.warmup, 0);
const every = intFlag("every", values.every, 1);
const maxTime = intFlag("max-time", values["max-time"], 1);
const heartbeat = !values["no-heartbeat"];
const withSignal = !values["no-signal"];
if (warmup >= cycles) {
  console.error(`--warmup must be below --cycles\n\n${USAGE}`);
  process.exit(2);
}

const runtime = (await detectRuntime()).name;
const started = performance.now();
const seconds = () => (performance.now() - started) / 1000;

const global = globalThis as {
  gc?: () => void;
  Bun?: { gc?: (force: boolean) => void };
};
// Bun has no `gc` global, but a synchronous `Bun.gc(true)`.
const bunGc = global.Bun?.gc;
const forceGc = global.gc ?? (bunGc ? () => bunGc(true) : undefined);
if (!forceGc) {
  console.error(
    "reconnect_memory: no gc exposed, the samples include uncollected garbage",
  );
}

interface Sample {
  cycle: number;
  rss: number;
  heap: number;
}

const MB = 1e6;
const mb = (bytes: number) => (bytes / MB).toFixed(1);

/** Collects garbage if the runtime allows, then reads the memory figures. */
async function sample(cycle: number): Promise<Sample> {
  if (forceGc) {
    // Several rounds with a turn of the event loop between them: weak
    // references are cleared and finalizers run only after the current task.
    for (let round = 0; round < 3; round++) {
      forceGc();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  const { rss, heapUsed, heapTotal } = process.memoryUsage();
  const taken = { cycle, rss, heap: heapUsed };
  // The heap's reserved size, next to what it uses: RSS that grows with it
  // while the used heap stays flat is the runtime sizing its heap, not a leak.
  console.log(
    `sample cycle=${cycle} rss=${mb(rss)} MB heap=${mb(heapUsed)} MB ` +
      `heap_total=${mb(heapTotal)} MB t=${seconds().toFixed(1)} s`,
  );
  return taken;
}

let serverErrors = 0;
const server = await listen({
  hostname: "127.0.0.1",
  port: 0,
  heartbeat: true,
  // Counted, not logged: a peer going away is part of the exercise.
  onError: () => serverErrors++,
  // One answer, then the handler returns and the server hangs up, so the
  // client reconnects at once.
  handler: async (conn) => {
    for await (const frame of conn) {
      await conn.send(frame);
      break;
    }
  },
});

const controller = new AbortController();
const client = createClient({
  hostname: "127.0.0.1",
  port: server.addr.port,
  heartbeat: heartbeat ? { interval: 1000, timeout: 500 } : false,
  // No wait between attempts and no growing backoff: each cycle is as fast
  // as loopback allows.
  reconnect: { minTimeout: 0, maxTimeout: 0, jitter: 0, minUptime: 0 },
  ...(withSignal ? { signal: controller.signal } : {}),
});

let opens = 0;
let onOpen: (() => void) | undefined;
client.addEventListener("status", (event) => {
  if (event instanceof StatusEvent && event.status.state === "open") {
    opens++;
    onOpen?.();
  }
});

/** Resolves once the client has been open `count` times. */
function opened(count: number): Promise<void> {
  if (opens >= count) return Promise.resolve();
  return new Promise((resolve) => {
    onOpen = () => {
      if (opens < count) return;
      onOpen = undefined;
      resolve();
    };
  });
}

// The run stops early past `--max-time`, or if the client closes by itself.
// The pending step is rejected through its own callback: a race against one
// long-lived promise would leave a reaction on it per step, a leak of the
// benchmark's own.
let stopped: Error | undefined;
let abandon: ((error: Error) => void) | undefined;
function halt(error: Error): void {
  stopped ??= error;
  abandon?.(stopped);
}
function guard<T>(promise: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (stopped) return reject(stopped);
    abandon = reject;
    promise.then(resolve, reject);
  });
}
const deadlineTimer = setTimeout(
  () => halt(new Error(`--max-time of ${maxTime} ms reached`)),
  maxTime,
);
void client.closed.then((status) =>
  halt(
    new Error(`the client closed (${status.reason})`, { cause: status.error }),
  )
);

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const frames = client[Symbol.asyncIterator]();
const samples: Sample[] = [];
let done = 0;
let failure: unknown;

try {
  if (warmup === 0) samples.push(await sample(0));
  for (let cycle = 1; cycle <= cycles; cycle++) {
    await guard(opened(cycle));
    const text = `cycle ${cycle}`;
    await guard(client.send(encoder.encode(text)));
    const reply = await guard(frames.next());
    if (reply.done || decoder.decode(reply.value) !== text) {
      throw new Error(`cycle ${cycle}: the answer is not the frame sent`);
    }
    done = cycle;
    if (cycle === warmup || (cycle > warmup && cycle % every === 0)) {
      samples.push(await sample(cycle));
    }
  }
} catch (error) {
  failure = error;
}
if (failure !== undefined && done > warmup && samples.at(-1)?.cycle !== done) {
  samples.push(await sample(done));
}
clearTimeout(deadlineTimer);

const warm = samples[0];
const end = samples.at(-1);
if (warm && end) {
  // A leak grows as much in the second half of the run as in the first; the
  // allocator's warm-up shows in the first half only.
  const half = samples.find((taken) =>
    taken.cycle >= (warm.cycle + end.cycle) / 2
  ) ?? end;
  console.log(
    `reconnect_memory: runtime=${runtime} cycles=${done} rss_warm=${
      mb(warm.rss)
    } MB rss_end=${mb(end.rss)} MB growth=${mb(end.rss - warm.rss)} MB ` +
      `heap_growth=${mb(end.heap - warm.heap)} MB growth_2nd_half=${
        mb(end.rss - half.rss)
      } MB heap_growth_2nd_half=${mb(end.heap - half.heap)} MB heartbeat=${
        heartbeat ? "on" : "off"
      } signal=${withSignal ? "on" : "off"} gc=${
        forceGc ? "forced" : "unavailable"
      } opens=${opens} server_errors=${serverErrors} seconds=${
        seconds().toFixed(1)
      }`,
  );
} else {
  console.log(
    `reconnect_memory: runtime=${runtime} cycles=${done} (stopped before the warm-up sample)`,
  );
}
if (failure !== undefined) console.error("reconnect_memory failed:", failure);

// Closing is bounded too: a stuck close must not keep the run alive.
const closing = Promise.all([client.close(), server.close()]);
const closed = await Promise.race([
  closing.then(() => true, () => false),
  new Promise<false>((resolve) => setTimeout(() => resolve(false), 5000)),
]);
if (!closed) {
  controller.abort();
  console.error("reconnect_memory: closing took more than 5 s");
}
process.exit(failure === undefined && closed ? 0 : 1);
