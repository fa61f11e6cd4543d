// Everything the benchmark runner starts, its children and its scratch
// folder, in one registry so that no way out of the runner leaves any behind.
import { fileURLToPath } from "node:url";
import { signalTree } from "./_procfs.ts";

/** The repository, where every child runs unless told otherwise. */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const BENCH = `${ROOT}bench/`;

/** Every child this runner started and that may still run. */
const children = new Map<number, Deno.ChildProcess>();
/** Set once cleanup starts: nothing new is spawned after it. */
let shuttingDown = false;
let tempDir: string | undefined;

export function isShuttingDown(): boolean {
  return shuttingDown;
}

export function log(message: string): void {
  // Once shutting down, the failures of the measurement in progress are noise.
  if (!shuttingDown) console.error(`[bench] ${message}`);
}

export function spawn(
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

export function alive(child: Deno.ChildProcess): boolean {
  return children.has(child.pid);
}

export async function stop(child: Deno.ChildProcess): Promise<void> {
  if (!alive(child)) return;
  signalTree(child.pid, "SIGTERM");
  const exited = await within(child.status, 2000);
  if (!exited) {
    signalTree(child.pid, "SIGKILL");
    await within(child.status, 2000);
  }
}

/** The runner's scratch folder, made on first use and removed by `cleanup`. */
export async function scratchDir(): Promise<string> {
  return tempDir ??= await Deno.makeTempDir({ prefix: "tether-bench-" });
}

let cleaning: Promise<void> | undefined;
export function cleanup(): Promise<void> {
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

/** Cleans up on SIGINT, SIGTERM and SIGHUP, and kills any child left at exit. */
export function installCleanup(): void {
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    Deno.addSignalListener(signal, () => {
      if (!shuttingDown) {
        console.error(`[bench] ${signal}: stopping the servers`);
      }
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
}

/** `promise`'s value, or undefined after `ms`; the timer never lingers. */
export async function within<T>(
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
export class Tail {
  text = "";
  constructor(readonly limit = 4000) {}
  push(chunk: string): void {
    this.text = (this.text + chunk).slice(-this.limit);
  }
}

export function drain(
  stream: ReadableStream<Uint8Array>,
  tail: Tail,
): Promise<void> {
  return stream.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => tail.push(chunk) }),
  ).catch(() => {});
}
