// What a user of the examples meets at the edges: numbers the library would
// refuse, files that are not there, a server that is not there. Each ends in
// one clear line and a non-zero exit, or says what it is waiting for.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import {
  closedPort,
  EXAMPLE_RUNTIMES,
  exampleCommand,
  HOST,
  ROOT,
  runtime,
  runToEnd,
  startExample,
} from "./_utils.ts";
import { within } from "./_async.ts";

const cases: [script: string, args: string[], message: RegExp][] = [
  [
    "echo_server.ts",
    ["--port", "0", "--idle-timeout", "1000000000000"],
    /^Cannot listen as 'idleTimeout' must be a number of milliseconds between 0 and 2147483647: current value is 1000000000000$/,
  ],
  [
    "echo_server.ts",
    ["--port", "0", "--max-connections", "1.5"],
    /^--max-connections must be a whole number from 0 to 9007199254740991: got 1\.5$/,
  ],
  [
    "echo_server.ts",
    ["--port", "0", "--max-connections", "0"],
    /^Cannot listen as 'maxConnections' must be a positive integer: current value is 0$/,
  ],
  [
    "echo_server.ts",
    ["--port", "0x1B58"],
    /^--port must be an integer from 0 to 65535: got 0x1B58$/,
  ],
  [
    "echo_server.ts",
    ["--port", "0", "--tls-cert", "missing.pem", "--tls-key", "missing.pem"],
    /^cannot read --tls-cert missing\.pem: .*ENOENT|^cannot read --tls-cert missing\.pem: .*(No such file|not found)/i,
  ],
  [
    "server.ts",
    ["--port", "0", "--max-write-buffer", "0"],
    /^Cannot listen as 'maxWriteBuffer' must be a positive integer: current value is 0$/,
  ],
  [
    "echo_server.ts",
    ["--port", "0", "--max-frame-size", "99999999999999999"],
    /^--max-frame-size must be a whole number from 0 to 9007199254740991: got 99999999999999999$/,
  ],
  [
    "client.ts",
    ["--heartbeat-interval", "-5"],
    /^--heartbeat-interval must be a whole number from 0 to 9007199254740991: got -5$/,
  ],
  [
    "client.ts",
    ["--heartbeat-timeout", "0"],
    /^Cannot connect as 'heartbeat\.timeout' must be at least 1 millisecond: current value is 0/,
  ],
];

for (const name of EXAMPLE_RUNTIMES) {
  for (const [script, args, message] of cases) {
    test(`examples/${script} ${args.join(" ")} on ${name} ends with one line and code 2`, async () => {
      const [command, argv] = exampleCommand(name, script, args);
      const { code, stdout, stderr } = await within(
        runToEnd(command, argv, ""),
        30_000,
        "the example's exit",
      );
      assert.equal(code, 2, stderr);
      assert.equal(stdout, "");
      const first = stderr.split("\n")[0]!;
      assert.match(first, message);
      assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
      assert.match(stderr, /usage: /);
    });
  }

  test(`examples/client.ts on ${name} says why it cannot connect`, async () => {
    const port = await closedPort();
    const [command, argv] = exampleCommand(name, "client.ts", [
      "--port",
      String(port),
    ]);
    const child = spawn(command, argv, {
      cwd: ROOT,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    try {
      let stderr = "";
      await within(
        new Promise<void>((resolve) => {
          child.stderr.on("data", (data) => {
            stderr += data;
            if (/retrying in \d+ ms/.test(stderr)) resolve();
          });
        }),
        30_000,
        "a line on the failed attempt",
      );
      assert.match(
        stderr,
        /^attempt 1 failed: .*ECONNREFUSED.*; retrying in \d+ ms$/m,
      );
    } finally {
      child.kill("SIGKILL");
    }
  });
}

for (const name of EXAMPLE_RUNTIMES) {
  for (const script of ["server.ts", "echo_server.ts"]) {
    test(`examples/${script} --heartbeat-interval on ${name} drops a client that does not answer`, async () => {
      await using server = await startExample(name, script, [
        "--port",
        "0",
        "--heartbeat-interval",
        "100",
        "--heartbeat-timeout",
        "100",
      ]);
      const peer = await runtime.connect({ hostname: HOST, port: server.port });
      try {
        const reader = peer.readable.getReader();
        // The ping comes, goes unanswered, and the server hangs up.
        const ended = (async () => {
          while (true) {
            const { done } = await reader.read();
            if (done) return;
          }
        })().catch(() => {});
        await within(ended, 30_000, "the server's hang-up");
      } finally {
        peer.close();
      }
    });
  }
}
