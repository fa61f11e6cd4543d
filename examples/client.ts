/**
 * The interactive client: sends each line typed on stdin as one message and
 * prints each reply; `exit` quits. With stdin piped, it sends every line,
 * prints the replies and exits.
 *
 * It survives the server: when the server goes away it reconnects with
 * backoff, lines typed meanwhile are queued and sent after the reconnect,
 * and heartbeats detect a server that stopped answering. Each state change
 * is printed to stderr as `state: <name>`.
 *
 *     bun run examples/client.ts --port 8080
 *     deno run --allow-net examples/client.ts --framing line
 *     echo hi | bun run examples/client.ts
 *     echo hi | node --import tsx examples/client.ts
 *     bun run examples/client.ts --heartbeat-interval 1000 --heartbeat-timeout 500
 *
 * It expects one reply per message, as `examples/server.ts` and
 * `examples/echo_server.ts` give; `--heartbeat-interval 0` turns heartbeats
 * off for servers that do not answer `PING` with `PONG`.
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { createClient } from "../mod.ts";
import { exampleArgs, started } from "./_args.ts";

const USAGE =
  `usage: client.ts [--host 127.0.0.1] [--port 8080] [--framing length|line]
                 [--heartbeat-interval 5000] [--heartbeat-timeout 2000]`;
const { host, port, framing, extra } = exampleArgs(USAGE, {
  port: 8080,
  allowZeroPort: false,
  numbers: { "heartbeat-interval": 5000, "heartbeat-timeout": 2000 },
});
const interval = extra["heartbeat-interval"]!;
const timeout = extra["heartbeat-timeout"]!;
const decoder = new TextDecoder();

const client = await started(() =>
  createClient({
    hostname: host,
    port,
    framing,
    heartbeat: interval > 0 ? { interval, timeout } : false,
  }), USAGE);
// Replies still due: for lines queued or written. Lines written to a
// connection that then broke get no reply (the link lost them), so they stop
// counting when the client leaves the open state.
let awaiting = 0;
let written = 0;
let inputDone = false;
let finish!: () => void;
const finished = new Promise<void>((resolve) => finish = resolve);
const settle = () => {
  if (inputDone && awaiting <= 0) finish();
};

let state = client.state;
console.error(`state: ${state}`);
client.addEventListener("status", (event) => {
  const status = (event as unknown as { status: typeof client.status }).status;
  // Each failed attempt says why, or a refused port looks like a hang.
  if (status.nextDelay !== undefined) {
    const { error, attempt, nextDelay } = status;
    console.error(
      `attempt ${attempt} failed: ${
        error instanceof Error ? error.message : error
      }; retrying in ${nextDelay} ms`,
    );
  }
  if (status.state === state) return;
  if (state === "open" && written > 0) {
    console.error(`lost with the connection: ${written} replies`);
    awaiting -= written;
    written = 0;
    settle();
  }
  state = status.state;
  console.error(`state: ${state}`);
});

(async () => {
  for await (const frame of client) {
    console.log(decoder.decode(frame));
    awaiting -= 1;
    if (written > 0) written -= 1;
    settle();
  }
  const { error } = await client.closed;
  if (error) throw error;
})().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

const lines = createInterface({ input: process.stdin, terminal: false });
for await (const line of lines) {
  if (line === "exit") break;
  awaiting += 1;
  // Not awaited: while the server is away, lines wait in the client's queue.
  client.send(line).then(
    () => written += 1,
    (error) => {
      awaiting -= 1;
      console.error(
        `not sent: ${error instanceof Error ? error.message : error}`,
      );
      settle();
    },
  );
}
lines.close();
inputDone = true;
settle();
await finished;
await client.close();
process.exit(0);
