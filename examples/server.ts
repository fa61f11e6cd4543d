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
import {
  exampleArgs,
  SERVER_NUMBERS,
  serverOptions,
  started,
} from "./_args.ts";

const USAGE =
  `usage: server.ts [--host 127.0.0.1] [--port 8080] [--framing length|line]
                 [--heartbeat-interval ms] [--heartbeat-timeout ms] [--max-frame-rate n]
                 [--max-frame-size bytes] [--max-write-buffer bytes]`;
const { host, port, framing, extra } = exampleArgs(USAGE, {
  port: 8080,
  allowZeroPort: true,
  numbers: SERVER_NUMBERS,
});
const decoder = new TextDecoder();

const server = await started(() => {
  const { probes, ...limits } = serverOptions(framing, extra);
  return listen({
    hostname: host,
    port,
    ...limits,
    // Answers the clients' heartbeat pings ("PING" → "PONG"); with an
    // interval, also pings silent clients and drops those that do not answer.
    heartbeat: probes ?? true,
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
  });
}, USAGE);

console.log(`listening on ${server.addr.hostname}:${server.addr.port}`);

process.once("SIGINT", async () => {
  console.log("shutting down");
  await server.close();
  process.exit(0);
});
