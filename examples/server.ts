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
 *
 * `--workers N` runs N processes that share the port, as
 * examples/echo_server.ts does; `--proxy-protocol` reads a PROXY protocol
 * header from peers on 127.0.0.0/8 and ::1, and then logs the address of the
 * client the proxy speaks for.
 */
import { type Connection, listen } from "../mod.ts";
import {
  exampleArgs,
  SERVER_MINIMUMS,
  SERVER_NUMBERS,
  SERVER_SWITCHES,
  serverOptions,
  started,
} from "./_args.ts";
import { counted, serveUntilStopped, superviseWorkers } from "./_workers.ts";

const USAGE =
  `usage: server.ts [--host 127.0.0.1] [--port 8080] [--framing length|line]
                 [--heartbeat-interval ms] [--heartbeat-timeout ms] [--max-frame-rate n]
                 [--max-frame-size bytes] [--max-write-buffer bytes]
                 [--workers n] [--verbose] [--proxy-protocol]`;
const { host, port, framing, extra, switches } = exampleArgs(USAGE, {
  port: 8080,
  allowZeroPort: true,
  numbers: SERVER_NUMBERS,
  minimums: SERVER_MINIMUMS,
  switches: SERVER_SWITCHES,
});
const onStop = () => console.log("shutting down");
if (extra["workers"]! > 1 && !switches["worker"]) {
  await superviseWorkers(import.meta.url, extra["workers"]!, onStop);
}
const decoder = new TextDecoder();

const { handler, accepted } = counted(async (conn: Connection) => {
  // Behind a PROXY protocol header, the client the proxy speaks for.
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
});

const server = await started(() => {
  const { probes, ...limits } = serverOptions(framing, extra, switches);
  return listen({
    hostname: host,
    port,
    ...limits,
    // Answers the clients' heartbeat pings ("PING" → "PONG"); with an
    // interval, also pings silent clients and drops those that do not answer.
    heartbeat: probes ?? true,
    handler,
  });
}, USAGE);

console.log(`listening on ${server.addr.hostname}:${server.addr.port}`);

serveUntilStopped(server, {
  signals: ["SIGINT"],
  worker: switches["worker"]!,
  verbose: switches["verbose"]!,
  accepted,
  onStop,
});
