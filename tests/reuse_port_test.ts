// `listen({ reusePort: true })`: two servers share a port on runtimes that
// can, and the others refuse with ENOTSUP rather than ignore the option.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { listen, NetError } from "../mod.ts";
import { nodeHasReusePort } from "../src/runtime/_capabilities.ts";
import { echo, HOST, ROOT, runtime } from "./_utils.ts";
import { spread } from "./_reuse_port.ts";

const deno = fileURLToPath(
  new URL("../node_modules/.bin/deno", import.meta.url),
);
const fixture = "tests/fixtures/reuse_port.ts";

/** Whether the runtime running the suite can bind with `reusePort`. */
function canReusePort(): boolean {
  switch (runtime.name) {
    case "bun":
      return true;
    case "node":
      return nodeHasReusePort(process.version);
    default:
      // An API that Deno has only with --unstable-net, as `reusePort` needs.
      return typeof (globalThis as { Deno?: { listenDatagram?: unknown } })
        .Deno?.listenDatagram === "function";
  }
}

/** The outcome the fixture printed, and its exit code. */
function runFixture(
  command: string,
  args: string[],
): Promise<{ status: number | null; result: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args, fixture], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (data) => out += data);
    const guard = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(guard);
      let result: Record<string, unknown> = { out };
      try {
        result = JSON.parse(out);
      } catch { /* reported as printed */ }
      resolve({ status, result });
    });
  });
}

function assertShared(counts: unknown): void {
  assert.ok(Array.isArray(counts), `no counts: ${JSON.stringify(counts)}`);
  const [first, second] = counts as number[];
  assert.equal(first! + second!, 64);
  // The kernel hashes each connection to one of the two listeners.
  assert.ok(first! >= 1 && second! >= 1, `one server got all: ${counts}`);
}

test(`two servers share a port with reusePort on ${runtime.name}, or it is refused`, async () => {
  if (canReusePort()) {
    assertShared(await spread(64));
    return;
  }
  await assert.rejects(
    listen({ hostname: HOST, port: 0, reusePort: true, handler: echo }),
    (error: unknown) =>
      error instanceof NetError && error.code === "ENOTSUP" &&
      error.operation === "listen" && /reusePort/.test(error.message),
  );
});

test("without reusePort, a second server on the port fails with EADDRINUSE", async () => {
  await using server = await listen({ hostname: HOST, port: 0, handler: echo });
  await assert.rejects(
    listen({ hostname: HOST, port: server.addr.port, handler: echo }),
    (error: unknown) =>
      error instanceof NetError && error.code === "EADDRINUSE",
  );
});

test("Node binds with reusePort from 22.12 and 23.1 on", () => {
  const cases: [string, boolean][] = [
    ["v20.20.2", false],
    ["v22.11.0", false],
    ["v22.12.0", true],
    ["22.13.1", true],
    ["v23.0.0", false],
    ["v23.1.0", true],
    ["v24.0.0", true],
    ["v18.20.0", false],
    ["", false],
  ];
  for (const [version, expected] of cases) {
    assert.equal(nodeHasReusePort(version), expected, version);
  }
});

test("Deno without --unstable-net refuses reusePort with ENOTSUP, not exit code 70", async () => {
  const plain = await runFixture(deno, ["run", "--allow-net", "--allow-env"]);
  assert.equal(plain.status, 1, JSON.stringify(plain.result));
  assert.equal(plain.result.code, "ENOTSUP");
  assert.match(String(plain.result.message), /--unstable-net/);

  const flagged = await runFixture(deno, [
    "run",
    "--allow-net",
    "--allow-env",
    "--unstable-net",
  ]);
  assert.equal(flagged.status, 0, JSON.stringify(flagged.result));
  assertShared(flagged.result.counts);
});

// The machine's Node, and the LTS lines npm installs for the suite, if any.
const nodes = [
  "node",
  ...["node22", "node24"].map((line) =>
    join(ROOT, "node_modules", line, "bin", "node")
  )
    .filter((path) => existsSync(path)),
];

for (const node of nodes) {
  test(`Node refuses reusePort before 22.12, and shares the port after (${node})`, async () => {
    const version = execFileSync(node, ["--version"], { encoding: "utf8" })
      .trim();
    const { status, result } = await runFixture(node, ["--import", "tsx"]);
    if (nodeHasReusePort(version)) {
      assert.equal(status, 0, JSON.stringify(result));
      assertShared(result.counts);
    } else {
      assert.equal(status, 1, JSON.stringify(result));
      assert.equal(result.code, "ENOTSUP");
      assert.ok(String(result.message).includes(`this is Node ${version}`));
    }
  });
}
