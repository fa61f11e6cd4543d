// Packs the npm tarball, installs it into a temporary project and, on Deno,
// Bun and each Node LTS line, runs a server and a client from the installed
// package that exchange frames over 127.0.0.1; the package's types are checked
// too. Ends with "smoke: N passed, N failed".
//
//     node tests/smoke/pack.mjs        # or: node tests/run.mjs smoke
import { spawn } from "node:child_process";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { nodeBinaries } from "../_node_binaries.mjs";

const TIMEOUT_MS = 120_000;
const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = (name) => join(root, "node_modules", ".bin", name);
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

function run(command, args, cwd) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (data) => output += data);
    child.stderr.on("data", (data) => output += data);
    const guard = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
    child.on("error", (error) => {
      clearTimeout(guard);
      resolve({ code: 1, output: String(error) });
    });
    child.on("close", (code) => {
      clearTimeout(guard);
      resolve({ code: code ?? 1, output });
    });
  });
}

// What users write: the package by name, a server and a client, and the
// runtime's own adapter through its subpath export.
const SMOKE = `import { connect, listen } from "@tether/tcp";
import { detectRuntime } from "@tether/tcp/runtime";

const runtime = await detectRuntime();
const adapter = await import(\`@tether/tcp/\${runtime.name}\`);
if (adapter[\`\${runtime.name}Runtime\`] !== runtime) {
  throw new Error(\`@tether/tcp/\${runtime.name} is not the detected adapter\`);
}
const server = await listen({
  hostname: "127.0.0.1",
  port: 0,
  handler: async (conn) => {
    for await (const frame of conn) conn.send(frame);
  },
});
const conn = await connect({ hostname: "127.0.0.1", port: server.addr.port });
const sent = ["hello", "", "x".repeat(100_000)];
for (const text of sent) conn.send(text);
const received = [];
for await (const frame of conn) {
  received.push(new TextDecoder().decode(frame));
  if (received.length === sent.length) break;
}
await conn.close();
await server.close();
if (JSON.stringify(received) !== JSON.stringify(sent)) {
  throw new Error("the echoed frames differ from the sent ones");
}

const { createMessageClient, listenMessages } = await import(
  "@tether/tcp/messaging"
);
const rpc = await listenMessages({
  hostname: "127.0.0.1",
  port: 0,
  onRequest: (payload) => \`re: \${new TextDecoder().decode(payload)}\`,
});
const client = createMessageClient({ port: rpc.addr.port });
const reply = new TextDecoder().decode(await client.request("ping"));
await client.close();
await rpc.close();
if (reply !== "re: ping") throw new Error(\`unexpected reply: \${reply}\`);
console.log(\`smoke \${runtime.name}: OK\`);
`;

// Type-checked against the installed declarations, as a TypeScript user on
// Node would.
const TYPES = `import { connect, type Connection, listen } from "@tether/tcp";
import { nodeRuntime } from "@tether/tcp/node";
import { lengthPrefixed } from "@tether/tcp/framing";
import { type Conn, detectRuntime } from "@tether/tcp/runtime";

const server = await listen({
  hostname: "127.0.0.1",
  port: 0,
  runtime: nodeRuntime,
  framing: lengthPrefixed(),
  handler: async (conn: Connection) => {
    for await (const frame of conn) conn.send(frame);
  },
});
const port: number = server.addr.port;
await using conn = await connect({ port });
await conn.send("typed");
const raw: Conn = await (await detectRuntime()).connect({
  hostname: "127.0.0.1",
  port,
});
raw.close();
`;

// Each check: its name, the runtime that must print "smoke <runtime>: OK"
// (none for the type check), the command and its arguments.
const checks = [
  ["deno", "deno", bin("deno"), [
    "run",
    "--allow-net",
    "--allow-read",
    "--allow-env",
    "smoke.mjs",
  ]],
  ["bun", "bun", bin("bun"), ["run", "smoke.mjs"]],
  ...nodeBinaries(root).map((node) => [
    node.name,
    "node",
    node.path,
    ["smoke.mjs"],
  ]),
  ["types", null, bin("tsc"), [
    "--noEmit",
    "--strict",
    "--target",
    "es2022",
    "--module",
    "nodenext",
    "--lib",
    "es2023,dom,dom.iterable,esnext.disposable",
    "--types",
    "node",
    "types.ts",
  ]],
];

const dir = mkdtempSync(join(tmpdir(), "tether-smoke-"));
let passed = 0;
let failed = 0;
try {
  const packed = await run(npm, ["pack", "--pack-destination", dir], root);
  const tarball = readdirSync(dir).find((name) => name.endsWith(".tgz"));
  if (packed.code !== 0 || !tarball) {
    throw new Error(`npm pack failed:\n${packed.output}`);
  }
  const project = join(dir, "project");
  mkdirSync(join(project, "node_modules"), { recursive: true });
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ private: true, type: "module" }),
  );
  // The package has no dependencies: nothing is fetched.
  const installed = await run(npm, [
    "install",
    "--offline",
    "--no-save",
    "--no-audit",
    "--no-fund",
    join(dir, tarball),
  ], project);
  if (installed.code !== 0) {
    throw new Error(`npm install failed:\n${installed.output}`);
  }
  // Node's types for the type check, as any TypeScript project has them.
  for (const types of ["@types/node", "undici-types"]) {
    cpSync(
      join(root, "node_modules", types),
      join(project, "node_modules", types),
      { recursive: true },
    );
  }
  writeFileSync(join(project, "smoke.mjs"), SMOKE);
  writeFileSync(join(project, "types.ts"), TYPES);
  for (const [name, runtime, command, args] of checks) {
    const { code, output } = await run(command, args, project);
    const ok = code === 0 &&
      (runtime === null || output.includes(`smoke ${runtime}: OK`));
    console.log(`${ok ? "ok" : "FAILED"}: packed tarball on ${name}`);
    if (!ok) console.log(output.trimEnd());
    if (ok) passed++;
    else failed++;
  }
} catch (error) {
  console.log(String(error?.message ?? error));
  failed++;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
console.log(`smoke: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
