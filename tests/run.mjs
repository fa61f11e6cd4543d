// Runs the static checks, then the whole suite on Deno, Bun and each Node LTS
// line (the machine's own `node`, and Node 22 and 24 from npm), then the
// packed npm tarball on all of them, and ends with one line of totals:
// "N passed, N failed".
//
//     node tests/run.mjs            # everything
//     node tests/run.mjs node       # one part: check, deno, bun, node (every
//     node tests/run.mjs node22     # Node), node20, node22, node24 or smoke
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { delimiter, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { nodeBinaries } from "./_node_binaries.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = (name) =>
  fileURLToPath(new URL(`../node_modules/.bin/${name}`, import.meta.url));
const env = { ...process.env, NO_COLOR: "1" };

// Runs a command, its output shown as it comes if `live`, else only collected.
function run(command, args, { env: extraEnv = {}, live = true } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: root,
      env: { ...env, ...extraEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const collect = (stream, target) =>
      stream.on("data", (data) => {
        output += data;
        if (live) target.write(data);
      });
    collect(child.stdout, process.stdout);
    collect(child.stderr, process.stderr);
    child.on("error", (error) => {
      if (live) console.log(String(error));
      resolve({ code: 1, output: `${output}${error}\n` });
    });
    child.on("close", (code) => resolve({ code: code ?? 1, output }));
  });
}

const count = (output, pattern) => Number(output.match(pattern)?.[1] ?? NaN);

// Node 20's test runner takes no globs: it gets every test file by name.
function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith("_test.ts") ? [relative(root, path)] : [];
  }).sort();
}

const suites = [
  {
    name: "deno",
    command: bin("deno"),
    args: [
      "test",
      "--allow-net",
      "--allow-run",
      "--allow-read",
      "--allow-env",
      // Temporary files, such as the certificates of the TLS tests.
      "--allow-write",
      // The JSDoc examples run too: they are the first code users copy.
      "--doc",
      "mod.ts",
      "src/",
      "tests/",
    ],
    parse: (out) => ({
      passed: count(out, /(\d+) passed(?: \(\d+ steps?\))? \| \d+ failed/),
      failed: count(out, /\d+ passed(?: \(\d+ steps?\))? \| (\d+) failed/),
    }),
  },
  {
    name: "bun",
    command: bin("bun"),
    args: ["test", "--timeout", "60000", "./tests/"],
    parse: (out) => ({
      passed: count(out, /^\s*(\d+) pass$/m),
      failed: count(out, /^\s*(\d+) fail$/m),
    }),
  },
  ...nodeBinaries(root).map((node) => ({
    name: node.name,
    group: "node",
    command: node.path,
    args: [
      // TypeScript through tsx, as Node 20 cannot strip types.
      "--import",
      "tsx",
      "--test",
      "--test-reporter=spec",
      ...testFiles(join(root, "tests")),
    ],
    // The examples that tests run "on node" take `node` from PATH: this one.
    env: node.own ? {} : { PATH: dirname(node.path) + delimiter + env.PATH },
    parse: (out) => ({
      passed: count(out, /^ℹ pass (\d+)$/m),
      // A test that times out is "cancelled": a failure all the same.
      failed: count(out, /^ℹ fail (\d+)$/m) +
        count(out, /^ℹ cancelled (\d+)$/m),
    }),
  })),
  {
    name: "smoke",
    command: process.execPath,
    args: ["tests/smoke/pack.mjs"],
    parse: (out) => ({
      passed: count(out, /^smoke: (\d+) passed, \d+ failed$/m),
      failed: count(out, /^smoke: \d+ passed, (\d+) failed$/m),
    }),
  },
];

const only = process.argv[2];
const parts = new Set(["check"]);
for (const suite of suites) {
  parts.add(suite.group ?? suite.name).add(suite.name);
}
if (only && !parts.has(only)) {
  console.log(`unknown part "${only}": one of ${[...parts].join(", ")}`);
  process.exit(2);
}

let passed = 0;
let failed = 0;
let broken = false;
// Seconds since `start`, for the one line each part ends with.
const seconds = (start) => `${Math.round((Date.now() - start) / 1000)} s`;

if (!only || only === "check") {
  console.log("\n== static checks (deno task check)");
  const start = Date.now();
  const { code } = await run(bin("deno"), ["task", "check"]);
  console.log(
    `static checks: ${code === 0 ? "ok" : "failed"} in ${seconds(start)}`,
  );
  if (code !== 0) {
    // Counted as a failure, so that the totals line shows the run is red.
    failed += 1;
    broken = true;
  }
}

// Runs a suite and prints its output (at once if others run beside it) and
// the line that sums it up; adds its counts to the totals.
async function runSuite(suite, alone) {
  if (alone) console.log(`\n== test suite on ${suite.name}`);
  const start = Date.now();
  const { code, output } = await run(suite.command, suite.args, {
    env: suite.env,
    live: alone,
  });
  if (!alone) console.log(`\n== test suite on ${suite.name}\n${output}`);
  const result = suite.parse(output);
  if (Number.isNaN(result.passed) || Number.isNaN(result.failed)) {
    console.log(
      `${suite.name}: no test summary found (exit code ${code}) in ${
        seconds(start)
      }`,
    );
    failed += 1;
    broken = true;
    return;
  }
  console.log(
    `${suite.name}: ${result.passed} passed, ${result.failed} failed in ${
      seconds(start)
    }`,
  );
  passed += result.passed;
  failed += result.failed;
  if (code !== 0) {
    broken = true;
    // A suite that fails with no failing test (a leak, a crash after the
    // summary) still counts as one failure.
    if (result.failed === 0) {
      console.log(`${suite.name}: exited with code ${code}`);
      failed += 1;
    }
  }
}

// The Node suites run two at a time: each keeps about half a core busy, as
// most of its time is spent waiting on timers and sockets, and their tests
// share no port, file or namespace. Three one after the other would add four
// minutes to CI; the others run alone.
const NODE_SUITES_AT_ONCE = 2;
const batches = [];
for (const suite of suites) {
  if (only && only !== suite.name && only !== suite.group) continue;
  const last = batches.at(-1);
  if (
    suite.group === "node" && last?.[0].group === "node" &&
    last.length < NODE_SUITES_AT_ONCE
  ) {
    last.push(suite);
  } else {
    batches.push([suite]);
  }
}
for (const batch of batches) {
  if (batch.length > 1) {
    console.log(
      `\n== test suites on ${
        batch.map((suite) => suite.name).join(" and ")
      } side by side (each one's output when it ends)`,
    );
  }
  await Promise.all(batch.map((suite) => runSuite(suite, batch.length === 1)));
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(broken || failed > 0 ? 1 : 0);
