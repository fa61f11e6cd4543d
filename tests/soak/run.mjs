// Runs the soak (tests/soak/soak.ts) on Deno, Bun and Node, and prints one
// line per runtime. A run passes only if it prints `soak <runtime>: OK` and
// then exits by itself with code 0 within TIMEOUT_MS: a process that does not
// exit has leaked a timer or a socket.
//
//     node tests/soak/run.mjs          # every runtime (npm run soak)
//     node tests/soak/run.mjs bun      # one of them
import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";

const TIMEOUT_MS = 90_000;
const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = (name) =>
  fileURLToPath(new URL(`../../node_modules/.bin/${name}`, import.meta.url));

const runtimes = {
  deno: [bin("deno"), ["run", "-A", "tests/soak/soak.ts"]],
  bun: [bin("bun"), ["run", "tests/soak/soak.ts"]],
  // Node 20 runs TypeScript through tsx, as the test suite does.
  node: [process.execPath, ["--import", "tsx", "tests/soak/soak.ts"]],
};

function soak(name) {
  const [command, args] = runtimes[name];
  const start = performance.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "inherit"],
      // Its own process group: a hung soak is killed with its echo server.
      detached: true,
    });
    let output = "";
    child.stdout.on("data", (data) => {
      output += data;
      process.stdout.write(data);
    });
    const killGroup = () => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    };
    const interrupt = () => {
      killGroup();
      process.exit(130);
    };
    process.once("SIGINT", interrupt);
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      killGroup();
    }, TIMEOUT_MS);
    let finished = false;
    const finish = (code, error) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      process.off("SIGINT", interrupt);
      const seconds = ((performance.now() - start) / 1000).toFixed(1);
      const lines = output.match(new RegExp(`^soak ${name}: .*$`, "gm"));
      const last = lines?.at(-1) ?? `soak ${name}: no summary line`;
      const ok = !hung && !error && code === 0 && / OK /.test(last) &&
        lines.length === 1;
      const why = hung
        ? `killed after ${TIMEOUT_MS / 1000} s (hang)`
        : error
        ? String(error)
        : `exit ${code}`;
      resolve({
        name,
        ok,
        line: `${ok ? "PASS" : "FAIL"} ${name} (${why}, ${seconds} s): ${last}`,
      });
    };
    child.on("error", (error) => finish(null, error));
    child.on("close", (code, signal) => finish(code ?? signal));
  });
}

const only = process.argv[2];
if (only && !(only in runtimes)) {
  console.error(`usage: node tests/soak/run.mjs [deno|bun]`);
  process.exit(2);
}
const results = [];
for (const name of Object.keys(runtimes)) {
  if (only && only !== name) continue;
  console.log(`\n== soak on ${name}`);
  results.push(await soak(name));
}
console.log("");
for (const result of results) console.log(result.line);
process.exit(results.every((result) => result.ok) ? 0 : 1);
