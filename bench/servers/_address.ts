// The flags of the raw echo servers; node:process and node:util work
// unchanged on Deno, Bun and Node.
import process from "node:process";
import { parseArgs } from "node:util";

/**
 * The `--host` and `--port` a raw echo server was started with; exits with
 * a message if the port is out of range.
 */
export function serverAddress(): { host: string; port: number } {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "7000" },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(
      `--port must be an integer from 0 to 65535: got ${values.port}`,
    );
    process.exit(2);
  }
  return { host: values.host, port };
}
