// The programs a sitting runs, built or located before it starts, so that a
// missing tool drops only its own servers rather than the sitting.
import type { Loadgen, ServerSpec } from "./_model.ts";
import {
  BENCH,
  drain,
  log,
  ROOT,
  scratchDir,
  spawn,
  stop,
  Tail,
  within,
} from "./_processes.ts";

export interface GoBuild {
  echo: string;
  loadgen: string;
}

async function commandWorks(command: string, args: string[]) {
  try {
    const output = await new Deno.Command(command, {
      args,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return output.success;
  } catch {
    return false; // Not on PATH.
  }
}

/**
 * Runs a build command to its end (at most 3 minutes); resolves to its
 * output if it failed, else to undefined.
 */
async function build(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string | undefined> {
  const child = spawn(command, args, options);
  const output = new Tail();
  drain(child.stdout, output);
  drain(child.stderr, output);
  const status = await within(child.status, 180_000);
  if (status?.success) return undefined;
  await stop(child);
  return output.text;
}

/** Builds bench/go's programs; undefined when Go is missing or fails. */
export async function buildGo(noGo: boolean): Promise<GoBuild | undefined> {
  if (noGo) return undefined;
  if (!await commandWorks("go", ["version"])) {
    log("go is not on PATH: no Go anchors");
    return undefined;
  }
  const tempDir = await scratchDir();
  const env: Record<string, string> = {
    // The programs use the standard library only: never touch the network.
    GOPROXY: "off",
    GOFLAGS: "-mod=mod",
    GOTOOLCHAIN: "local",
  };
  if (!Deno.env.get("HOME") && !Deno.env.get("GOCACHE")) {
    env.GOCACHE = `${tempDir}/gocache`;
  }
  const built = { echo: `${tempDir}/echo`, loadgen: `${tempDir}/loadgen` };
  for (const [name, output] of Object.entries(built)) {
    const failure = await build("go", ["build", "-o", output, `${name}.go`], {
      cwd: `${BENCH}go`,
      env,
    });
    if (failure !== undefined) {
      log(`go build ${name}.go failed: no Go anchors\n${failure}`);
      return undefined;
    }
  }
  log("built the Go anchors and loadgen");
  return built;
}

export function findBun(): string | undefined {
  const local = `${ROOT}node_modules/.bin/bun`;
  try {
    Deno.statSync(local);
    return local;
  } catch {
    return undefined;
  }
}

/**
 * Compiles the Node servers with the repository's TypeScript, as a Node
 * project ships tether: Node 20 runs no TypeScript, and running it through
 * tsx would add the cost of tsx's output to every frame. Undefined when
 * `node` is not on PATH or the build fails.
 */
async function buildNode(): Promise<
  { command: string; dir: string } | undefined
> {
  if (!await commandWorks("node", ["--version"])) {
    log("node is not on PATH: no Node servers");
    return undefined;
  }
  const tempDir = await scratchDir();
  const dir = `${tempDir}/node`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(
    `${tempDir}/tsconfig.node.json`,
    JSON.stringify({
      extends: `${ROOT}tsconfig.build.json`,
      compilerOptions: {
        rootDir: ROOT,
        outDir: dir,
        declaration: false,
        typeRoots: [`${ROOT}node_modules/@types`],
      },
      files: [
        `${ROOT}examples/echo_server.ts`,
        `${BENCH}servers/raw_echo_node.ts`,
      ],
    }),
  );
  // ES modules, like the package.
  await Deno.writeTextFile(`${dir}/package.json`, '{"type":"module"}');
  const failure = await build(`${ROOT}node_modules/.bin/tsc`, [
    "-p",
    `${tempDir}/tsconfig.node.json`,
  ]);
  if (failure !== undefined) {
    log(`tsc failed: no Node servers (run npm ci)\n${failure}`);
    return undefined;
  }
  log("compiled the Node servers");
  return { command: "node", dir };
}

/** The loadgen `choice` (auto, go or bun) names; throws if it is missing. */
export function pickLoadgen(
  choice: string,
  go: GoBuild | undefined,
  bun: string | undefined,
): Loadgen {
  if (choice === "go" || (choice === "auto" && go)) {
    if (!go) {
      throw new Error("--loadgen go needs go on PATH and a working build");
    }
    return { kind: "go", command: go.loadgen, prefix: [] };
  }
  if (!bun) {
    throw new Error(
      "the Bun loadgen needs node_modules/.bin/bun: run npm ci first",
    );
  }
  return {
    kind: "bun",
    command: bun,
    prefix: ["run", `${BENCH}loadgen.ts`],
  };
}

/** The load generators of the client run: the Go loadgen and tether's client. */
export function clientLoadgens(
  go: GoBuild,
  bun: string | undefined,
): Loadgen[] {
  const clients: Loadgen[] = [
    { kind: "go", command: go.loadgen, prefix: [] },
    {
      kind: "tether-deno",
      command: Deno.execPath(),
      prefix: ["run", "--allow-net", `${BENCH}client_load.ts`],
    },
  ];
  if (bun) {
    clients.push({
      kind: "tether-bun",
      command: bun,
      prefix: ["run", `${BENCH}client_load.ts`],
    });
  }
  return clients;
}

/**
 * tether's echo example on one runtime, twice: reading a batch per step (the
 * example's default) and frame by frame (`--per-frame`).
 */
function tetherSpecs(
  runtime: string,
  command: string,
  script: string[],
): ServerSpec[] {
  const args = [...script, "--port", "0", "--framing", "length"];
  const baseline = `raw-${runtime}`;
  return [
    { name: `tether-${runtime}`, command, args, baseline },
    {
      name: `tether-${runtime}-frames`,
      command,
      args: [...args, "--per-frame"],
      baseline,
    },
  ];
}

/** Every server the machine can run: Deno's always, the others' when found. */
export async function serverSpecs(
  go: GoBuild | undefined,
  bun: string | undefined,
): Promise<ServerSpec[]> {
  const deno = Deno.execPath();
  const allServers: ServerSpec[] = [
    ...tetherSpecs("deno", deno, [
      "run",
      "--allow-net",
      "examples/echo_server.ts",
    ]),
    {
      name: "raw-deno",
      command: deno,
      args: [
        "run",
        "--allow-net",
        "bench/servers/raw_echo_deno.ts",
        "--port",
        "0",
      ],
      baseline: "raw-deno",
    },
  ];
  if (bun) {
    allServers.push(
      ...tetherSpecs("bun", bun, ["run", "examples/echo_server.ts"]),
      {
        name: "raw-bun",
        command: bun,
        args: ["run", "bench/servers/raw_echo_bun.ts", "--port", "0"],
        baseline: "raw-bun",
      },
    );
  } else {
    log("no node_modules/.bin/bun: no Bun servers (run npm ci)");
  }
  const node = await buildNode();
  if (node) {
    allServers.push(
      ...tetherSpecs("node", node.command, [
        `${node.dir}/examples/echo_server.js`,
      ]),
      {
        name: "raw-node",
        command: node.command,
        args: [`${node.dir}/bench/servers/raw_echo_node.js`, "--port", "0"],
        baseline: "raw-node",
      },
    );
  }
  if (go) {
    allServers.push(
      { name: "go-plain", command: go.echo, args: ["-port", "0"] },
      { name: "go-bufio", command: go.echo, args: ["-port", "0", "-bufio"] },
    );
  }
  return allServers;
}
