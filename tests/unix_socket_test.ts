// Unix domain sockets on the runtime running the suite: connections,
// clients, messaging, the socket file's life and the address format.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import {
  existsSync,
  linkSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Client,
  type ClientState,
  connect,
  createClient,
  listen,
  NetError,
} from "../mod.ts";
import { createMessageClient, listenMessages } from "../src/messaging/mod.ts";
import { formatAddress } from "../src/errors.ts";
import { ErrorLog } from "../src/server/_error_log.ts";
import { systemClock } from "../src/clock.ts";
import { echo, runtime, take } from "./_utils.ts";
import { within } from "./_async.ts";

const PATIENCE = 20_000;
const text = new TextDecoder();
const dir = mkdtempSync(join(tmpdir(), "tether-unix-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let sockets = 0;
/** A fresh socket path in the test's directory. */
function socketPath(): string {
  return join(dir, `s${++sockets}.sock`);
}

function reach(client: Client, state: ClientState) {
  return within(client.waitFor(state), PATIENCE, `state ${state}`);
}

test("connect() and listen() carry frames over a Unix socket", async () => {
  const path = socketPath();
  let peer: { local: unknown; remote: unknown } | undefined;
  await using server = await listen({
    path,
    // Accepted for Unix sockets too, where they do nothing.
    noDelay: true,
    keepAlive: true,
    handler: (conn) => {
      peer = { local: conn.localAddr, remote: conn.remoteAddr };
      return echo(conn);
    },
  });
  assert.deepEqual(server.addr, {
    transport: "unix",
    hostname: "",
    port: 0,
    path,
  });
  await using conn = await connect({ path, keepAlive: true });
  await conn.send("over unix");
  const [reply] = await take(conn, 1);
  assert.equal(text.decode(reply), "over unix");
  assert.equal(formatAddress(conn.remoteAddr), `unix:${path}`);
  assert.equal(conn.remoteAddr.path, path);
  assert.equal(conn.localAddr.transport, "unix");
  assert.deepEqual(peer, {
    local: { transport: "unix", hostname: "", port: 0, path },
    remote: { transport: "unix", hostname: "", port: 0, path: "" },
  });
});

test("createClient() reconnects to a server restarted on the same path", async () => {
  const path = socketPath();
  let server = await listen({ path, handler: echo });
  const client = createClient({
    path,
    reconnect: { minTimeout: 10, maxTimeout: 50 },
  });
  try {
    await reach(client, "open");
    await client.send("first");
    const frames = client[Symbol.asyncIterator]();
    assert.equal(text.decode((await frames.next()).value), "first");
    await server.close();
    await reach(client, "reconnecting");
    server = await listen({ path, handler: echo });
    await reach(client, "open");
    await client.send("second");
    assert.equal(text.decode((await frames.next()).value), "second");
  } finally {
    await client.close();
    await server.close();
  }
});

test("messaging requests are answered over a Unix socket", async () => {
  const path = socketPath();
  await using server = await listenMessages({
    path,
    onRequest: (payload) => `re: ${text.decode(payload)}`,
  });
  await using client = createMessageClient({ path });
  assert.equal(text.decode(await client.request("ping")), "re: ping");
  assert.equal(server.addr.path, path);
});

test("listen() removes a stale socket file but never steals a live one", async () => {
  const path = socketPath();
  const stale = socketPath();
  // A second name for the socket file outlives the server: nothing answers.
  const first = await listen({ path, handler: echo });
  linkSync(path, stale);
  await first.close();
  assert.ok(existsSync(stale));
  await using server = await listen({ path: stale, handler: echo });

  await assert.rejects(
    listen({ path: stale, handler: echo }),
    (error: unknown) =>
      error instanceof NetError && error.code === "EADDRINUSE" &&
      error.message.includes(`unix:${stale}`),
  );
  // The live server still has its file, and serves.
  assert.ok(statSync(stale).isSocket());
  await using conn = await connect({ path: stale });
  await conn.send("still mine");
  assert.equal(text.decode((await take(conn, 1))[0]), "still mine");
  assert.equal(server.connections, 1);
});

test("listen() leaves a file that is not a socket alone", async () => {
  const path = socketPath();
  writeFileSync(path, "data");
  await assert.rejects(
    listen({ path, handler: echo }),
    (error: unknown) =>
      error instanceof NetError && error.code === "EADDRINUSE",
  );
  assert.ok(statSync(path).isFile());
});

test("server.close() removes the socket file", async () => {
  const path = socketPath();
  const server = await listen({ path, handler: echo });
  assert.ok(statSync(path).isSocket());
  await server.close();
  assert.equal(existsSync(path), false);
});

test("listen() sets the socket file's mode", async () => {
  const path = socketPath();
  await using _server = await listen({ path, mode: 0o600, handler: echo });
  assert.equal(statSync(path).mode & 0o777, 0o600);
  const other = socketPath();
  await using _other = await listen({
    path: other,
    mode: 0o660,
    handler: echo,
  });
  assert.equal(statSync(other).mode & 0o777, 0o660);
});

test("errors and the server's log name a Unix socket unix:PATH", async () => {
  const path = socketPath();
  await assert.rejects(
    connect({ path }),
    (error: unknown) =>
      error instanceof NetError && error.code === "ECONNREFUSED" &&
      error.address?.path === path &&
      error.message.startsWith(`Cannot connect to unix:${path} as`),
  );
  const lines: string[] = [];
  const log = new ErrorLog((line) => lines.push(String(line)), systemClock);
  log.report(new Error("boom"), {
    transport: "unix",
    hostname: "",
    port: 0,
    path: "",
  });
  log.flush();
  assert.equal(lines[0], "tether: connection from unix:(unnamed) failed:");
  assert.equal(formatAddress({ hostname: "::1", port: 80 }), "[::1]:80");
});

test("path is checked, and refused with a host, a port, TLS or reusePort", async () => {
  const path = socketPath();
  const handler = echo;
  const refusals: [Promise<unknown>, ErrorConstructor][] = [
    [connect({ path, hostname: "127.0.0.1" }), TypeError],
    [connect({ path, port: 80 }), TypeError],
    [connect({ path: "" }), RangeError],
    [connect({ path, tls: true }), TypeError],
    [listen({ path, port: 0, handler }), TypeError],
    [listen({ path: "", handler }), RangeError],
    [listen({ path, reusePort: true, handler }), TypeError],
    [listen({ path, mode: 0o1000, handler }), RangeError],
    [listen({ path, mode: -1, handler }), RangeError],
    [listen({ path, mode: 1.5, handler }), RangeError],
    [listen({ port: 0, mode: 0o600, handler }), TypeError],
    [
      listen({ path, tls: { cert: "", key: "" }, handler }),
      TypeError,
    ],
    [
      listen({ port: 0, reusePort: "yes" as unknown as boolean, handler }),
      TypeError,
    ],
  ];
  for (const [attempt, type] of refusals) {
    await assert.rejects(attempt, type);
  }
  // A client refuses them when it is created, not at its first attempt.
  assert.throws(() => createClient({ path, port: 80 }), TypeError);
  assert.throws(() => createClient({ path: "" }), RangeError);
  assert.equal(existsSync(path), false);
});

test("runtime adapters refuse TLS over a Unix socket with ENOTSUP", async () => {
  const path = socketPath();
  const enotsup = (error: unknown) =>
    error instanceof NetError && error.code === "ENOTSUP" &&
    error.message.includes(`unix:${path}`);
  await assert.rejects(
    runtime.listen({
      hostname: "",
      port: 0,
      path,
      tls: { cert: "", key: "" },
    }),
    enotsup,
  );
  await assert.rejects(
    runtime.connect({ hostname: "", port: 0, path, tls: {} }),
    enotsup,
  );
  await assert.rejects(
    runtime.listen({ hostname: "", port: 0, path, reusePort: true }),
    enotsup,
  );
});
