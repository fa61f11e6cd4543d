// Command-line flags shared by the examples; node:util and node:process work
// unchanged on Deno, Bun and Node.
import process from "node:process";
import { parseArgs } from "node:util";

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
 * Parses `--host`, `--port`, `--framing`, the non-negative numeric flags
 * named in `numbers` (with their defaults), the file flags in `files` and the
 * boolean switches in `switches`, exiting with usage on error.
 */
export function exampleArgs(
  usage: string,
  defaults: {
    port: number;
    allowZeroPort: boolean;
    numbers?: Record<string, number>;
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
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
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
  const port = Number(values.port);
  const min = defaults.allowZeroPort ? 0 : 1;
  if (!Number.isInteger(port) || port < min || port > 65535) {
    fail(`--port must be an integer from ${min} to 65535: got ${values.port}`);
  }
  if (values.framing !== "length" && values.framing !== "line") {
    fail(`--framing must be "length" or "line": got ${values.framing}`);
  }
  const extra: Record<string, number> = {};
  for (const name of Object.keys(numbers)) {
    const raw = (values as Record<string, unknown>)[name];
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      fail(`--${name} must be a number of at least 0: got ${raw}`);
    }
    extra[name] = value;
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
    port,
    framing: values.framing as "length" | "line",
    extra,
  };
}
