// The lifecycle around a connection, on real loopback sockets: what a close,
// an abort, a stuck peer or a slow onConnect does to data in flight and to
// every pending promise.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type Client,
  type ClientState,
  CloseTimeoutError,
  connect,
  type Connection,
  ConnectionClosedError,
  createClient,
  NetError,
  OpenTimeoutError,
} from "../mod.ts";
import { createMessageClient } from "../src/messaging/message_client.ts";
import { listenMessages } from "../src/messaging/message_server.ts";
import { Buffer } from "node:buffer";
import { execFileSync, spawn } from "node:child_process";
import {
  closedPort,
  echo,
  exampleCommand,
  type ExampleRuntime,
  HOST,
  ROOT,
  runtime,
  serve,
} from "./_utils.ts";
import { faultyRuntime } from "./_faulty_runtime.ts";
import { deferred, within } from "./_async.ts";
import { FakeClock, settle } from "./_fake_clock.ts";

const PATIENCE = 20_000;
const text = new TextDecoder();
const FAST = { minTimeout: 10, maxTimeout: 50 };

/** `client.waitFor(state)`, failing instead of hanging. */
function reach(client: Client, state: ClientState) {
  return within(client.waitFor(state), PATIENCE, `state ${state}`);
}

/** A handler that reads until the peer is done, dropping every frame. */
async function drain(conn: Connection): Promise<void> {
  for await (const _ of conn) { /* dropped */ }
}

/** A server that counts the frames it reads, echoing each. */
async function countingEcho() {
  const done = deferred<number>();
  const server = await serve(async (conn) => {
    let count = 0;
    for await (const frames of conn.batches()) {
      count += frames.length;
      for (const frame of frames) conn.send(frame);
    }
    done.resolve(count);
  });
  return { server, count: done.promise };
}

test("client.close() delivers every frame whose send() resolved", async () => {
  const { server, count } = await countingEcho();
  try {
    const client = createClient({ port: server.addr.port });
    await reach(client, "open");
    const frame = new Uint8Array(64);
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 20_000; i++) sends.push(client.send(frame));
    await Promise.all(sends);
    await within(client.close(), PATIENCE, "close()");
    assert.equal(await within(count, PATIENCE, "server count"), 20_000);
    assert.equal(client.status.reason, "closed");
  } finally {
    await server.close();
  }
});

test("client.close() delivers every frame through writes cut at random points", async () => {
  const { server, count } = await countingEcho();
  const faults = faultyRuntime(runtime);
  try {
    const client = createClient({
      port: server.addr.port,
      runtime: faults.runtime,
    });
    faults.next().then((control) => control.sliceWrites(7));
    await reach(client, "open");
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 2_000; i++) {
      sends.push(client.send(new Uint8Array(1 + (i * 37) % 3_000)));
    }
    await Promise.all(sends);
    await within(client.close(), PATIENCE, "close()");
    assert.equal(await within(count, PATIENCE, "server count"), 2_000);
  } finally {
    await server.close();
  }
});

test("client.close() delivers large frames to a server slower than the client", async () => {
  const done = deferred<number>();
  await using server = await serve(async (conn) => {
    let count = 0;
    for await (const frame of conn) {
      count++;
      // Each frame costs the server a task turn or more: it falls behind.
      await new Promise((resolve) => setTimeout(resolve, 0));
      await conn.send(frame.subarray(0, 4));
    }
    done.resolve(count);
  });
  const client = createClient({ port: server.addr.port });
  await reach(client, "open");
  const frame = new Uint8Array(16 * 1024);
  const sends: Promise<void>[] = [];
  for (let i = 0; i < 200; i++) sends.push(client.send(frame));
  await Promise.all(sends);
  await within(client.close(), PATIENCE, "close()");
  assert.equal(await within(done.promise, PATIENCE, "server count"), 200);
});

test("MessageClient.close() delivers every message whose send() resolved", async () => {
  const total = 200;
  let received = 0;
  const finished = deferred<void>();
  await using server = await listenMessages({
    hostname: HOST,
    port: 0,
    // One message at a time, each taking a task turn and acknowledged with a
    // push the closing client never reads: the server falls behind, with
    // unread data on the client's side.
    maxConcurrency: 1,
    onMessage: async (_, peer) => {
      await new Promise((resolve) => setTimeout(resolve, 0));
      await peer.push("ack");
      if (++received === total) finished.resolve();
    },
  });
  const client = createMessageClient({ port: server.addr.port });
  await within(client.waitFor("open"), PATIENCE, "open");
  const message = new Uint8Array(16 * 1024);
  const sends: Promise<void>[] = [];
  for (let i = 0; i < total; i++) sends.push(client.send(message));
  await Promise.all(sends);
  await within(client.close(), PATIENCE, "close()");
  await within(finished.promise, PATIENCE, `${total} messages`);
  assert.equal(received, total);
});

test("a server cuts a peer that never reads once closeTimeout passes, freeing its slot", async () => {
  const errors: unknown[] = [];
  const reported = deferred<void>();
  // An empty frame asks for 32 MiB, more than loopback buffers hold; any
  // other frame is echoed.
  const server = await serve(async (conn) => {
    for await (const frame of conn) {
      if (frame.byteLength > 0) {
        await conn.send(frame);
        continue;
      }
      for (let i = 0; i < 32; i++) conn.send(new Uint8Array(1024 * 1024));
      return;
    }
  }, {
    idleTimeout: 300,
    maxConnections: 1,
    maxWriteBuffer: 64 * 1024 * 1024,
    onError: (error) => {
      errors.push(error);
      reported.resolve();
    },
  });
  const peer = await runtime.connect({
    hostname: HOST,
    port: server.addr.port,
  });
  try {
    // One empty frame, then never a read.
    await peer.write(new Uint8Array(4));
    await within(reported.promise, PATIENCE, "onError");
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof CloseTimeoutError);
    assert.equal(errors[0].timeout, 300);
    assert.ok(errors[0].unsent > 0);
    await settle();
    assert.equal(server.connections, 0);
    // The slot is free again: a new client is served.
    await using conn = await connect({ port: server.addr.port });
    await conn.send("hi");
    const reply = await within(
      conn[Symbol.asyncIterator]().next(),
      PATIENCE,
      "reply",
    );
    assert.equal(new TextDecoder().decode(reply.value), "hi");
  } finally {
    peer.close();
    await server.close();
  }
});

test("aborting the client's signal cuts short a close() stuck on a peer that does not read", async () => {
  const stuck = deferred<void>();
  await using server = await serve(async (conn) => {
    stuck.resolve();
    await conn.closed;
  }, { shutdownTimeout: 100 });
  const controller = new AbortController();
  const client = createClient({
    port: server.addr.port,
    signal: controller.signal,
    closeTimeout: 0,
  });
  await reach(client, "open");
  await stuck.promise;
  const sends: Promise<void>[] = [];
  const frame = new Uint8Array(64 * 1024);
  for (let i = 0; i < 200; i++) sends.push(client.send(frame));
  const closing = client.close();
  const reason = new Error("stop now");
  controller.abort(reason);
  await within(closing, PATIENCE, "close() after the abort");
  assert.equal(client.state, "closed");
  assert.equal(client.status.reason, "aborted");
  assert.equal(client.status.error, reason);
  // Every send settles: those not yet written reject.
  const results = await Promise.allSettled(sends);
  assert.ok(results.some((result) => result.status === "rejected"));
});

test("aborting a Connection cuts short its close() at once", async () => {
  await using server = await serve((conn) => conn.closed, {
    shutdownTimeout: 100,
  });
  const conn = await connect({ port: server.addr.port, closeTimeout: 0 });
  const frame = new Uint8Array(64 * 1024);
  for (let i = 0; i < 200; i++) conn.send(frame);
  const closing = conn.close();
  const reason = new Error("stop now");
  conn.abort(reason);
  await within(closing, PATIENCE, "close() after the abort");
  assert.equal(conn.signal.reason, reason);
});

test("Connection.close() aborts with CloseTimeoutError when the peer does not read in time", async () => {
  await using server = await serve((conn) => conn.closed, {
    shutdownTimeout: 100,
  });
  const conn = await connect({
    port: server.addr.port,
    closeTimeout: 200,
    maxWriteBuffer: 64 * 1024 * 1024,
  });
  let sent!: Promise<void>;
  for (let i = 0; i < 32; i++) sent = conn.send(new Uint8Array(1024 * 1024));
  await within(conn.close(), PATIENCE, "close()");
  assert.ok(conn.signal.reason instanceof CloseTimeoutError);
  await assert.rejects(sent, CloseTimeoutError);
});

test("an offline send() keeps a copy: the caller may reuse its buffer", async () => {
  const port = await closedPort();
  const client = createClient({ port, reconnect: FAST });
  const buffer = new Uint8Array(8);
  const sends: Promise<void>[] = [];
  for (let i = 0; i < 20; i++) {
    buffer.fill(i);
    sends.push(client.send(buffer));
  }
  const received: number[] = [];
  const all = deferred<void>();
  await using _server = await serve(async (conn) => {
    for await (const frame of conn) {
      received.push(frame[0]!);
      if (received.length === 20) all.resolve();
    }
  }, { port });
  await within(Promise.all(sends), PATIENCE, "sends");
  await within(all.promise, PATIENCE, "20 frames");
  assert.deepEqual(received, Array.from({ length: 20 }, (_, i) => i));
  await client.close();
});

test("client.close() does not wait for an onConnect that never finishes", async () => {
  await using server = await serve(drain);
  const entered = deferred<void>();
  const client = createClient({
    port: server.addr.port,
    onConnect: () => {
      entered.resolve();
      return new Promise(() => {});
    },
  });
  await within(entered.promise, PATIENCE, "onConnect");
  await within(client.close(), PATIENCE, "close()");
  assert.equal(client.state, "closed");
  assert.equal(client.status.reason, "closed");
});

test("the connection failing during onConnect fails the attempt, and the client retries", async () => {
  await using server = await serve(echo);
  const faults = faultyRuntime(runtime);
  let attempts = 0;
  const client = createClient({
    port: server.addr.port,
    runtime: faults.runtime,
    reconnect: FAST,
    onConnect: (conn) => {
      if (++attempts > 1) return;
      // The greeting's write fails; the hook itself never finishes.
      faults.conns[0]!.failNextWrite("EPIPE");
      conn.send("hello");
      return new Promise(() => {});
    },
  });
  try {
    await reach(client, "open");
    assert.equal(attempts, 2);
  } finally {
    await client.close();
  }
});

test("a failed write ends the connection: the client reconnects and queues without the application reading", async () => {
  await using server = await serve(async (conn) => {
    for await (const frame of conn) conn.send(frame);
  });
  const faults = faultyRuntime(runtime);
  const client = createClient({
    port: server.addr.port,
    runtime: faults.runtime,
    reconnect: FAST,
  });
  try {
    await reach(client, "open");
    const first = client.connection!;
    faults.conns[0]!.failNextWrite("EPIPE");
    const failed = client.send("lost");
    await assert.rejects(
      failed,
      (error: unknown) => error instanceof NetError && error.code === "EPIPE",
    );
    await within(first.closed, PATIENCE, "the failed connection");
    assert.equal((first.signal.reason as NetError).code, "EPIPE");
    // Nobody reads the client, yet it moves on to a new connection, and
    // a frame sent meanwhile waits for it.
    const queued = client.send("queued");
    await reach(client, "open");
    assert.notEqual(client.connection, first);
    await within(queued, PATIENCE, "the queued frame");
    for await (const frame of client) {
      assert.equal(new TextDecoder().decode(frame), "queued");
      break;
    }
  } finally {
    await client.close();
  }
});

test("an onConnect slower than openTimeout fails the attempt with OpenTimeoutError", async () => {
  await using server = await serve(drain);
  const clock = new FakeClock();
  const entered = deferred<Connection>();
  const client = createClient({
    port: server.addr.port,
    clock,
    openTimeout: 5_000,
    reconnect: { minTimeout: 1_000, maxTimeout: 1_000 },
    onConnect: (conn) => {
      entered.resolve(conn);
      return new Promise(() => {});
    },
  });
  try {
    const conn = await within(entered.promise, PATIENCE, "onConnect");
    clock.tick(4_999);
    await settle();
    assert.equal(conn.signal.aborted, false);
    clock.tick(1);
    await within(conn.closed, PATIENCE, "the aborted connection");
    assert.ok(conn.signal.reason instanceof OpenTimeoutError);
    await within(
      (async () => {
        while (client.status.nextDelay === undefined) await settle(1);
      })(),
      PATIENCE,
      "a retry",
    );
    assert.equal(client.state, "connecting");
    assert.ok(client.status.error instanceof OpenTimeoutError);
  } finally {
    await client.close();
  }
});

test("waitFor() with a signal leaves no listener behind", async () => {
  await using server = await serve(drain);
  const client = createClient({ port: server.addr.port });
  const controller = new AbortController();
  const signal = controller.signal;
  let listeners = 0;
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<typeof add>) => {
    listeners++;
    add(...args);
  };
  signal.removeEventListener = (...args: Parameters<typeof remove>) => {
    listeners--;
    remove(...args);
  };
  try {
    for (let i = 0; i < 1_000; i++) await client.waitFor("open", { signal });
    assert.equal(listeners, 0);
  } finally {
    await client.close();
  }
});

test("server.close() waits for aborted handlers to finish", async () => {
  let cleanedUp = false;
  const accepted = deferred<void>();
  const server = await serve(async (conn) => {
    accepted.resolve();
    // Ignores the drain; once aborted it still has clean-up to do.
    await conn.closed;
    await new Promise((resolve) => setTimeout(resolve, 0));
    cleanedUp = true;
  }, { shutdownTimeout: 50 });
  const conn = await connect({ port: server.addr.port });
  await accepted.promise;
  await within(server.close(), PATIENCE, "server.close()");
  assert.equal(cleanedUp, true);
  assert.ok(conn);
  conn.abort();
});

test("a client's sends are rejected, not lost silently, when the client closes before a connection", async () => {
  const port = await closedPort();
  const client = createClient({ port, reconnect: FAST });
  const sent = client.send("never connected");
  await client.close();
  await assert.rejects(sent, ConnectionClosedError);
});

test("sends nobody awaits never end the process, however they fail", async () => {
  const [command, args] = exampleCommand(
    runtime.name as ExampleRuntime,
    "../tests/fixtures/unawaited_sends.ts",
    [],
  );
  const child = spawn(command, args, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (data) => output += data);
  child.stderr.on("data", (data) => output += data);
  const code = await within(
    new Promise<number | null>((resolve) => child.on("close", resolve)),
    PATIENCE,
    "the fixture's exit",
  ).finally(() => child.kill());
  assert.equal(code, 0, output);
  assert.equal(output.trim(), "ok");
});

test("close() from a status listener stops the client at once, before a dial or a backoff wait", async () => {
  await using server = await serve(drain);
  // Stopped while announcing a wait of a minute before the next attempt.
  const waiting = createClient({
    port: await closedPort(),
    reconnect: { minTimeout: 60_000, maxTimeout: 60_000 },
  });
  waiting.addEventListener("status", () => {
    if (waiting.status.nextDelay !== undefined) void waiting.close();
  });
  await within(waiting.closed, PATIENCE, "close() during the backoff");
  // Stopped while announcing the second attempt, whose onConnect would never
  // finish: no dial follows.
  const faults = faultyRuntime(runtime);
  faults.refuse(1);
  const dialling = createClient({
    port: server.addr.port,
    runtime: faults.runtime,
    reconnect: FAST,
    openTimeout: 60_000,
    onConnect: () => new Promise(() => {}),
  });
  dialling.addEventListener("status", () => {
    const { attempt, nextDelay } = dialling.status;
    if (attempt === 2 && nextDelay === undefined) void dialling.close();
  });
  await within(dialling.closed, PATIENCE, "close() before the dial");
  assert.equal(faults.conns.length, 0);
});

test("an offline send() copies a Node Buffer too", async () => {
  const port = await closedPort();
  const client = createClient({ port, reconnect: FAST });
  const buffer = Buffer.from("original");
  const sent = client.send(buffer);
  buffer.write("CHANGED!");
  const received = deferred<string>();
  await using _server = await serve(async (conn) => {
    for await (const frame of conn) received.resolve(text.decode(frame));
  }, { port });
  await within(sent, PATIENCE, "the send");
  assert.equal(await within(received.promise, PATIENCE, "frame"), "original");
  await client.close();
});

test("a close whose peer read everything but never sent its FIN is no CloseTimeoutError", async () => {
  await using server = await serve(async (conn) => {
    for await (const _ of conn) { /* read, and never closed from here */ }
    await new Promise(() => {});
  }, { shutdownTimeout: 100 });
  const conn = await connect({ port: server.addr.port, closeTimeout: 100 });
  await conn.send("last");
  await within(conn.close(), PATIENCE, "close()");
  assert.ok(conn.signal.reason instanceof ConnectionClosedError);
});

test("a client's close() cut short by closeTimeout leaves the cause in its status", async () => {
  await using server = await serve((conn) => conn.closed, {
    shutdownTimeout: 100,
  });
  const client = createClient({
    port: server.addr.port,
    closeTimeout: 100,
    maxWriteBuffer: 64 * 1024 * 1024,
  });
  await reach(client, "open");
  for (let i = 0; i < 32; i++) client.send(new Uint8Array(1024 * 1024));
  await within(client.close(), PATIENCE, "close()");
  assert.equal(client.status.reason, "closed");
  assert.ok(client.status.error instanceof CloseTimeoutError);
});

test("an isRetriable that throws closes the client with what it threw", async () => {
  const thrown = new Error("policy bug");
  const client = createClient({
    port: await closedPort(),
    reconnect: {
      isRetriable: () => {
        throw thrown;
      },
    },
  });
  const status = await within(client.closed, PATIENCE, "closed");
  assert.equal(status.reason, "failed");
  assert.equal(status.error, thrown);
});

/** The kernel's sockets with local port `port`: state and send queue. */
function socketsOn(port: number): { state: string; unsent: number }[] {
  const out = execFileSync("ss", [
    "-tnH",
    "state",
    "all",
    `( sport = :${port} )`,
  ])
    .toString();
  return out.split("\n").filter((line) => line.trim()).map((line) => {
    const [state, , unsent] = line.trim().split(/\s+/);
    return { state: state!, unsent: Number(unsent) };
  });
}

const hasSs = (() => {
  try {
    execFileSync("ss", ["-V"]);
    return true;
  } catch {
    console.error(
      "lifecycle_test: `ss` (iproute2) is missing: reset test skipped",
    );
    return false;
  }
})();

test(
  "an aborted connection is reset: its unsent bytes never reach the peer later",
  {
    skip: !hasSs && "needs ss from iproute2",
  },
  async () => {
    const reading = deferred<void>();
    await using server = await serve(async (conn) => {
      await reading.promise;
      for await (const _ of conn) { /* dropped */ }
    }, { shutdownTimeout: 100 });
    const conn = await connect({
      port: server.addr.port,
      maxWriteBuffer: 64 * 1024 * 1024,
    });
    const port = conn.localAddr.port;
    try {
      // More than the two kernel buffers hold: the server is not reading.
      const sends: Promise<void>[] = [];
      for (let i = 0; i < 32; i++) {
        sends.push(conn.send(new Uint8Array(1 << 20)));
      }
      await within(sends[0]!, PATIENCE, "the first megabyte");
      conn.abort(new Error("link declared dead"));
      await Promise.allSettled(sends);
      await conn.closed;
      const waiting = () =>
        socketsOn(port).filter((socket) => socket.unsent > 0);
      if (runtime.name === "deno") {
        // Deno cannot reset a socket: its kernel still holds the bytes to send.
        assert.ok(waiting().length > 0, "Deno reset the connection");
      } else {
        // A graceful close would leave them queued in FIN-WAIT-1 for as long
        // as the server does not read.
        await within(
          (async () => {
            while (waiting().length > 0) {
              await new Promise((resolve) => setTimeout(resolve, 10));
            }
          })(),
          PATIENCE,
          `no bytes left to send: ${JSON.stringify(socketsOn(port))}`,
        );
      }
    } finally {
      reading.resolve();
    }
  },
);
