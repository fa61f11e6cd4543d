// The benchmark runner's flags, checked before anything starts so that a
// typo costs no build and no server.
import { parseArgs } from "node:util";
import { fail, intFlag } from "./_cli.ts";
import { CLIENT_RUN, RUNS } from "./_model.ts";

export const USAGE = `usage: deno task bench [options]

  --reps N           repetitions, interleaved across servers (default 3)
  --duration MS      load per measurement in ms (default 3000)
  --warmup MS        load per (run, server) before measuring, 0 for none (default 500)
  --only A,B         keep runs and servers whose name contains one of these
                     (runs: small-pipe small-fan large ping-pong; servers:
                     tether-deno tether-bun tether-node, their -frames
                     variants that read frame by frame, raw-deno raw-bun
                     raw-node go-plain go-bufio)
  --json PATH        also write every measurement as JSON ("-" for stdout)
  --no-go            do not build or use the Go anchors and loadgen
  --loadgen KIND     auto (go if available, else bun), go or bun (default auto)
  --start-timeout MS how long a server may take to print its address (default 15000)
  --max-steal PCT    take a measurement again when the hypervisor stole more
                     than PCT % of the machine's CPU during it, 100 for never
                     (default 10; Linux only)
  --retries N        how many times one measurement is taken again at most (default 3)

Runs: small-pipe small-fan large ping-pong, and, with Go, client: tether's
client (bench/client_load.ts on Deno and Bun) and the Go loadgen against go-bufio.`;

const SERVER_NAMES = [
  "tether-deno",
  "tether-deno-frames",
  "raw-deno",
  "tether-bun",
  "tether-bun-frames",
  "raw-bun",
  "tether-node",
  "tether-node-frames",
  "raw-node",
  "go-plain",
  "go-bufio",
];

export interface Options {
  reps: number;
  duration: number;
  warmup: number;
  startTimeout: number;
  maxSteal: number;
  retries: number;
  loadgen: string;
  noGo: boolean;
  json: string | undefined;
  /** Whether `name` contains one of the `--only` tokens. */
  matches: (name: string) => boolean;
}

function parseFlags() {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        reps: { type: "string", default: "3" },
        duration: { type: "string", default: "3000" },
        warmup: { type: "string", default: "500" },
        only: { type: "string" },
        json: { type: "string" },
        "no-go": { type: "boolean", default: false },
        loadgen: { type: "string", default: "auto" },
        "start-timeout": { type: "string", default: "15000" },
        "max-steal": { type: "string", default: "10" },
        retries: { type: "string", default: "3" },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (error) {
    return fail(USAGE, error instanceof Error ? error.message : String(error));
  }
}

/** The options of `Deno.args`; prints the usage and exits on `--help` or a bad flag. */
export function parseOptions(): Options {
  const values = parseFlags();
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const reps = intFlag(USAGE, "reps", values.reps, 1);
  const duration = intFlag(USAGE, "duration", values.duration, 100);
  const warmup = intFlag(USAGE, "warmup", values.warmup, 0);
  const startTimeout = intFlag(
    USAGE,
    "start-timeout",
    values["start-timeout"],
    100,
  );
  const maxSteal = intFlag(USAGE, "max-steal", values["max-steal"], 0);
  if (maxSteal > 100) {
    fail(USAGE, `--max-steal must be at most 100: got ${maxSteal}`);
  }
  const retries = intFlag(USAGE, "retries", values.retries, 0);
  const loadgen = values.loadgen;
  if (!["auto", "go", "bun"].includes(loadgen)) {
    fail(USAGE, `--loadgen must be auto, go or bun: got ${loadgen}`);
  }
  if (loadgen === "go" && values["no-go"]) {
    fail(USAGE, "--loadgen go and --no-go contradict each other");
  }
  const onlyTokens =
    values.only?.split(",").map((t) => t.trim()).filter((t) => t) ?? [];
  const matches = (name: string): boolean =>
    onlyTokens.some((token) => name.includes(token));
  if (
    onlyTokens.length > 0 &&
    ![...RUNS.map((run) => run.name), CLIENT_RUN.name, ...SERVER_NAMES].some(
      matches,
    )
  ) {
    fail(USAGE, `--only ${values.only} matches no run and no server`);
  }
  return {
    reps,
    duration,
    warmup,
    startTimeout,
    maxSteal,
    retries,
    loadgen,
    noGo: values["no-go"],
    json: values.json,
    matches,
  };
}
