// Command-line flags shared by the examples; node:util and node:process work
// unchanged on Deno and Bun.
import process from "node:process";
import { parseArgs } from "node:util";

/** The flags every example takes. */
export interface ExampleArgs {
  host: string;
  port: number;
  framing: "length" | "line";
}

/** Parses `--host`, `--port` and `--framing`, exiting with usage on error. */
export function exampleArgs(
  usage: string,
  defaults: { port: number; allowZeroPort: boolean },
): ExampleArgs {
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
  return {
    host: values.host,
    port,
    framing: values.framing as "length" | "line",
  };
}
