import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { ROOT } from "./_utils.ts";
import { fileURLToPath } from "node:url";

const binaries = {
  deno: fileURLToPath(new URL("../node_modules/.bin/deno", import.meta.url)),
  bun: fileURLToPath(new URL("../node_modules/.bin/bun", import.meta.url)),
  node: "node",
};

/** Runs `code` as a module on `runtime`; resolves with its exit code. */
function runModule(
  runtime: keyof typeof binaries,
  code: string,
): Promise<number> {
  const args = {
    deno: ["eval", "--ext=ts", code],
    bun: ["-e", code],
    node: ["--import", "tsx", "--input-type=module", "-e", code],
  }[runtime];
  return new Promise((resolve, reject) => {
    const child = spawn(binaries[runtime], args, {
      cwd: ROOT,
      stdio: "ignore",
    });
    // A process kept alive by the timer would run for a minute.
    const guard = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(guard);
      resolve(signal ? -1 : code ?? -1);
    });
  });
}

for (const runtime of ["deno", "bun", "node"] as const) {
  test(`systemClock timers that are not persistent let the process exit on ${runtime}`, async () => {
    const code = `import { systemClock } from "./src/clock.ts";
systemClock.setTimeout(() => globalThis.process.exit(3), 60_000, false);`;
    assert.equal(await runModule(runtime, code), 0);
  });

  test(`systemClock timers that are persistent keep the process alive on ${runtime}`, async () => {
    const code = `import { systemClock } from "./src/clock.ts";
systemClock.setTimeout(() => globalThis.process.exit(7), 50, true);`;
    assert.equal(await runModule(runtime, code), 7);
  });
}
