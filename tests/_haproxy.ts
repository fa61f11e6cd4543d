// Runs a real HAProxy for tests: a config in a temp dir, `haproxy -f cfg -db`
// in the foreground on loopback ports, waited for until it accepts, stopped
// at the end.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stop } from "./_utils.ts";

/** Why HAProxy tests are skipped, or `false` when `haproxy` runs. */
export const haproxySkip: string | false = (() => {
  try {
    execFileSync("haproxy", ["-v"], { stdio: "ignore" });
    return false;
  } catch {
    return "haproxy is not on PATH (apt-get install -y haproxy)";
  }
})();

/** The first line of `haproxy -v`, such as `HAProxy version 2.6.12-1 ...`. */
export function haproxyVersion(): string {
  return execFileSync("haproxy", ["-v"], { encoding: "utf8" }).split("\n")[0]!;
}

/** A running HAProxy. */
export interface HAProxy extends AsyncDisposable {
  /** What it wrote, for failure messages. */
  readonly output: () => string;
}

/**
 * Starts HAProxy with the `config` sections (global and defaults are
 * added), and waits until every port in `ports` accepts connections.
 */
export async function startHAProxy(
  config: string,
  ports: number[],
): Promise<HAProxy> {
  const dir = mkdtempSync(join(tmpdir(), "tether-haproxy-"));
  const file = join(dir, "haproxy.cfg");
  writeFileSync(
    file,
    `global
  maxconn 256

defaults
  mode tcp
  timeout connect 2s
  timeout client 10s
  timeout server 10s

${config}
`,
  );
  const child = spawn("haproxy", ["-f", file, "-db"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (data) => output += data);
  child.stderr!.on("data", (data) => output += data);
  const started = Date.now();
  for (const port of ports) {
    while (!await accepts(port)) {
      if (child.exitCode !== null || Date.now() - started > 10_000) {
        child.kill("SIGKILL");
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`HAProxy did not start:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    output: () => output,
    async [Symbol.asyncDispose]() {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** A free loopback port: it was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    import("node:net").then(({ createServer }) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        server.close(() =>
          resolve(typeof address === "object" && address ? address.port : 0)
        );
      });
    });
  });
}
