/**
 * The messaging protocol in one process: a small calculator service and a
 * client that calls it. It shows concurrent requests, replies out of order,
 * a remote error, a timeout, server push, and a handover: the first server
 * shuts down under load with goaway, a second one takes its port, and every
 * request is still answered, none twice.
 *
 *     deno run --allow-net examples/rpc.ts
 *     bun run examples/rpc.ts --port 9000
 *
 * Its first line on stdout is `listening on HOST:PORT`; the client's state
 * changes go to stderr. It exits by itself.
 */
import process from "node:process";
import {
  createMessageClient,
  listenMessages,
  type MessagePeer,
  type MessageServer,
  RemoteError,
  RequestTimeoutError,
} from "../src/messaging/mod.ts";
import { exampleArgs } from "./_args.ts";

const USAGE = "usage: rpc.ts [--host 127.0.0.1] [--port 0]";
const { host, port } = exampleArgs(USAGE, { port: 0, allowZeroPort: true });
const decoder = new TextDecoder();

/** The service's calls, as JSON. */
type Call =
  | { op: "add"; a: unknown; b: unknown }
  | { op: "hold"; tag: string }
  | { op: "release" }
  | { op: "subscribe"; count: number };

/** Starts the service; `name` tells which server answered. */
function startServer(name: string, port: number): Promise<MessageServer> {
  // Replies held back until a "release": they then go out newest first.
  const held: (() => void)[] = [];
  return listenMessages({
    hostname: host,
    port,
    onRequest: async (payload: Uint8Array, peer: MessagePeer) => {
      const call = JSON.parse(decoder.decode(payload)) as Call;
      switch (call.op) {
        case "add": {
          const { a, b } = call;
          if (typeof a !== "number" || typeof b !== "number") {
            // The client sees this message and code, not the stack.
            throw Object.assign(
              new Error(`add needs two numbers: got ${JSON.stringify(a)}`),
              { code: "BAD_INPUT" },
            );
          }
          return JSON.stringify({ sum: a + b, server: name });
        }
        case "hold":
          await new Promise<void>((resolve) => held.push(resolve));
          return call.tag;
        case "release":
          for (const release of held.splice(0).reverse()) release();
          return "released";
        case "subscribe":
          for (let n = 1; n <= call.count; n++) peer.push(`tick ${n}`);
          return "subscribed";
      }
    },
  });
}

let server = await startServer("A", port);
const address = server.addr;
console.log(`listening on ${address.hostname}:${address.port}`);

const client = createMessageClient({
  hostname: address.hostname,
  port: address.port,
  reconnect: { minTimeout: 50, maxTimeout: 500 },
});
client.addEventListener("status", () => {
  console.error(`state: ${client.state}`);
});
const call = async (body: Call, timeout?: number): Promise<string> =>
  decoder.decode(
    await client.request(
      JSON.stringify(body),
      timeout === undefined ? {} : { timeout },
    ),
  );

// 1. Many requests at once on one connection, matched by id.
const sums = await Promise.all(
  Array.from({ length: 100 }, (_, n) => call({ op: "add", a: n, b: 1 })),
);
const total = sums.reduce((sum, reply) => sum + JSON.parse(reply).sum, 0);
console.log(`100 concurrent requests: the replies add up to ${total}`);

// 2. A handler that throws: a typed error with the server's message.
try {
  await call({ op: "add", a: "x", b: 1 });
} catch (error) {
  if (!(error instanceof RemoteError)) throw error;
  console.log(`remote error ${error.remoteCode}: ${error.remoteMessage}`);
}

// 3. No reply in time: the request fails; the late reply is dropped.
try {
  await call({ op: "hold", tag: "too slow" }, 100);
} catch (error) {
  if (!(error instanceof RequestTimeoutError)) throw error;
  console.log(`timed out after ${error.timeout} ms`);
}

// 4. Replies in any order: each reaches its own request.
const arrived: string[] = [];
await Promise.all([
  ...["first", "second", "third"].map((tag) =>
    call({ op: "hold", tag }).then((reply) => arrived.push(reply))
  ),
  call({ op: "release" }),
]);
console.log(`sent first, second, third; replies came: ${arrived.join(", ")}`);

// 5. Server push: messages the client did not ask for, in order.
await call({ op: "subscribe", count: 3 });
const pushed: string[] = [];
for await (const message of client) {
  pushed.push(decoder.decode(message));
  if (pushed.length === 3) break;
}
console.log(`pushed: ${pushed.join(", ")}`);

// 6. Handover under load: the first server says goaway and answers what it
// accepted; the client resends what it refused to the next server.
const load: Promise<string>[] = [];
const more = (count: number) => {
  for (let i = 0; i < count; i++) {
    const n = load.length;
    load.push(call({ op: "add", a: n, b: n }));
  }
};
more(100);
await load[49]; // the first server is busy answering
const closing = server.close();
more(100); // these wait for the next server
await closing;
server = await startServer("B", address.port);
const replies = (await Promise.allSettled(load)).map((result) =>
  result.status === "fulfilled" ? JSON.parse(result.value) : undefined
);
const answered = replies.filter((reply, n) => reply?.sum === 2 * n).length;
const byServer = (name: string) =>
  replies.filter((reply) => reply?.server === name).length;
console.error(`answered by A: ${byServer("A")}, by B: ${byServer("B")}`);
console.log(`handover: ${answered} of ${load.length} requests answered`);

await client.close();
await server.close();
process.exit(0);
