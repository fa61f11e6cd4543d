// Helpers shared by the socket tests: the current runtime's adapter, echo
// servers, example processes and a seeded random source.
import type { Buffer } from "node:buffer";
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import {
  type Connection,
  listen,
  type ListenOptions,
  NetError,
  type Runtime,
  type Server,
} from "../mod.ts";
import { detectRuntime } from "../src/runtime/detect.ts";

export { prng as seeded } from "./framing/_chunking.ts";

export const runtime: Runtime = await detectRuntime();
export const HOST = "127.0.0.1";

/** A runtime whose connection attempts hang until they are aborted. */
export const hangingRuntime: Runtime = {
  name: "hanging",
  connect: ({ signal }) =>
    new Promise((_, reject) => {
      signal?.addEventListener("abort", () => reject(signal.reason), {
        once: true,
      });
    }),
  listen: () => {
    throw new Error("not used");
  },
};

/** Starts a server on 127.0.0.1 with a free port. */
export function serve(
  handler: ListenOptions["handler"],
  options: Partial<ListenOptions> = {},
): Promise<Server> {
  return listen({ hostname: HOST, port: 0, handler, ...options });
}

/** A port nothing listens on: it was free a moment ago. */
export async function closedPort(): Promise<number> {
  const listener = await runtime.listen({ hostname: HOST, port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** A handler that sends every frame back. */
export async function echo(conn: Connection): Promise<void> {
  for await (const frame of conn) conn.send(frame);
}

/** Collects `count` frames from a connection, then stops reading. */
export async function take(
  conn: Connection,
  count: number,
): Promise<Uint8Array[]> {
  const frames: Uint8Array[] = [];
  if (count === 0) return frames;
  for await (const frame of conn) {
    frames.push(frame);
    if (frames.length === count) break;
  }
  return frames;
}

/** Bytes 0..n-1 of a pattern that differs per `salt`. */
export function pattern(n: number, salt = 0): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let i = 0; i < n; i++) bytes[i] = (i * 31 + salt * 7 + (i >> 8)) & 0xff;
  return bytes;
}

/** Reads from a raw byte stream until `n` bytes have arrived. */
export async function readExactly(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  n: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let filled = 0;
  while (filled < n) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended after ${filled} of ${n} bytes`);
    out.set(value.subarray(0, n - filled), filled);
    if (value.byteLength > n - filled) {
      throw new Error(
        `received ${value.byteLength - (n - filled)} extra bytes`,
      );
    }
    filled += value.byteLength;
  }
  return out;
}

/** The root of the repository. */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));

const binaries = {
  deno: fileURLToPath(new URL("../node_modules/.bin/deno", import.meta.url)),
  bun: fileURLToPath(new URL("../node_modules/.bin/bun", import.meta.url)),
  // Node from PATH: `process.execPath` is Deno or Bun when they run the suite.
  node: "node",
};

/** Where to run an example, and with what. */
export type ExampleRuntime = keyof typeof binaries;

/** Every runtime an example can run on. */
export const EXAMPLE_RUNTIMES: ExampleRuntime[] = ["deno", "bun", "node"];

/** Arguments that run `script` on `runtime` with network access. */
export function exampleCommand(
  runtime: ExampleRuntime,
  script: string,
  args: string[],
): [string, string[]] {
  const path = `examples/${script}`;
  switch (runtime) {
    case "deno":
      return [
        binaries.deno,
        ["run", "--allow-net", "--allow-read", path, ...args],
      ];
    case "bun":
      return [binaries.bun, ["run", path, ...args]];
    case "node":
      // Node 20 runs TypeScript through tsx, a devDependency.
      return [binaries.node, ["--import", "tsx", path, ...args]];
  }
}

/** An example server process and the address it printed. */
export interface ExampleServer extends AsyncDisposable {
  readonly port: number;
  readonly firstLine: string;
  readonly child: ChildProcess;
}

/**
 * Starts an example server and waits for its first stdout line, which must
 * be `listening on HOST:PORT`.
 */
export function startExample(
  runtime: ExampleRuntime,
  script: string,
  args: string[],
): Promise<ExampleServer> {
  const [command, argv] = exampleCommand(runtime, script, args);
  const child = spawn(command, argv, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let stderr = "";
  child.stderr!.on("data", (data) => stderr += data);
  return new Promise((resolve, reject) => {
    let stdout = "";
    const onData = (data: Buffer) => {
      stdout += data;
      const newline = stdout.indexOf("\n");
      if (newline < 0) return;
      child.stdout!.off("data", onData);
      child.stdout!.resume();
      const firstLine = stdout.slice(0, newline);
      const port = Number(firstLine.match(/:(\d+)$/)?.[1]);
      resolve({
        port,
        firstLine,
        child,
        [Symbol.asyncDispose]: () => stop(child),
      });
    };
    child.stdout!.on("data", onData);
    child.on("exit", (code) =>
      reject(
        new Error(`${script} on ${runtime} exited (${code}) early: ${stderr}`),
      ));
  });
}

/** Stops a child process and waits for it to exit. */
export function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

/** Runs a command to completion with `input` on stdin. */
export function runToEnd(
  command: string,
  args: string[],
  input: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (data) => stdout += data);
    child.stderr!.on("data", (data) => stderr += data);
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin!.end(input);
  });
}

/**
 * Asserts that a read shows the peer hung up: the end of the stream, or a
 * reset, as a peer that aborts a connection closes it with one where it can.
 */
export async function hungUp(
  read: () => Promise<{ done?: boolean }>,
): Promise<void> {
  try {
    const { done } = await read();
    assert.ok(done, "nothing arrives");
  } catch (error) {
    assert.ok(
      error instanceof NetError && error.code === "ECONNRESET",
      String(error),
    );
  }
}
