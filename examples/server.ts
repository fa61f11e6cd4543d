/**
 * The classic chat-style server: logs each connect and disconnect, answers
 * every message with `received: <message>`, and closes a connection whose
 * message is `exit`.
 *
 *     deno task serve
 *     deno run --allow-net examples/server.ts --port 8080 --framing line
 *     bun run examples/server.ts --host 127.0.0.1 --port 8080
 *     node --import tsx examples/server.ts --port 8080
 *
 * Its first line on stdout is `listening on HOST:PORT`. Ctrl-C shuts it down
 * gracefully.
 */
import process from "node:process";
import { listen } from "../mod.ts";
import { exampleArgs, started } from "./_args.ts";

const USAGE =
  "usage: server.ts [--host 127.0.0.1] [--port 8080] [--framing length|line]";
const { host, port, framing } = exampleArgs(USAGE, {
  port: 8080,
  allowZeroPort: true,
});
const decoder = new TextDecoder();

const server = await started(() =>
  listen({
    hostname: host,
    port,
    framing,
    // Answers the clients' heartbeat pings ("PING" → "PONG").
    heartbeat: true,
    handler: async (conn) => {
      const peer = `${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`;
      console.log(`connected: ${peer}`);
      try {
        for await (const frame of conn) {
          const message = decoder.decode(frame);
          if (message === "exit") break;
          conn.send(`received: ${message}`);
        }
      } finally {
        console.log(`disconnected: ${peer}`);
      }
    },
  }), USAGE);

console.log(`listening on ${server.addr.hostname}:${server.addr.port}`);

process.once("SIGINT", async () => {
  console.log("shutting down");
  await server.close();
  process.exit(0);
});
