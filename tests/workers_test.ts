// The example servers' `--workers N` (processes sharing a port with
// `reusePort`, under a parent that restarts and stops them) and
// `--proxy-protocol`, as real processes on loopback, on Deno, Bun and Node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import process from "node:process";
import { encodeFrame } from "../src/framing/framing.ts";
import { lengthPrefixed } from "../src/framing/length_prefixed.ts";
import {
  EXAMPLE_RUNTIMES,
  exampleCommand,
  type ExampleRuntime,
  HOST,
  pattern,
  readExactly,
  ROOT,
  runtime,
  runToEnd,
  startExample,
  stop,
} from "./_utils.ts";
import { within } from "./_async.ts";

const WAIT = 30_000;
const text = new TextDecoder();
const bytes = (s: string) => new TextEncoder().encode(s);

/** Whether the `node` on PATH binds with `reusePort`: 22.12 on, or 23.1 on. */
function nodeHasReusePort(): boolean {
  const [major = 0, minor = 0] = execFileSync("node", ["--version"])
    .toString().trim().slice(1).split(".").map(Number);
  return major > 23 || (major === 23 && minor >= 1) ||
    (major === 22 && minor >= 12);
}
const reusePortOn = (name: ExampleRuntime) =>
  name !== "node" || nodeHasReusePort();

/** An example's command; the Deno parent needs --allow-run for its workers. */
function command(
  name: ExampleRuntime,
  script: string,
  args: string[],
): [string, string[]] {
  const [cmd, argv] = exampleCommand(name, script, args);
  return name === "deno" ? [cmd, ["run", "--allow-run", ...argv.slice(1)]] : [
    cmd,
    argv,
  ];
}

/** Runs `script --port 0 --workers <workers>` to its end, bounded. */
function runWorkers(name: ExampleRuntime, script: string, workers: string) {
  const [cmd, argv] = command(name, script, [
    "--port",
    "0",
    "--workers",
    workers,
  ]);
  return within(runToEnd(cmd, argv, ""), WAIT, "the example's exit");
}

/** A parent started with `--verbose`, its output so far, and waits on it. */
interface Parent extends AsyncDisposable {
  child: ChildProcess;
  port: number;
  stdout(): string;
  stderr(): string;
  /** Resolves once `check` finds something in the output, bounded. */
  until<T>(what: string, check: () => T | undefined): Promise<T>;
  /** The pids the workers reported, in order. */
  pids(): number[];
  exited: Promise<number | null>;
}

async function startParent(
  name: ExampleRuntime,
  script: string,
  args: string[],
  workers = 2,
): Promise<Parent> {
  const [cmd, argv] = command(name, script, [
    "--port",
    "0",
    "--workers",
    String(workers),
    "--verbose",
    ...args,
  ]);
  const child = spawn(cmd, argv, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let out = "";
  let err = "";
  const checks = new Set<() => void>();
  const recheck = () => checks.forEach((check) => check());
  child.stdout!.on("data", (data) => (out += data, recheck()));
  child.stderr!.on("data", (data) => (err += data, recheck()));
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => (resolve(code), recheck()))
  );
  const until = <T>(what: string, check: () => T | undefined) =>
    within(
      new Promise<T>((resolve, reject) => {
        const tick = () => {
          const value = check();
          if (value !== undefined) {
            checks.delete(tick);
            resolve(value);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            checks.delete(tick);
            reject(new Error(`exited before ${what}: ${err}`));
          }
        };
        checks.add(tick);
        tick();
      }),
      WAIT,
      what,
    );
  const pids = () =>
    [...err.matchAll(/^worker (\d+) listening$/gm)].map((m) => Number(m[1]));
  const port = await until("the listening line", () => {
    const match = out.match(/^listening on 127\.0\.0\.1:(\d+)$/m);
    return match ? Number(match[1]) : undefined;
  });
  await until(
    `${workers} workers`,
    () => pids().length >= workers || undefined,
  );
  return {
    child,
    port,
    stdout: () => out,
    stderr: () => err,
    until,
    pids,
    exited,
    [Symbol.asyncDispose]: async () => {
      await stop(child);
      // The workers see their stdin end, and stop.
      await gone(pids());
    },
  };
}

/**
 * Sends `signal` to the parent by pid: Deno's `node:child_process` reports a
 * child it signalled itself as ended by that signal, whatever its exit code.
 */
function signal(parent: Parent, name: "SIGINT" | "SIGTERM"): void {
  process.kill(parent.child.pid!, name);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until none of `pids` runs, bounded. */
function gone(pids: number[]): Promise<void> {
  return within(
    (async () => {
      while (pids.some(alive)) await new Promise((r) => setTimeout(r, 50));
    })(),
    WAIT,
    `the end of workers ${pids.join(", ")}`,
  );
}

/**
 * Opens `count` connections one after another, each echoing one frame,
 * bounded in time.
 */
function echoes(port: number, count: number): Promise<void> {
  return within(echoEach(port, count), WAIT, `${count} echoes`);
}

async function echoEach(port: number, count: number): Promise<void> {
  const framing = lengthPrefixed();
  for (let i = 0; i < count; i++) {
    const wire = encodeFrame(framing, pattern(100 + i, i));
    const conn = await runtime.connect({ hostname: HOST, port });
    try {
      const reader = conn.readable.getReader();
      await conn.write(wire);
      const back = await readExactly(reader, wire.byteLength);
      assert.ok(back.every((byte, j) => byte === wire[j]), "echoed intact");
    } finally {
      conn.close();
    }
  }
}

/** The connections each worker said it accepted, by pid. */
function acceptedByPid(stderr: string): Map<number, number> {
  return new Map(
    [...stderr.matchAll(/^worker (\d+) accepted (\d+) connections$/gm)].map((
      m,
    ) => [Number(m[1]), Number(m[2])]),
  );
}

for (const name of EXAMPLE_RUNTIMES) {
  test(`examples/server.ts --proxy-protocol on ${name} logs the client a PROXY header names`, async () => {
    await using server = await startExample(name, "server.ts", [
      "--port",
      "0",
      "--framing",
      "line",
      "--proxy-protocol",
    ]);
    let out = "";
    server.child.stdout!.on("data", (data) => out += data);
    const conn = await runtime.connect({ hostname: HOST, port: server.port });
    const reader = conn.readable.getReader();
    await conn.write(
      bytes(
        `PROXY TCP4 203.0.113.7 127.0.0.1 51234 ${server.port}\r\nhello\nexit\n`,
      ),
    );
    const reply = "received: hello\n";
    assert.equal(text.decode(await readExactly(reader, reply.length)), reply);
    conn.close();
    await within(
      (async () => {
        while (!out.includes("disconnected: 203.0.113.7:51234\n")) {
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
      WAIT,
      "the disconnect line",
    );
    assert.equal(
      out,
      "connected: 203.0.113.7:51234\ndisconnected: 203.0.113.7:51234\n",
    );
  });

  for (const value of ["0", "-1", "1.5", "two"]) {
    test(`examples/echo_server.ts --workers ${value} on ${name} ends with one line and code 2`, async () => {
      const { code, stdout, stderr } = await runWorkers(
        name,
        "echo_server.ts",
        value,
      );
      assert.equal(code, 2, stderr);
      assert.equal(stdout, "");
      assert.equal(
        stderr.split("\n")[0],
        `--workers must be a whole number from 1 to 9007199254740991: got ${value}`,
      );
      assert.match(stderr, /usage: /);
    });
  }

  if (!reusePortOn(name)) {
    for (const script of ["echo_server.ts", "server.ts"]) {
      test(`examples/${script} --workers 2 on ${name} without reusePort ends with the library's error and code 1`, async () => {
        const { code, stdout, stderr } = await runWorkers(name, script, "2");
        assert.equal(code, 1, stderr);
        assert.equal(stdout, "");
        assert.match(
          stderr,
          /^cannot start: Cannot listen on 127\.0\.0\.1:0 as .*\(ENOTSUP\)/,
        );
        assert.equal(stderr.trimEnd().split("\n").length, 1, stderr);
      });
    }
    continue;
  }

  test(`examples/echo_server.ts --workers 2 on ${name} prints one listening line, spreads connections and stops on SIGTERM`, async () => {
    await using parent = await startParent(name, "echo_server.ts", []);
    const pids = parent.pids();
    assert.equal(pids.length, 2);
    await echoes(parent.port, 32);
    signal(parent, "SIGTERM");
    assert.equal(
      await within(parent.exited, WAIT, "the parent's exit"),
      0,
      parent.stderr(),
    );
    await gone(pids);
    assert.equal(parent.stdout(), `listening on 127.0.0.1:${parent.port}\n`);
    const accepted = acceptedByPid(parent.stderr());
    assert.deepEqual([...accepted.keys()].sort(), [...pids].sort());
    const counts = [...accepted.values()];
    assert.equal(counts[0]! + counts[1]!, 32);
    // Both get some: the kernel spreads connections by their addresses.
    assert.ok(counts.every((n) => n > 0), `spread: ${counts}`);
  });

  test(`examples/echo_server.ts --workers 2 on ${name} restarts a killed worker, keeps serving, and its workers end with it`, async () => {
    await using parent = await startParent(name, "echo_server.ts", []);
    const [first, second] = parent.pids();
    process.kill(first!, "SIGKILL");
    await parent.until("the restart", () =>
      parent.stderr().includes(
        `worker ${first} exited (SIGKILL): restarting it\n`,
      ) || undefined);
    await parent.until("a third worker", () => parent.pids()[2]);
    const workers = [second!, parent.pids()[2]!];
    await echoes(parent.port, 16);
    // A parent killed outright leaves no worker behind.
    parent.child.kill("SIGKILL");
    await gone(workers);
    assert.equal(
      parent.stdout().match(/listening on/g)?.length,
      1,
      "a single listening line",
    );
  });

  test(`examples/echo_server.ts --workers 2 on ${name} gives up on a crash loop with one line and code 1`, async () => {
    await using parent = await startParent(name, "echo_server.ts", []);
    // Two restarts are allowed within 10 s, the third death ends it.
    for (let death = 0; death < 3; death++) {
      const pids = parent.pids();
      process.kill(pids[pids.length - 1]!, "SIGKILL");
      if (death < 2) {
        await parent.until(
          "the restart",
          () => parent.pids().length > pids.length || undefined,
        );
      }
    }
    assert.equal(await within(parent.exited, WAIT, "the parent's exit"), 1);
    await gone(parent.pids());
    const lines = parent.stderr().split("\n");
    assert.equal(
      lines.filter((line) => /restarting it$/.test(line)).length,
      2,
      parent.stderr(),
    );
    assert.equal(
      lines.filter((line) =>
        /^worker \d+ exited \(SIGKILL\): 2 restarts within 10 s, giving up$/
          .test(line)
      ).length,
      1,
      parent.stderr(),
    );
  });

  test(`examples/server.ts --workers 2 on ${name} logs its workers' lines and says "shutting down" once on SIGINT`, async () => {
    await using parent = await startParent(name, "server.ts", [
      "--framing",
      "line",
    ]);
    const conn = await runtime.connect({ hostname: HOST, port: parent.port });
    const reader = conn.readable.getReader();
    await conn.write(bytes("hello\nexit\n"));
    const reply = "received: hello\n";
    assert.equal(
      text.decode(await readExactly(reader, reply.length)),
      reply,
    );
    const local = `${conn.localAddr.hostname}:${conn.localAddr.port}`;
    await parent.until(
      "the disconnect",
      () => parent.stdout().includes(`disconnected: ${local}\n`) || undefined,
    );
    conn.close();
    signal(parent, "SIGINT");
    assert.equal(
      await within(parent.exited, WAIT, "the parent's exit"),
      0,
      parent.stderr(),
    );
    assert.equal(
      parent.stdout(),
      `listening on 127.0.0.1:${parent.port}\nconnected: ${local}\ndisconnected: ${local}\nshutting down\n`,
    );
  });
}
