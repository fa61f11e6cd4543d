// `--workers N` for the example servers: N processes of the same script on
// the same runtime, each listening on the same port with `reusePort: true`,
// under a parent that starts, restarts and stops them. Each runtime starts
// them with its own process API: `Deno.Command` on Deno, `Bun.spawn` on Bun,
// `node:child_process` on Node.
import { spawn as spawnNode } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { Server } from "../mod.ts";

/** A wait before a dead worker is started again, in milliseconds. */
const RESTART_DELAY = 200;
/** The window over which restarts are counted, in milliseconds. */
const RESTART_WINDOW = 10_000;

type StopSignal = "SIGINT" | "SIGTERM";
interface ExitStatus {
  code: number | null;
  signal: string | null;
}

/** A started worker: its stdout lines, its end, and signals to it. */
interface Child {
  readonly pid: number;
  readonly stdout: AsyncIterable<Uint8Array>;
  readonly exited: Promise<ExitStatus>;
  kill(signal: StopSignal | "SIGKILL"): void;
}

// The slice of Bun's process API used here, declared so that `deno check`
// passes without Bun's type package.
interface BunSpawn {
  spawn(command: string[], options: {
    stdin: "pipe";
    stdout: "pipe";
    stderr: "inherit";
  }): {
    pid: number;
    stdout: ReadableStream<Uint8Array>;
    exited: Promise<number>;
    exitCode: number | null;
    signalCode: string | null;
    kill(signal: string): void;
  };
}

/**
 * Starts `script` with `args` on the runtime running this one. Its stdin is
 * a pipe that the child never gets anything on: it ends when this process
 * does, however it ends, and the worker then stops (see `serveUntilStopped`).
 */
function spawnChild(script: string, args: string[]): Child {
  const bun = (globalThis as { Bun?: BunSpawn }).Bun;
  if ("Deno" in globalThis) {
    // A worker needs --unstable-net for `reusePort`; this process does not,
    // as it never listens, but it needs --allow-run to start them.
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--unstable-net",
        "--allow-net",
        "--allow-read",
        script,
        ...args,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    return {
      pid: child.pid,
      stdout: child.stdout,
      exited: child.status.then(({ code, signal }) => ({
        code: signal === null ? code : null,
        signal,
      })),
      kill: (signal) => child.kill(signal),
    };
  }
  if (bun) {
    const child = bun.spawn([process.execPath, script, ...args], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    });
    return {
      pid: child.pid,
      stdout: child.stdout,
      exited: child.exited.then(() => ({
        code: child.exitCode,
        signal: child.signalCode,
      })),
      kill: (signal) => child.kill(signal),
    };
  }
  // Node: the flags it runs with, such as `--import tsx`, go to the workers.
  const child = spawnNode(
    process.execPath,
    [...process.execArgv, script, ...args],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  return {
    pid: child.pid!,
    stdout: child.stdout!,
    exited: new Promise((resolve) =>
      child.once("exit", (code, signal) => resolve({ code, signal }))
    ),
    kill: (signal) => child.kill(signal),
  };
}

async function* lines(chunks: AsyncIterable<Uint8Array>) {
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of chunks) {
    text += decoder.decode(chunk, { stream: true });
    let newline;
    while ((newline = text.indexOf("\n")) >= 0) {
      yield text.slice(0, newline);
      text = text.slice(newline + 1);
    }
  }
  if (text !== "") yield text;
}

function describe({ code, signal }: ExitStatus): string {
  return signal === null ? `code ${code}` : signal;
}

/** A worker and the first line it printed, once it printed one. */
interface Worker {
  child: Child;
  /** `listening on HOST:PORT`, or undefined if it ended without. */
  listening: Promise<string | undefined>;
  /** Copies its further lines to stdout. */
  forward(): Promise<void>;
}

const LISTENING = /^listening on (.+):(\d+)$/;

/**
 * Runs the example `script` (its `import.meta.url`) as `count` workers and
 * exits once they have all ended; never returns. Every worker gets this
 * process's flags plus `--worker`; the first picks the port if `--port 0`
 * asks for a free one, the others get that port. Once all listen, this
 * process prints the first one's `listening on HOST:PORT`, and then every
 * worker's further stdout lines.
 *
 * SIGINT and SIGTERM go to every worker, which close gracefully; a second
 * one kills them. A worker that ends otherwise is started again after
 * {@linkcode RESTART_DELAY} ms, up to `count` times within 10 s: past that,
 * the rest are stopped and this process exits with 1. A worker that cannot
 * start (the library refuses an option, the port is taken) ends it all with
 * the worker's own exit code; the worker has said why on stderr.
 */
export async function superviseWorkers(
  script: string,
  count: number,
  onStop: () => void = () => {},
): Promise<never> {
  const path = fileURLToPath(script);
  const args = [...process.argv.slice(2), "--worker"];
  const live = new Set<Child>();
  let stopping: StopSignal | undefined;
  let exitCode = 0;

  const stopAll = (signal: StopSignal, code: number) => {
    if (stopping) return;
    stopping = signal;
    exitCode = code;
    for (const child of live) child.kill(signal);
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (stopping) {
        // A second signal: no more waiting.
        for (const child of live) child.kill("SIGKILL");
        process.exit(1);
      }
      onStop();
      stopAll(signal, 0);
    });
  }

  const start = (extra: string[]): Worker => {
    let child: Child;
    try {
      child = spawnChild(path, [...args, ...extra]);
    } catch (error) {
      // Deno without --allow-run, or no such executable.
      const reason = error instanceof Error ? error.message : String(error);
      console.error(`cannot start workers: ${reason}`);
      for (const other of live) other.kill("SIGKILL");
      return process.exit(1);
    }
    live.add(child);
    child.exited.then(() => live.delete(child));
    // A worker started while stopping may have missed the signal.
    if (stopping) child.kill(stopping);
    const output = lines(child.stdout)[Symbol.asyncIterator]();
    const listening = output.next().then(
      (line) =>
        line.done || !LISTENING.test(line.value) ? undefined : line.value,
      () => undefined,
    );
    const forward = async () => {
      if (await listening === undefined) return;
      try {
        for (let line; !(line = await output.next()).done;) {
          console.log(line.value);
        }
      } catch {
        // The pipe broke: the worker is gone.
      }
    };
    return { child, listening, forward };
  };

  /** Exits once every worker has ended, with the code of the first failure. */
  const exitWhenAllEnded = async (workers: Worker[]): Promise<never> => {
    await Promise.all(workers.map((worker) => worker.child.exited));
    while (live.size > 0) await Promise.race([...live].map((c) => c.exited));
    return process.exit(exitCode);
  };

  // The first worker picks the port.
  const first = start([]);
  const line = await first.listening;
  if (line === undefined) {
    const status = await first.child.exited;
    if (!stopping) exitCode = status.code || 1;
    return exitWhenAllEnded([first]);
  }
  const [, host, port] = line.match(LISTENING)!;
  const workers = [first];
  for (let i = 1; i < count; i++) workers.push(start(["--port", port!]));
  const started = await Promise.all(workers.map((w) => w.listening));
  const failed = started.indexOf(undefined);
  if (failed >= 0) {
    const status = await workers[failed]!.child.exited;
    stopAll("SIGTERM", status.code || 1);
    return exitWhenAllEnded(workers);
  }
  if (!stopping) console.log(`listening on ${host}:${port}`);

  const restarts: number[] = [];
  /** Keeps one worker's place filled until stopping. */
  const keep = async (worker: Worker): Promise<void> => {
    while (true) {
      void worker.forward();
      const status = await worker.child.exited;
      if (stopping) {
        // Ended by the signal before it could handle it: nothing was lost.
        if (status.code !== 0 && status.signal !== stopping && exitCode === 0) {
          exitCode = status.code ?? 1;
        }
        return;
      }
      const now = Date.now();
      while (restarts.length > 0 && restarts[0]! <= now - RESTART_WINDOW) {
        restarts.shift();
      }
      const pid = worker.child.pid;
      if (restarts.length >= count) {
        console.error(
          `worker ${pid} exited (${
            describe(status)
          }): ${restarts.length} restarts within ${
            RESTART_WINDOW / 1000
          } s, giving up`,
        );
        stopAll("SIGTERM", 1);
        return;
      }
      restarts.push(now);
      console.error(
        `worker ${pid} exited (${describe(status)}): restarting it`,
      );
      await new Promise((resolve) => setTimeout(resolve, RESTART_DELAY));
      if (stopping) return;
      worker = start(["--port", port!]);
    }
  };
  await Promise.all(workers.map(keep));
  return exitWhenAllEnded([]);
}

/**
 * Counts the connections `handler` is given, for `--verbose`.
 */
export function counted<T>(
  handler: (conn: T) => Promise<void>,
): { handler: (conn: T) => Promise<void>; accepted: () => number } {
  let accepted = 0;
  return {
    handler: (conn) => {
      accepted++;
      return handler(conn);
    },
    accepted: () => accepted,
  };
}

/**
 * Closes `server` gracefully and exits with 0 on a signal: alone, on the
 * first of `signals`, as before workers existed (a second SIGINT then ends
 * the process at once, as Ctrl-C does); as a worker, on SIGINT or SIGTERM,
 * however often they come (Ctrl-C reaches a worker from the terminal and from
 * the parent), and when stdin ends, as it does when the parent is gone.
 * `onStop` runs first when alone: the parent runs it for its workers.
 */
export function serveUntilStopped(
  server: Server,
  options: {
    signals: StopSignal[];
    worker: boolean;
    verbose: boolean;
    accepted: () => number;
    onStop?: () => void;
  },
): void {
  const { worker, verbose } = options;
  if (verbose) console.error(`worker ${process.pid} listening`);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!worker) options.onStop?.();
    await server.close();
    if (verbose) {
      console.error(
        `worker ${process.pid} accepted ${options.accepted()} connections`,
      );
    }
    process.exit(0);
  };
  if (!worker) {
    for (const signal of options.signals) process.once(signal, stop);
    return;
  }
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  process.stdin.on("end", stop);
  process.stdin.on("error", stop);
  process.stdin.resume();
}
