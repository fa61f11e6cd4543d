/**
 * A pure echo server: every frame goes back unchanged. Tests, benchmarks and
 * wire-compatibility checks use it.
 *
 *     deno run -A examples/echo_server.ts --port 7000 --framing length
 *     bun run examples/echo_server.ts --port 0 --framing line
 *
 * Its first line on stdout is `listening on HOST:PORT` (the real port when
 * `--port 0` asks for a free one).
 */
import process from "node:process";
import { listen } from "../mod.ts";
import { exampleArgs } from "./_args.ts";

const USAGE =
  "usage: echo_server.ts [--host 127.0.0.1] [--port 7000] [--framing length|line]";
const { host, port, framing } = exampleArgs(USAGE, {
  port: 7000,
  allowZeroPort: true,
});

const server = await listen({
  hostname: host,
  port,
  framing,
  handler: async (conn) => {
    // Replies are not awaited one by one: the connection coalesces the
    // replies to one read's worth of frames into a single write.
    for await (const frame of conn) conn.send(frame);
  },
});
console.log(`listening on ${server.addr.hostname}:${server.addr.port}`);

process.once("SIGINT", async () => {
  await server.close();
  process.exit(0);
});
process.once("SIGTERM", async () => {
  await server.close();
  process.exit(0);
});
