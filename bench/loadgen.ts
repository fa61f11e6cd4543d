/**
 * The load generator, on Bun (whose sockets cost the least CPU of the JS
 * runtimes), with the semantics of the yardstick's Go loadgen so that the
 * numbers compare:
 *
 *     node_modules/.bin/bun run bench/loadgen.ts --addr 127.0.0.1:PORT \
 *       --mode lp --size 64 --pipeline 64 --conns 1 --duration 3000
 *
 * Each of `--conns` connections keeps `--pipeline` messages in flight. When
 * echoes free tokens, the writer takes every free token and writes that many
 * frames in one `write`. The reader compares every echoed byte with the frame
 * it sent (header included, so a server that loses frame boundaries shows up
 * as a mismatch) and records each message's round-trip time (the first
 * 65 536 per connection, as the Go loadgen does). After `--duration` ms no
 * more messages are sent; those in flight have 5 s to come back.
 *
 * Prints one JSON line: msgs_per_s, mb_per_s (payload bytes, 10^6), p50_us,
 * p99_us, errors, mismatch, plus the settings, `seconds` (wall time from the
 * first connect to the last echo), `msgs` and `cpu_s` (this process's CPU).
 * Exits 1 on any error or mismatch.
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { parseArgs } from "node:util";
import { fail, intFlag } from "./_cli.ts";

// The slice of Bun's socket API used here, declared so that `deno check`
// passes without Bun's type package.
interface Socket {
  write(data: Uint8Array): number;
  end(): void;
  terminate(): void;
  setNoDelay(noDelay?: boolean): boolean;
}
interface Handlers {
  binaryType: "uint8array";
  open(socket: Socket): void;
  data(socket: Socket, data: Uint8Array): void;
  drain(socket: Socket): void;
  end(socket: Socket): void;
  close(socket: Socket, error?: Error): void;
  error(socket: Socket, error: Error): void;
  connectError(socket: Socket, error: Error): void;
}
interface BunConnect {
  connect(options: {
    hostname: string;
    port: number;
    socket: Handlers;
  }): Promise<Socket>;
}
const Bun = (globalThis as unknown as { Bun: BunConnect }).Bun;

const USAGE = "usage: loadgen.ts --addr HOST:PORT [--mode lp|line] " +
  "[--size 64] [--pipeline 1] [--conns 1] [--duration 3000]";
const CONNECT_TIMEOUT = 5000;
const DRAIN_TIMEOUT = 5000;
const MAX_SAMPLES_PER_CONN = 1 << 16;

let values;
try {
  ({ values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      addr: { type: "string", default: "127.0.0.1:7000" },
      mode: { type: "string", default: "lp" },
      size: { type: "string", default: "64" },
      pipeline: { type: "string", default: "1" },
      conns: { type: "string", default: "1" },
      duration: { type: "string", default: "3000" },
    },
  }));
} catch (error) {
  fail(USAGE, error instanceof Error ? error.message : String(error));
}
const mode = values.mode;
if (mode !== "lp" && mode !== "line") fail(USAGE, "--mode must be lp or line");
const size = intFlag(USAGE, "size", values.size, 0);
const pipeline = intFlag(USAGE, "pipeline", values.pipeline, 1);
const conns = intFlag(USAGE, "conns", values.conns, 1);
const duration = intFlag(USAGE, "duration", values.duration, 1);
const colon = values.addr.lastIndexOf(":");
const hostname = values.addr.slice(0, colon).replace(/^\[|\]$/g, "");
const port = intFlag(USAGE, "addr port", values.addr.slice(colon + 1), 1);

/** The wire frame of connection `id`: the Go loadgen's payload pattern. */
function frameFor(id: number): Uint8Array {
  const header = mode === "lp" ? 4 : 0;
  const frame = new Uint8Array(header + size + (mode === "line" ? 1 : 0));
  if (mode === "lp") new DataView(frame.buffer).setUint32(0, size);
  for (let j = 0; j < size; j++) frame[header + j] = 97 + (j + id) % 26;
  if (mode === "line") frame[size] = 10;
  return frame;
}

let msgs = 0;
let errors = 0;
let mismatch = 0;
const latencies: number[] = [];

/** Drives one connection; resolves when it is finished, never rejects. */
function runConnection(id: number, deadline: number): Promise<void> {
  const frame = frameFor(id);
  const frameLength = frame.byteLength;
  const frameBuffer = Buffer.from(frame.buffer, 0, frameLength);
  // `pipeline` copies of the frame back to back: a batch of n frames is a
  // view of the first n, so writing allocates nothing.
  const batch = new Uint8Array(frameLength * pipeline);
  for (let k = 0; k < pipeline; k++) batch.set(frame, k * frameLength);
  // Send times of the messages in flight, oldest first (a ring).
  const sentAt = new Float64Array(pipeline);
  let head = 0;
  let inFlight = 0;
  let tokens = pipeline;
  let pending: Uint8Array | undefined; // the unwritten rest of a batch
  let position = 0; // bytes of the current echoed frame received so far
  let frameBad = false;
  const samples: number[] = [];
  let finished = false;
  let socket: Socket | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => resolveDone = resolve);

  const finish = (error: boolean) => {
    if (finished) return;
    finished = true;
    if (error) errors++;
    clearTimeout(timer);
    for (const sample of samples) latencies.push(sample);
    if (socket) {
      if (error) socket.terminate();
      else socket.end();
    }
    resolveDone();
  };

  const write = (s: Socket) => {
    if (finished) return;
    if (pending) {
      const n = s.write(pending);
      if (n < pending.byteLength) {
        pending = pending.subarray(Math.max(n, 0));
        return; // Wait for drain.
      }
      pending = undefined;
    }
    const now = performance.now();
    if (now >= deadline) {
      // Sending is over; the deadline timer bounds the wait for the rest.
      if (inFlight === 0) finish(false);
      return;
    }
    if (tokens === 0) return;
    const n = tokens;
    tokens = 0;
    for (let k = 0; k < n; k++) {
      sentAt[(head + inFlight + k) % pipeline] = now;
    }
    inFlight += n;
    const chunk = batch.subarray(0, n * frameLength);
    const written = s.write(chunk);
    if (written < chunk.byteLength) {
      pending = chunk.subarray(Math.max(written, 0));
    }
  };

  const read = (data: Uint8Array) => {
    let offset = 0;
    const length = data.byteLength;
    while (offset < length) {
      const take = Math.min(length - offset, frameLength - position);
      if (take <= 64) {
        for (let i = 0; i < take; i++) {
          if (data[offset + i] !== frame[position + i]) {
            frameBad = true;
            break;
          }
        }
      } else if (
        Buffer.compare(
          data.subarray(offset, offset + take),
          frameBuffer.subarray(position, position + take),
        ) !== 0
      ) {
        frameBad = true;
      }
      offset += take;
      position += take;
      if (position < frameLength) break;
      // A whole echoed frame.
      position = 0;
      if (inFlight === 0) {
        // More bytes than were sent: the server is broken.
        frameBad = false;
        mismatch++;
        finish(true);
        return;
      }
      if (frameBad) {
        mismatch++;
        frameBad = false;
      }
      msgs++;
      if (samples.length < MAX_SAMPLES_PER_CONN) {
        samples.push(performance.now() - sentAt[head]!);
      }
      head = (head + 1) % pipeline;
      inFlight--;
      tokens++;
    }
  };

  timer = setTimeout(() => finish(true), CONNECT_TIMEOUT);
  Bun.connect({
    hostname,
    port,
    socket: {
      binaryType: "uint8array",
      open(s) {
        if (finished) {
          s.terminate();
          return;
        }
        socket = s;
        s.setNoDelay(true);
        // At the deadline, stop sending and give what is in flight
        // DRAIN_TIMEOUT ms to come back, even if the server has gone silent.
        clearTimeout(timer);
        timer = setTimeout(() => {
          if (inFlight === 0) finish(false);
          else timer = setTimeout(() => finish(true), DRAIN_TIMEOUT);
        }, Math.max(0, deadline - performance.now()));
        write(s);
      },
      data(s, data) {
        if (finished) return;
        read(data);
        write(s);
      },
      drain(s) {
        write(s);
      },
      end() {
        // The server closed its side early.
        finish(inFlight > 0 || performance.now() < deadline);
      },
      close() {
        finish(inFlight > 0 || performance.now() < deadline);
      },
      error() {
        finish(true);
      },
      connectError() {
        finish(true);
      },
    },
  }).catch(() => finish(true));
  return done;
}

const cpuStart = process.cpuUsage();
const start = performance.now();
const deadline = start + duration;
await Promise.all(
  Array.from({ length: conns }, (_, id) => runConnection(id, deadline)),
);
const seconds = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpuStart);

latencies.sort((a, b) => a - b);
const percentile = (p: number): number =>
  latencies.length === 0
    ? 0
    : Math.floor(latencies[Math.floor(p * (latencies.length - 1))]! * 1000);

console.log(JSON.stringify({
  mode,
  conns,
  size,
  pipeline,
  seconds,
  msgs,
  msgs_per_s: msgs / seconds,
  mb_per_s: msgs * size / seconds / 1e6,
  p50_us: percentile(0.5),
  p99_us: percentile(0.99),
  errors,
  mismatch,
  cpu_s: (cpu.user + cpu.system) / 1e6,
  loadgen: "bun",
}));
process.exit(errors > 0 || mismatch > 0 ? 1 : 0);
