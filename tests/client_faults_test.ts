// Fault tests of the self-healing client on real loopback sockets: killed
// and restarted servers, refused connections, half-open links, frames cut
// off mid-way, aborts and closes at every stage.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type Client,
  type ClientState,
  type ClientStatus,
  type Connection,
  ConnectionClosedError,
  createClient,
  FrameTruncatedError,
  HeartbeatTimeoutError,
  NetError,
  ReconnectError,
  type Runtime,
  type Server,
  type StatusEvent,
} from "../mod.ts";
import type { Conn } from "../src/runtime/types.ts";
import {
  closedPort,
  echo,
  EXAMPLE_RUNTIMES,
  type ExampleServer,
  HOST,
  runtime,
  serve,
  startExample,
  stop,
} from "./_utils.ts";
import { deferred, within } from "./_async.ts";

const text = new TextDecoder();

// Small backoff so that reconnects take milliseconds, not seconds.
const FAST = { minTimeout: 10, maxTimeout: 100 };

// The longest any single wait may take before the test fails instead of
// hanging.
const PATIENCE = 10_000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `predicate` every 5 ms; fails after `ms` milliseconds. */
async function until(
  predicate: () => boolean,
  what: string,
  ms = PATIENCE,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
    await delay(5);
  }
}

/** `client.waitFor(state)`, failing after `ms` milliseconds. */
async function reach(
  client: Client,
  state: ClientState,
  ms = PATIENCE,
): Promise<ClientStatus> {
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new Error(
          `client did not reach "${state}" within ${ms} ms (it is "${client.state}")`,
        ),
      ),
    ms,
  );
  try {
    return await client.waitFor(state, { signal: controller.signal });
  } finally {
    clearTimeout(timer);
  }
}

interface Recorded {
  status: ClientStatus;
  /** `performance.now()` when the status was set. */
  at: number;
}

/**
 * Records every status of a client, from the current one on, at the moment
 * it is set. Call it right after `createClient()`.
 */
function watch(client: Client): Recorded[] {
  const records: Recorded[] = [{
    status: client.status,
    at: performance.now(),
  }];
  client.addEventListener("status", (event) => {
    records.push({
      status: (event as StatusEvent).status,
      at: performance.now(),
    });
  });
  return records;
}

/** The states a client went through, repeats removed. */
function transitions(records: Recorded[]): ClientState[] {
  const states: ClientState[] = [];
  for (const { status } of records) {
    if (states.at(-1) !== status.state) states.push(status.state);
  }
  return states;
}

/** The statuses that report a failure and a wait before the next attempt. */
function failures(records: Recorded[]): ClientStatus[] {
  return records.map((r) => r.status).filter((s) => s.nextDelay !== undefined);
}

interface Inbox {
  /** Every frame delivered so far, as text. */
  frames: string[];
  /** Settles when the iteration ends: `undefined`, or the error it threw. */
  ended: Promise<unknown>;
}

/** Iterates a client in the background, collecting its frames. */
function collect(client: Client): Inbox {
  const frames: string[] = [];
  const ended = (async () => {
    try {
      for await (const frame of client) frames.push(text.decode(frame));
      return undefined;
    } catch (error) {
      return error;
    }
  })();
  return { frames, ended };
}

/** Marks a promise's rejection as handled; the test still awaits it. */
function later<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/**
 * A misbehaving server on raw sockets: `serveConn` gets each accepted
 * socket with its index. `close()` stops it and closes every socket.
 */
async function rawServer(
  serveConn: (conn: Conn, index: number) => void | Promise<void>,
) {
  const listener = await runtime.listen({ hostname: HOST, port: 0 });
  const conns: Conn[] = [];
  const tasks: Promise<void>[] = [];
  const accepting = (async () => {
    for (let index = 0; index < 1000; index++) {
      const conn = await listener.accept().catch(() => null);
      if (!conn) return;
      conns.push(conn);
      tasks.push((async () => {
        try {
          await serveConn(conn, index);
        } catch {
          // The client went away; that is its business.
        }
      })());
    }
  })();
  return {
    port: listener.addr.port,
    conns,
    async close(): Promise<void> {
      listener.close();
      await accepting;
      for (const conn of conns) conn.close();
      await Promise.all(tasks);
    },
  };
}

/** Asserts that nothing connects to `port` within `ms` milliseconds. */
async function assertNothingArrives(port: number, ms: number): Promise<void> {
  let accepted = 0;
  const frames: string[] = [];
  await using _server = await serve(async (conn) => {
    accepted++;
    for await (const frame of conn) frames.push(text.decode(frame));
  }, { port });
  await delay(ms);
  assert.equal(accepted, 0, "a closed client connected");
  assert.deepEqual(frames, []);
}

/** A runtime whose connection attempts hang until they are aborted. */
function hangingRuntime(): Runtime & { signals: AbortSignal[] } {
  const signals: AbortSignal[] = [];
  return {
    name: "hanging",
    signals,
    connect: ({ signal }) =>
      new Promise((_, reject) => {
        if (!signal) return;
        signals.push(signal);
        signal.addEventListener("abort", () => reject(signal.reason), {
          once: true,
        });
      }),
    listen: () => {
      throw new Error("not used");
    },
  };
}

test("Client reconnects through 10 server kills and restarts on the same port, delivering every queued frame exactly once", async () => {
  const CYCLES = 10;
  const LIVE = 3;
  const QUEUED = 5;
  // The server takes turns on every runtime.
  let server: ExampleServer = await startExample(
    "deno",
    "echo_server.ts",
    ["--port", "0"],
  );
  const port = server.port;
  const client = createClient({ port, reconnect: FAST });
  const records = watch(client);
  const inbox = collect(client);
  const expected: string[] = [];
  try {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      await reach(client, "open");
      const live = Array.from(
        { length: LIVE },
        (_, i) => `live ${cycle}.${i}`,
      );
      await within(
        Promise.all(live.map((frame) => client.send(frame))),
        PATIENCE,
        `live frames of cycle ${cycle} written`,
      );
      expected.push(...live);
      await until(
        () => inbox.frames.length >= expected.length,
        `the echoes of the live frames of cycle ${cycle}`,
      );
      assert.deepEqual(inbox.frames, expected);

      await stop(server.child);
      await reach(client, "reconnecting");
      const queued = Array.from(
        { length: QUEUED },
        (_, i) => `queued ${cycle}.${i}`,
      );
      let written = 0;
      const sends = queued.map((frame) =>
        later(client.send(frame).then(() => void written++))
      );
      // Nothing listens: the frames wait in the queue.
      await delay(20);
      assert.equal(written, 0, `frames of cycle ${cycle} written offline`);
      assert.notEqual(client.state, "open");

      server = await startExample(
        EXAMPLE_RUNTIMES[(cycle + 1) % EXAMPLE_RUNTIMES.length]!,
        "echo_server.ts",
        ["--port", String(port)],
      );
      assert.equal(server.port, port);
      await within(
        Promise.all(sends),
        PATIENCE,
        `queued frames of cycle ${cycle} written after the restart`,
      );
      expected.push(...queued);
      await until(
        () => inbox.frames.length >= expected.length,
        `the echoes of the queued frames of cycle ${cycle}`,
      );
      assert.deepEqual(inbox.frames, expected);
    }
    // A frame sent twice would show up now.
    await client.send("last");
    expected.push("last");
    await until(() => inbox.frames.length >= expected.length, "the last echo");
    assert.deepEqual(inbox.frames, expected);
  } finally {
    await client.close();
    await stop(server.child);
  }
  assert.equal(await inbox.ended, undefined);
  assert.deepEqual(transitions(records), [
    "connecting",
    "open",
    ...Array.from({ length: CYCLES }, () => ["reconnecting", "open"]).flat(),
    "closed",
  ]);
  for (const { status } of records) {
    if (status.state === "open") assert.equal(status.attempt, 0);
  }
});

test("Client fails attempts with ECONNREFUSED while nothing listens, with growing delays, then opens", async () => {
  const port = await closedPort();
  const client = createClient({
    port,
    reconnect: { minTimeout: 20, maxTimeout: 200, jitter: 0 },
  });
  const records = watch(client);
  const inbox = collect(client);
  let server: Server | undefined;
  try {
    await until(() => failures(records).length >= 3, "3 failed attempts");
    server = await serve(echo, { port });
    const opened = await reach(client, "open");
    assert.equal(opened.attempt, 0);
    assert.equal(opened.error, undefined);
    await client.send("through at last");
    await until(() => inbox.frames.length >= 1, "the echo");
    assert.deepEqual(inbox.frames, ["through at last"]);

    const failed = failures(records);
    assert.ok(failed.length >= 3);
    failed.forEach((status, i) => {
      assert.equal(status.state, "connecting");
      assert.equal(status.attempt, i + 1);
      assert.equal(status.nextDelay, Math.min(200, 20 * 2 ** i));
      assert.ok(status.error instanceof NetError, String(status.error));
      assert.equal(status.error.code, "ECONNREFUSED");
    });
    assert.deepEqual(failed.slice(0, 3).map((s) => s.nextDelay), [20, 40, 80]);
    assert.deepEqual(transitions(records), ["connecting", "open"]);
  } finally {
    await client.close();
    await server?.close();
  }
});

test("Client gives up after maxAttempts with ReconnectError whose cause is the last error", async () => {
  const port = await closedPort();
  const client = createClient({
    port,
    reconnect: { maxAttempts: 3, minTimeout: 5 },
  });
  const records = watch(client);
  const inbox = collect(client);
  const final = await within(client.closed, PATIENCE, "the client gives up");
  assert.equal(final.state, "closed");
  assert.equal(final.reason, "failed");
  assert.ok(final.error instanceof ReconnectError, String(final.error));
  assert.equal(final.error.attempts, 3);
  assert.ok(final.error.cause instanceof NetError, String(final.error.cause));
  assert.equal(final.error.cause.code, "ECONNREFUSED");
  assert.deepEqual(failures(records).map((s) => s.attempt), [1, 2]);
  assert.equal(Math.max(...records.map((r) => r.status.attempt)), 3);
  assert.equal(client.state, "closed");
  await assert.rejects(client.send("too late"), ConnectionClosedError);
  await assert.rejects(client.waitFor("open"), (e) => e === final.error);
  assert.equal(await inbox.ended, final.error);
});

test("Client detects a half-open server within interval + timeout", async () => {
  const interval = 100;
  const timeout = 100;
  // Accepts, then never reads nor writes: a peer that vanished.
  const raw = await rawServer(() => {});
  const client = createClient({
    port: raw.port,
    heartbeat: { interval, timeout },
    reconnect: FAST,
  });
  const records = watch(client);
  try {
    await reach(client, "open");
    await reach(client, "reconnecting");
    const opened = records.findIndex((r) => r.status.state === "open");
    const left = records.findIndex((r, i) =>
      i > opened && r.status.state !== "open"
    );
    const { status, at } = records[left]!;
    assert.equal(status.state, "reconnecting");
    assert.ok(
      status.error instanceof HeartbeatTimeoutError,
      String(status.error),
    );
    const elapsed = at - records[opened]!.at;
    assert.ok(
      elapsed >= interval + timeout - 20,
      `declared dead after ${elapsed} ms`,
    );
    assert.ok(
      elapsed < interval + timeout + 1000,
      `declared dead after ${elapsed} ms`,
    );
    // The server still accepts: the client comes back.
    await reach(client, "open");
    assert.ok(raw.conns.length >= 2);
  } finally {
    await client.close();
    await raw.close();
  }
});

test("Client keeps a quiet link alive with heartbeats answered by listen({ heartbeat: true })", async () => {
  const seen: string[] = [];
  await using server = await serve(async (conn) => {
    for await (const frame of conn) {
      seen.push(text.decode(frame));
      conn.send(frame);
    }
  }, { heartbeat: true });
  const client = createClient({
    port: server.addr.port,
    heartbeat: { interval: 50, timeout: 200 },
    reconnect: FAST,
  });
  const records = watch(client);
  const inbox = collect(client);
  try {
    await reach(client, "open");
    await delay(500);
    assert.equal(client.state, "open");
    assert.deepEqual(transitions(records), ["connecting", "open"]);
    assert.equal(typeof client.status.rtt, "number");
    assert.ok(client.status.rtt! >= 0);
    // Several pings were answered, none was seen by either application.
    assert.ok(records.filter((r) => r.status.rtt !== undefined).length >= 2);
    assert.deepEqual(seen, []);
    assert.deepEqual(inbox.frames, []);
    assert.equal(server.connections, 1);

    await client.send("still here");
    await until(() => inbox.frames.length >= 1, "the echo");
    assert.deepEqual(inbox.frames, ["still here"]);
    assert.deepEqual(seen, ["still here"]);
  } finally {
    await client.close();
  }
});

test("Client heartbeats keep the link while the server's handler is busy with a frame", async () => {
  // The handler takes longer than interval + timeout to answer a request,
  // as a slow query or a long poll does; the server is alive all along.
  await using server = await serve(async (conn) => {
    for await (const frame of conn) {
      await delay(800);
      conn.send(frame);
    }
  }, { heartbeat: true });
  const client = createClient({
    port: server.addr.port,
    heartbeat: { interval: 100, timeout: 200 },
    reconnect: FAST,
  });
  const records = watch(client);
  const inbox = collect(client);
  try {
    await reach(client, "open");
    await client.send("slow request");
    await until(
      () =>
        inbox.frames.length >= 1 ||
        records.some((r) => r.status.state === "reconnecting"),
      "the reply or a reconnect",
    );
    const dropped = records.find((r) => r.status.state === "reconnecting");
    assert.ok(
      dropped === undefined,
      `the link to a live server was dropped: ${dropped?.status.error}`,
    );
    assert.deepEqual(inbox.frames, ["slow request"]);
  } finally {
    await client.close();
  }
});

test("Client reconnects when the server closes mid-frame", async () => {
  const raw = await rawServer(async (conn, index) => {
    if (index === 0) {
      // A header announcing 100 bytes, 3 of them, then a crash.
      await conn.write(new Uint8Array([0, 0, 0, 100, 1, 2, 3]));
      conn.close();
      return;
    }
    for await (const chunk of conn.readable) await conn.write(chunk);
  });
  const client = createClient({ port: raw.port, reconnect: FAST });
  const records = watch(client);
  const inbox = collect(client);
  try {
    await reach(client, "open");
    const dropped = await reach(client, "reconnecting");
    const error = dropped.error;
    assert.ok(
      error instanceof FrameTruncatedError ||
        (error instanceof NetError && error.code === "ECONNRESET"),
      `unexpected error: ${error}`,
    );
    await reach(client, "open");
    await client.send("after the crash");
    await until(() => inbox.frames.length >= 1, "the echo");
    assert.deepEqual(inbox.frames, ["after the crash"]);
    assert.deepEqual(transitions(records), [
      "connecting",
      "open",
      "reconnecting",
      "open",
    ]);
  } finally {
    await client.close();
    await raw.close();
  }
});

test("createClient() with a signal aborted during backoff closes with reason aborted", async () => {
  const port = await closedPort();
  const controller = new AbortController();
  const client = createClient({
    port,
    signal: controller.signal,
    reconnect: { minTimeout: 10_000, maxTimeout: 10_000, jitter: 0 },
  });
  const sends = [later(client.send("one")), later(client.send("two"))];
  await until(() => client.status.nextDelay !== undefined, "a backoff wait");
  assert.equal(client.status.nextDelay, 10_000);
  const reason = new Error("user gave up");
  controller.abort(reason);
  const final = await within(
    client.closed,
    2000,
    "the client closes while waiting 10 s to retry",
  );
  assert.equal(final.state, "closed");
  assert.equal(final.reason, "aborted");
  assert.equal(final.error, reason);
  for (const send of sends) await assert.rejects(send, ConnectionClosedError);
  await assert.rejects(client.send("three"), ConnectionClosedError);
  await assertNothingArrives(port, 100);
});

test("createClient() with a signal aborted while open closes with reason aborted", async () => {
  await using server = await serve(echo);
  const controller = new AbortController();
  const client = createClient({
    port: server.addr.port,
    signal: controller.signal,
    reconnect: FAST,
  });
  const inbox = collect(client);
  await reach(client, "open");
  await client.send("before");
  await until(() => inbox.frames.length >= 1, "the echo");
  assert.equal(server.connections, 1);

  const reason = new Error("shutting down");
  controller.abort(reason);
  const final = await within(client.closed, PATIENCE, "the client closes");
  assert.equal(final.reason, "aborted");
  assert.equal(final.error, reason);
  assert.equal(await inbox.ended, reason);
  await assert.rejects(async () => {
    for await (const _ of client) { /* fails at once */ }
  }, (error) => error === reason);
  await assert.rejects(client.send("after"), ConnectionClosedError);
  await until(() => server.connections === 0, "the server to see the close");
});

test("createClient() with a signal aborted during connect closes with reason aborted", async () => {
  const hanging = hangingRuntime();
  const controller = new AbortController();
  const client = createClient({
    port: 9,
    runtime: hanging,
    connectTimeout: 0,
    signal: controller.signal,
    reconnect: FAST,
  });
  const queued = later(client.send("never"));
  await until(() => hanging.signals.length === 1, "a connection attempt");
  assert.equal(client.state, "connecting");
  const reason = new Error("stop dialling");
  controller.abort(reason);
  const final = await within(client.closed, 2000, "the client closes");
  assert.equal(final.reason, "aborted");
  assert.equal(final.error, reason);
  assert.ok(hanging.signals[0]!.aborted);
  assert.equal(hanging.signals.length, 1);
  await assert.rejects(queued, ConnectionClosedError);
});

test("Client.close() rejects queued frames, which are never sent", async () => {
  const port = await closedPort();
  const client = createClient({ port, reconnect: FAST });
  const sends = ["a", "b", "c"].map((frame) => later(client.send(frame)));
  await until(() => client.status.nextDelay !== undefined, "a failed attempt");
  await within(client.close(), PATIENCE, "close()");
  for (const send of sends) await assert.rejects(send, ConnectionClosedError);
  assert.equal((await client.closed).reason, "closed");
  assert.equal(client.state, "closed");
  // The client would have retried within 100 ms had it not closed.
  await assertNothingArrives(port, 300);
});

test("Client.close() writes the frames the open connection already accepted", async () => {
  const FRAMES = 5000;
  const counted = deferred<number>();
  await using server = await serve(async (conn) => {
    let count = 0;
    try {
      for await (const _ of conn) count++;
    } finally {
      counted.resolve(count);
    }
  });
  const client = createClient({ port: server.addr.port, reconnect: FAST });
  await reach(client, "open");
  // Sent while open: each goes straight to the connection, none is queued.
  const sends = Array.from(
    { length: FRAMES },
    (_, i) => later(client.send(`frame ${i}`)),
  );
  await within(client.close(), PATIENCE, "close()");
  const results = await Promise.allSettled(sends);
  const rejected = results.filter((r) => r.status === "rejected");
  const received = await within(
    counted.promise,
    PATIENCE,
    "the server's count",
  );
  assert.equal(
    received,
    FRAMES,
    `the server received ${received} of ${FRAMES} frames; ${rejected.length} send() calls rejected`,
  );
  assert.deepEqual(rejected, []);
});

test("Client send() with an aborted signal withdraws a queued frame", async () => {
  const port = await closedPort();
  const client = createClient({ port, reconnect: FAST });
  const inbox = collect(client);
  let server: Server | undefined;
  try {
    const a = client.send("A");
    const withdraw = new AbortController();
    const b = later(client.send("B", { signal: withdraw.signal }));
    const c = client.send("C");
    const reason = new Error("never mind");
    withdraw.abort(reason);
    await assert.rejects(b, (error) => error === reason);

    server = await serve(echo, { port });
    await within(Promise.all([a, c]), PATIENCE, "A and C written");
    await client.send("D");
    await until(() => inbox.frames.length >= 3, "the echoes");
    assert.deepEqual(inbox.frames, ["A", "C", "D"]);
  } finally {
    await client.close();
    await server?.close();
  }
});

test("Client onConnect runs before queued frames on every (re)connect", async () => {
  const port = await closedPort();
  const received: string[][] = [];
  const record = async (conn: Connection) => {
    const frames: string[] = [];
    received.push(frames);
    for await (const frame of conn) frames.push(text.decode(frame));
  };
  const hookStates: ClientState[] = [];
  const client: Client = createClient({
    port,
    reconnect: FAST,
    onConnect: async (conn) => {
      hookStates.push(client.state);
      await delay(10);
      await conn.send("hello");
      await delay(10);
    },
  });
  const records = watch(client);
  let server: Server | undefined;
  try {
    for (let round = 0; round < 3; round++) {
      if (server) {
        await server.close();
        await reach(client, "reconnecting");
      }
      const queued = [`queued ${round}.a`, `queued ${round}.b`];
      const sends = queued.map((frame) => later(client.send(frame)));
      server = await serve(record, { port });
      await within(Promise.all(sends), PATIENCE, `round ${round} written`);
      await until(
        () => (received[round]?.length ?? 0) >= 3,
        `the frames of round ${round}`,
      );
      assert.deepEqual(received[round], ["hello", ...queued]);
      await reach(client, "open");
    }
    assert.equal(received.length, 3);
    assert.deepEqual(hookStates, [
      "connecting",
      "reconnecting",
      "reconnecting",
    ]);
    assert.deepEqual(transitions(records), [
      "connecting",
      "open",
      "reconnecting",
      "open",
      "reconnecting",
      "open",
    ]);
  } finally {
    await client.close();
    await server?.close();
  }
});

test("Client.close() leaves no connection open on the server", async () => {
  await using server = await serve(echo);
  const client = createClient({ port: server.addr.port, reconnect: FAST });
  const inbox = collect(client);
  await reach(client, "open");
  await client.send("one");
  await until(() => inbox.frames.length >= 1, "the echo");
  assert.equal(server.connections, 1);
  await within(client.close(), PATIENCE, "close()");
  assert.equal(client.state, "closed");
  assert.equal((await client.closed).reason, "closed");
  assert.equal(await inbox.ended, undefined);
  assert.deepEqual(inbox.frames, ["one"]);
  await until(() => server.connections === 0, "the server to see the close");
});
