/**
 * The interactive client: sends each line typed on stdin as one message and
 * prints each reply; `exit` quits. With stdin piped, it sends every line,
 * prints the replies and exits.
 *
 *     bun run examples/client.ts --port 8080
 *     deno run --allow-net examples/client.ts --framing line
 *     echo hi | bun run examples/client.ts
 *
 * It expects one reply per message, as `examples/server.ts` and
 * `examples/echo_server.ts` give.
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { connect } from "../mod.ts";
import { exampleArgs } from "./_args.ts";

const USAGE =
  "usage: client.ts [--host 127.0.0.1] [--port 8080] [--framing length|line]";
const { host, port, framing } = exampleArgs(USAGE, {
  port: 8080,
  allowZeroPort: false,
});
const decoder = new TextDecoder();

let conn;
try {
  conn = await connect({ hostname: host, port, framing });
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}

let awaiting = 0;
let inputDone = false;
const replies = (async () => {
  for await (const frame of conn) {
    console.log(decoder.decode(frame));
    awaiting -= 1;
    if (inputDone && awaiting === 0) return;
  }
  if (!inputDone || awaiting > 0) {
    throw new Error("the server closed the connection");
  }
})().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

const lines = createInterface({ input: process.stdin, terminal: false });
for await (const line of lines) {
  if (line === "exit") break;
  awaiting += 1;
  await conn.send(line);
}
lines.close();
inputDone = true;
// Wait for the replies still due; the server's close ends the wait too.
if (awaiting > 0) await replies;
await conn.close();
await replies;
process.exit(0);
