// Command-line flags shared by the examples; node:util and node:process work
// unchanged on Deno, Bun and Node.
import { readFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import type { ListenOptions } from "../mod.ts";
import {
  type Framing,
  lengthPrefixed,
  lineDelimited,
} from "../src/framing/mod.ts";

/** The flags every example takes. */
export interface ExampleArgs {
  host: string;
  port: number;
  framing: "length" | "line";
  /** The values of the extra numeric flags. */
  extra: Record<string, number>;
  /** The values of the file flags that were given. */
  files: Record<string, string>;
  /** Which of the switches named in `switches` were given. */
  switches: Record<string, boolean>;
}

/**
 * Parses `--host`, `--port`, `--framing`, the numeric flags named in
 * `numbers` (with their defaults; each at least its value in `minimums`, else
 * 0), the file flags in `files` and the boolean switches in `switches`,
 * exiting with usage on error.
 */
export function exampleArgs(
  usage: string,
  defaults: {
    port: number;
    allowZeroPort: boolean;
    numbers?: Record<string, number>;
    minimums?: Record<string, number>;
    files?: string[];
    switches?: string[];
  },
): ExampleArgs {
  const numbers = defaults.numbers ?? {};
  const fileFlags = defaults.files ?? [];
  const switchFlags = defaults.switches ?? [];
  const fail = (message: string): never => {
    console.error(`${message}\n\n${usage}`);
    process.exit(2);
  };
  const numeric = new Set(["port", ...Object.keys(numbers)]);
  let values;
  try {
    ({ values } = parseArgs({
      args: joinNegatives(process.argv.slice(2), numeric),
      options: {
        host: { type: "string", default: "127.0.0.1" },
        port: { type: "string", default: String(defaults.port) },
        framing: { type: "string", default: "length" },
        help: { type: "boolean", short: "h", default: false },
        ...Object.fromEntries(
          Object.entries(numbers).map(([name, value]) => [
            name,
            { type: "string" as const, default: String(value) },
          ]),
        ),
        ...Object.fromEntries(
          fileFlags.map((name) => [name, { type: "string" as const }]),
        ),
        ...Object.fromEntries(
          switchFlags.map((name) => [
            name,
            { type: "boolean" as const, default: false },
          ]),
        ),
      },
    }));
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const min = defaults.allowZeroPort ? 0 : 1;
  const port = wholeNumber(values.port);
  if (port === undefined || port < min || port > 65535) {
    fail(`--port must be an integer from ${min} to 65535: got ${values.port}`);
  }
  if (values.framing !== "length" && values.framing !== "line") {
    fail(`--framing must be "length" or "line": got ${values.framing}`);
  }
  const extra: Record<string, number> = {};
  for (const name of Object.keys(numbers)) {
    const raw = (values as Record<string, unknown>)[name];
    const value = wholeNumber(raw);
    const min = defaults.minimums?.[name] ?? 0;
    if (value === undefined || value < min) {
      fail(
        `--${name} must be a whole number from ${min} to ${Number.MAX_SAFE_INTEGER}: got ${raw}`,
      );
    }
    extra[name] = value!;
  }
  const files: Record<string, string> = {};
  for (const name of fileFlags) {
    const value = (values as Record<string, unknown>)[name];
    if (typeof value === "string") files[name] = value;
  }
  const switches: Record<string, boolean> = {};
  for (const name of switchFlags) {
    switches[name] = (values as Record<string, unknown>)[name] === true;
  }
  return {
    files,
    switches,
    host: values.host as string,
    port: port!,
    framing: values.framing as "length" | "line",
    extra,
  };
}

/**
 * A number written in decimal digits, as people write them; `0x1B58`, `1e3`
 * or `1.5` are not read as something else than what they look like, nor is
 * a number too large to be held exactly read as a nearby one.
 */
function wholeNumber(raw: unknown): number | undefined {
  const value = typeof raw === "string" && /^-?\d+$/.test(raw)
    ? Number(raw)
    : undefined;
  return Number.isSafeInteger(value) ? value : undefined;
}

// `--flag -5` would read `-5` as a flag of its own: it becomes `--flag=-5`,
// and the value is refused for what it is.
function joinNegatives(args: string[], numeric: Set<string>): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    if (
      arg.startsWith("--") && numeric.has(arg.slice(2)) &&
      next !== undefined && /^-\d/.test(next)
    ) {
      joined.push(`${arg}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

/** The numeric flags of both example servers, with the library's defaults. */
export const SERVER_NUMBERS: Record<string, number> = {
  "heartbeat-interval": 0,
  "heartbeat-timeout": 10_000,
  "max-frame-rate": 0,
  "max-frame-size": 8 * 1024 * 1024,
  "max-write-buffer": 16 * 1024 * 1024,
  // Processes sharing the port: see examples/_workers.ts.
  workers: 1,
};

/** The least values of {@linkcode SERVER_NUMBERS} above 0. */
export const SERVER_MINIMUMS: Record<string, number> = { workers: 1 };

/**
 * The switches of both example servers: `--proxy-protocol` reads a PROXY
 * protocol header from peers on this machine, `--verbose` and `--worker` are
 * those of examples/_workers.ts.
 */
export const SERVER_SWITCHES = ["proxy-protocol", "verbose", "worker"];

/** The peers whose PROXY protocol header `--proxy-protocol` believes. */
export const TRUSTED_PROXIES = ["127.0.0.0/8", "::1/128"];

/**
 * What the flags of {@linkcode SERVER_NUMBERS} and
 * {@linkcode SERVER_SWITCHES} ask of `listen()`: the framing `--framing`
 * names with its frame size, the limits, the probes, if an interval is
 * given, a port shared with other workers, and the PROXY protocol. Call it
 * where `started()` reports a refused value.
 */
export function serverOptions(
  framing: "length" | "line",
  extra: Record<string, number>,
  switches: Record<string, boolean>,
): {
  framing: Framing;
  maxFrameRate: number;
  maxWriteBuffer: number;
  probes: { interval: number; timeout: number } | undefined;
} & Pick<ListenOptions, "reusePort" | "proxyProtocol"> {
  const maxFrameSize = extra["max-frame-size"]!;
  const interval = extra["heartbeat-interval"]!;
  return {
    ...(switches["worker"] ? { reusePort: true } : {}),
    ...(switches["proxy-protocol"]
      ? { proxyProtocol: { trusted: TRUSTED_PROXIES } }
      : {}),
    framing: framing === "line"
      ? lineDelimited({ maxLineLength: maxFrameSize })
      : lengthPrefixed({ maxFrameSize }),
    maxFrameRate: extra["max-frame-rate"]!,
    maxWriteBuffer: extra["max-write-buffer"]!,
    probes: interval > 0
      ? { interval, timeout: extra["heartbeat-timeout"]! }
      : undefined,
  };
}

/** The text of the file a flag names, or an exit with one line saying why not. */
export function readFlagFile(
  flag: string,
  path: string,
  usage: string,
): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    console.error(`cannot read --${flag} ${path}: ${reason}\n\n${usage}`);
    return process.exit(2);
  }
}

/**
 * What `start` returns, or an exit with one line on stderr: options the
 * library refuses (its `RangeError` or `TypeError`) with the usage and code
 * 2, anything else (an address in use, a bad certificate) with code 1.
 */
export async function started<T>(
  start: () => Promise<T> | T,
  usage: string,
): Promise<T> {
  try {
    return await start();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof RangeError || error instanceof TypeError) {
      console.error(`${message}\n\n${usage}`);
      return process.exit(2);
    }
    console.error(`cannot start: ${message}`);
    return process.exit(1);
  }
}
