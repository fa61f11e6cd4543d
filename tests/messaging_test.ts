// The messaging layer over real loopback sockets: request/reply, push,
// goaway, handshakes, and peers that break the protocol.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  connect,
  type Connection,
  ConnectionClosedError,
  TetherError,
} from "../mod.ts";
import { createMessageClient } from "../src/messaging/message_client.ts";
import type {
  MessageClientOptions,
  MessageSession,
} from "../src/messaging/message_client_options.ts";
import {
  decodeEnvelope,
  encodeEnvelope,
  type Envelope,
} from "../src/messaging/envelope.ts";
import {
  listenMessages,
  type MessagePeer,
  type MessageServer,
  type MessageServerOptions,
} from "../src/messaging/message_server.ts";
import {
  ProtocolError,
  ProtocolVersionError,
  RemoteError,
  RequestInterruptedError,
  RequestTimeoutError,
  TooManyRequestsError,
} from "../src/messaging/errors.ts";
import { fromAsync } from "./_async.ts";
import { FakeClock } from "./_fake_clock.ts";
import { HOST, serve, take } from "./_utils.ts";

const text = new TextDecoder();
const bytes = (s: string) => new TextEncoder().encode(s);

function startServer(options: Partial<MessageServerOptions> = {}) {
  return listenMessages({ hostname: HOST, port: 0, ...options });
}

function startClient(
  port: number,
  options: Partial<MessageClientOptions> = {},
) {
  return createMessageClient({ port, ...options });
}

/** A gate per key: handlers wait on it until the test opens it. */
function gates() {
  const waiting = new Map<string, () => void>();
  const arrived: string[] = [];
  let notify: (() => void) | undefined;
  return {
    arrived,
    wait(key: string): Promise<void> {
      arrived.push(key);
      notify?.();
      return new Promise((resolve) => waiting.set(key, resolve));
    },
    open(key: string): void {
      waiting.get(key)!();
      waiting.delete(key);
    },
    openAll(): void {
      for (const key of [...waiting.keys()]) this.open(key);
    },
    async until(count: number): Promise<void> {
      while (arrived.length < count) {
        await new Promise<void>((resolve) => notify = resolve);
      }
    },
  };
}

/** A server whose handler waits at the gate named by each request. */
function gatedServer(gate: ReturnType<typeof gates>) {
  return startServer({
    onRequest: async (payload) => {
      await gate.wait(text.decode(payload));
      return payload;
    },
  });
}

/** The first half of a handshake, done by hand on a raw connection. */
async function rawHello(
  conn: Connection,
  role: "client" | "server",
  version = 1,
): Promise<Envelope> {
  await conn.send(encodeEnvelope({ kind: "hello", version, role }));
  const [first] = await take(conn, 1);
  return decodeEnvelope(first!);
}

test("MessageClient.request() gets the server's reply", async () => {
  await using server = await startServer({
    onRequest: (payload) => `re: ${text.decode(payload)}`,
  });
  await using client = startClient(server.addr.port);
  assert.equal(text.decode(await client.request("hi")), "re: hi");
  assert.equal(text.decode(await client.request(bytes("again"))), "re: again");
  assert.equal(client.inFlight, 0);
});

test("10 000 concurrent requests over one connection are all answered correctly", async () => {
  await using server = await startServer({
    onRequest: (payload) => {
      const n = Number(text.decode(payload));
      return String(n * 3 + 1);
    },
  });
  await using client = startClient(server.addr.port);
  await client.waitFor("open");
  const count = 10_000;
  const replies = await Promise.all(
    Array.from({ length: count }, (_, n) => client.request(String(n))),
  );
  replies.forEach((reply, n) =>
    assert.equal(text.decode(reply), String(n * 3 + 1))
  );
  assert.equal(client.inFlight, 0);
  assert.equal(server.connections, 1);
});

test("requests issued before the first connection are queued, then all answered", async () => {
  await using server = await startServer({ onRequest: (payload) => payload });
  await using client = startClient(server.addr.port);
  const replies = await Promise.all(
    Array.from({ length: 500 }, (_, n) => client.request(`q${n}`)),
  );
  replies.forEach((reply, n) => assert.equal(text.decode(reply), `q${n}`));
});

test("replies that come out of order reach their own requests", async () => {
  const gate = gates();
  await using server = await startServer({
    onRequest: async (payload) => {
      const key = text.decode(payload);
      await gate.wait(key);
      return `answer ${key}`;
    },
  });
  await using client = startClient(server.addr.port);
  const keys = Array.from({ length: 20 }, (_, n) => `k${n}`);
  const settled: string[] = [];
  const requests = keys.map((key) =>
    client.request(key).then((reply) => {
      settled.push(key);
      return text.decode(reply);
    })
  );
  await gate.until(keys.length);
  for (const key of [...keys].reverse()) gate.open(key);
  const replies = await Promise.all(requests);
  assert.deepEqual(replies, keys.map((key) => `answer ${key}`));
  assert.deepEqual(settled, [...keys].reverse());
});

test("a request times out with RequestTimeoutError; its late reply is dropped", async () => {
  const gate = gates();
  await using server = await gatedServer(gate);
  const clock = new FakeClock();
  await using client = startClient(server.addr.port, {
    clock,
    heartbeat: false,
    timeout: 5000,
  });
  await client.waitFor("open");
  const slow = client.request("slow", { timeout: 1000 });
  const patient = client.request("patient");
  await gate.until(2);
  clock.tick(999);
  assert.equal(client.inFlight, 2);
  clock.tick(1);
  await assert.rejects(slow, (error: unknown) => {
    assert.ok(error instanceof RequestTimeoutError);
    assert.equal(error.code, "REQUEST_TIMEOUT");
    assert.equal(error.timeout, 1000);
    assert.equal(error.sent, true);
    return true;
  });
  assert.equal(client.inFlight, 1);
  gate.open("slow"); // the late reply finds no request
  gate.open("patient");
  assert.equal(text.decode(await patient), "patient");
  clock.tick(10_000);
  assert.equal(clock.pending, 0, "no timer left behind");
});

test("a queued request that never finds a connection times out unsent", async () => {
  const listener = await serve(() => {});
  const port = listener.addr.port;
  await listener.close();
  const clock = new FakeClock();
  const client = startClient(port, { clock, heartbeat: false });
  const request = client.request("lost", { timeout: 300 });
  clock.tick(300);
  await assert.rejects(
    request,
    (error: unknown) =>
      error instanceof RequestTimeoutError && error.sent === false,
  );
  await client.close();
});

test("an aborted request rejects with the signal's reason and frees its slot", async () => {
  const gate = gates();
  await using server = await gatedServer(gate);
  await using client = startClient(server.addr.port);
  const controller = new AbortController();
  const request = client.request("abandoned", { signal: controller.signal });
  await gate.until(1);
  const reason = new Error("the user left");
  controller.abort(reason);
  await assert.rejects(request, (error) => error === reason);
  assert.equal(client.inFlight, 0);
  gate.open("abandoned");
  const already = AbortSignal.abort(new Error("too late"));
  await assert.rejects(
    client.request("x", { signal: already }),
    (error) => error === already.reason,
  );
  const next = client.request("next");
  await gate.until(2);
  gate.open("next");
  assert.equal(text.decode(await next), "next");
});

test("a handler that throws gives the caller a RemoteError with its message and code, never its stack", async () => {
  await using server = await startServer({
    onRequest: (payload) => {
      const what = text.decode(payload);
      if (what === "coded") {
        throw Object.assign(new Error("no such thing"), { code: "NOT_FOUND" });
      }
      if (what === "async") return Promise.reject(new TypeError("bad input"));
      throw "plain string";
    },
  });
  await using client = startClient(server.addr.port);
  await assert.rejects(client.request("coded"), (error: unknown) => {
    assert.ok(error instanceof RemoteError);
    assert.equal(error.code, "REMOTE_ERROR");
    assert.equal(error.remoteCode, "NOT_FOUND");
    assert.equal(error.remoteMessage, "no such thing");
    assert.doesNotMatch(error.message, /messaging_test|\bat\b/);
    return true;
  });
  await assert.rejects(
    client.request("async"),
    (error: unknown) =>
      error instanceof RemoteError && error.remoteMessage === "bad input" &&
      error.remoteCode === undefined,
  );
  await assert.rejects(
    client.request("other"),
    (error: unknown) =>
      error instanceof RemoteError && error.remoteMessage === "plain string",
  );
});

test("a server without onRequest answers every request with NO_HANDLER", async () => {
  await using server = await startServer();
  await using client = startClient(server.addr.port);
  await assert.rejects(
    client.request("anything"),
    (error: unknown) =>
      error instanceof RemoteError && error.remoteCode === "NO_HANDLER",
  );
});

test("requests beyond maxInFlight fail at once with TooManyRequestsError", async () => {
  const gate = gates();
  await using server = await gatedServer(gate);
  await using client = startClient(server.addr.port, { maxInFlight: 2 });
  const first = client.request("1");
  const second = client.request("2");
  await assert.rejects(client.request("3"), (error: unknown) => {
    assert.ok(error instanceof TooManyRequestsError);
    assert.equal(error.limit, 2);
    return true;
  });
  await gate.until(2);
  gate.openAll();
  await Promise.all([first, second]);
  const fourth = client.request("4");
  await gate.until(3);
  gate.open("4");
  assert.equal(text.decode(await fourth), "4");
});

/**
 * A tether server written by hand: it does the handshake, then passes each
 * connection's envelopes to `onEnvelope`.
 */
function handServer(
  onEnvelope: (envelope: Envelope, conn: Connection, index: number) => void,
) {
  let connections = 0;
  return serve(async (conn) => {
    const index = connections++;
    await rawHello(conn, "server");
    for await (const frame of conn) {
      onEnvelope(decodeEnvelope(frame), conn, index);
    }
  });
}

test("a broken connection rejects every request in flight at once with RequestInterruptedError", async () => {
  let received = 0;
  let notify: (() => void) | undefined;
  await using server = await handServer((envelope, conn) => {
    if (envelope.kind !== "request") return;
    if (++received === 50) conn.abort();
    notify?.();
  });
  await using client = startClient(server.addr.port, {
    timeout: 0, // with no timeout, only the break can end them
    reconnect: { minTimeout: 10 },
  });
  const requests = Array.from(
    { length: 50 },
    (_, n) =>
      client.request(`r${n}`).then(
        () => assert.fail("no reply was sent"),
        (error: unknown) => error,
      ),
  );
  const errors = await Promise.all(requests);
  for (const error of errors) {
    assert.ok(error instanceof RequestInterruptedError, String(error));
    assert.equal(error.code, "REQUEST_INTERRUPTED");
  }
  assert.equal(client.inFlight, 0);
  assert.equal(received, 50, "each was sent once");
});

/**
 * A hand-made server that breaks its first connection at the first request
 * and echoes requests on later ones; `seen` gets `connection:payload`.
 */
function breaksFirstConnection(seen: string[]) {
  return handServer((envelope, conn, index) => {
    if (envelope.kind !== "request") return;
    seen.push(`${index}:${text.decode(envelope.payload)}`);
    if (index === 0) conn.abort();
    else {
      conn.send(encodeEnvelope({
        kind: "response",
        id: envelope.id,
        payload: envelope.payload,
      }));
    }
  });
}

test("retryOnReconnect sends interrupted requests again on the next connection", async () => {
  const seen: string[] = [];
  await using server = await breaksFirstConnection(seen);
  await using client = startClient(server.addr.port, {
    retryOnReconnect: true,
    reconnect: { minTimeout: 10 },
  });
  assert.equal(text.decode(await client.request("again")), "again");
  assert.deepEqual(seen, ["0:again", "1:again"]);
});

test("a request waiting to be retried still times out, and is then never sent", async () => {
  const seen: string[] = [];
  await using server = await breaksFirstConnection(seen);
  const clock = new FakeClock();
  await using client = startClient(server.addr.port, {
    clock,
    heartbeat: false,
    retryOnReconnect: true,
    reconnect: { minTimeout: 100, jitter: 0 },
  });
  const request = client.request("once", { timeout: 1000 });
  await client.waitFor("reconnecting");
  clock.tick(1000);
  await assert.rejects(
    request,
    (error: unknown) =>
      error instanceof RequestTimeoutError && error.sent === true,
  );
  assert.equal(client.inFlight, 0);
  await client.waitFor("open");
  assert.equal(text.decode(await client.request("probe")), "probe");
  assert.deepEqual(seen, ["0:once", "1:probe"]);
});

test("onConnect logs in through its session before anything queued goes out, on every connection", async () => {
  const seen: string[] = [];
  const peers: MessagePeer[] = [];
  await using server = await startServer({
    onConnect: (peer) => {
      peers.push(peer);
      return peer.push(`welcome ${peers.length}`);
    },
    onMessage: (payload) => void seen.push(text.decode(payload)),
    onRequest: (payload) => {
      seen.push(text.decode(payload));
      return `ok ${text.decode(payload)}`;
    },
  });
  const states: string[] = [];
  const replies: string[] = [];
  await using client = startClient(server.addr.port, {
    reconnect: { minTimeout: 10 },
    onConnect: async (session: MessageSession) => {
      states.push(client.state);
      assert.equal(session.remoteAddr.port, server.addr.port);
      await session.send("hello");
      replies.push(text.decode(await session.request("login")));
    },
  });
  // Queued before the connection: they go out after the login.
  const queued = client.request("work");
  const note = client.send("note");
  assert.equal(text.decode(await queued), "ok work");
  await note;
  assert.deepEqual(seen, ["hello", "login", "work", "note"]);
  assert.deepEqual(states, ["connecting"]);

  await peers[0]!.close();
  assert.equal(text.decode(await client.request("more")), "ok more");
  assert.deepEqual(seen.slice(4), ["hello", "login", "more"]);
  assert.deepEqual(replies, ["ok login", "ok login"]);
  assert.deepEqual(states, ["connecting", "reconnecting"]);
  // Pushes sent while onConnect ran are delivered, in order.
  const pushes: string[] = [];
  for await (const message of client) {
    pushes.push(text.decode(message));
    if (pushes.length === 2) break;
  }
  assert.deepEqual(pushes, ["welcome 1", "welcome 2"]);
});

test("an onConnect that throws fails the client like a failed connect; nothing queued is sent", async () => {
  const seen: string[] = [];
  await using server = await startServer({
    onRequest: (payload) => {
      seen.push(text.decode(payload));
      throw Object.assign(new Error("bad token"), { code: "AUTH" });
    },
  });
  const client = startClient(server.addr.port, {
    onConnect: async (session) => {
      await session.request("login");
    },
  });
  const queued = client.request("work");
  const status = await client.closed;
  assert.equal(status.reason, "failed");
  assert.ok(status.error instanceof RemoteError);
  assert.equal(status.error.remoteCode, "AUTH");
  await assert.rejects(queued, (error: unknown) => {
    assert.ok(error instanceof ConnectionClosedError);
    assert.equal(error.cause, status.error);
    return true;
  });
  assert.deepEqual(seen, ["login"]);
});

test("a connection that breaks during onConnect is retried; its requests are never sent on another", async () => {
  const seen: string[] = [];
  await using server = await breaksFirstConnection(seen);
  const interrupted: unknown[] = [];
  await using client = startClient(server.addr.port, {
    retryOnReconnect: true,
    reconnect: { minTimeout: 10 },
    onConnect: async (session) => {
      try {
        await session.request("login");
      } catch (error) {
        interrupted.push(error);
        throw new Error("what the hook makes of it");
      }
    },
  });
  assert.equal(text.decode(await client.request("work")), "work");
  assert.deepEqual(seen, ["0:login", "1:login", "1:work"]);
  assert.equal(interrupted.length, 1);
  assert.ok(interrupted[0] instanceof RequestInterruptedError);
  assert.equal(client.state, "open");
});

test("server.close() under load sends goaway: no request is lost, none is handled twice", async () => {
  const handled = new Map<string, number>();
  const count = (server: string) => (payload: Uint8Array) => {
    const key = text.decode(payload);
    handled.set(key, (handled.get(key) ?? 0) + 1);
    // A reply that takes a moment: the goaway catches requests mid-way.
    return Promise.resolve().then(() => `${server}:${key}`);
  };
  const first = await startServer({ onRequest: count("A") });
  const port = first.addr.port;
  await using client = startClient(port, {
    reconnect: { minTimeout: 10, maxTimeout: 50 },
  });
  await client.waitFor("open");
  const requests: Promise<string>[] = [];
  const fire = (n: number) =>
    requests.push(client.request(`r${n}`).then((reply) => text.decode(reply)));
  for (let n = 0; n < 1000; n++) fire(n);
  await requests[99]; // the first server is busy answering
  const closing = first.close();
  for (let n = 1000; n < 2000; n++) fire(n);
  await closing;
  await using second = await startServer({ port, onRequest: count("B") });
  for (let n = 2000; n < 2500; n++) fire(n);

  const replies = await Promise.all(requests);
  replies.forEach((reply, n) =>
    assert.match(reply, new RegExp(`^[AB]:r${n}$`))
  );
  assert.equal(handled.size, 2500);
  for (const [key, times] of handled) assert.equal(times, 1, key);
  assert.ok(replies.some((reply) => reply.startsWith("A:")));
  assert.ok(replies.some((reply) => reply.startsWith("B:")));
  assert.equal(client.inFlight, 0);
  assert.equal(second.peers.size, 1);
});

test("MessagePeer.close() sends goaway; the client finishes and reconnects", async () => {
  const peers: MessagePeer[] = [];
  await using server = await startServer({
    onConnect: (peer) => void peers.push(peer),
    onRequest: (payload) => payload,
  });
  await using client = startClient(server.addr.port, {
    reconnect: { minTimeout: 10 },
  });
  assert.equal(text.decode(await client.request("one")), "one");
  await peers[0]!.close();
  assert.ok(peers[0]!.signal.aborted);
  assert.equal(text.decode(await client.request("two")), "two");
  assert.equal(peers.length, 2, "a second connection");
});

/**
 * Counts the one-way messages each server's `onMessage` receives, by
 * payload, across servers.
 */
function messageLog() {
  const received = new Map<string, string[]>();
  return {
    received,
    onMessage: (server: string) => (payload: Uint8Array) => {
      const key = text.decode(payload);
      received.set(key, [...(received.get(key) ?? []), server]);
    },
  };
}

test("server.close() mid-stream loses no one-way message: each reaches one server once, or its send() rejects", async () => {
  const log = messageLog();
  const first = await startServer({ onMessage: log.onMessage("A") });
  const port = first.addr.port;
  await using client = startClient(port, {
    reconnect: { minTimeout: 10, maxTimeout: 50 },
  });
  await client.waitFor("open");
  const outcomes: Promise<unknown>[] = [];
  let closing: Promise<void> | undefined;
  let second: Promise<MessageServer> | undefined;
  for (let n = 0; n < 2000; n++) {
    const sent = client.send(`m${n}`);
    outcomes.push(sent.then(() => undefined, (error: unknown) => error));
    if (n === 500) {
      closing = first.close();
      second = closing.then(() =>
        startServer({
          port,
          onMessage: log.onMessage("B"),
          onRequest: () => "sync",
        })
      );
    }
    // Written to a socket, or queued: awaiting every tenth lets the goaway
    // arrive while messages are still being written.
    if (n % 10 === 0) await sent.catch(() => {});
    // The rest can only go to the second server.
    if (n === 1000) await closing;
  }
  await using next = await second!;
  // Taken in order: once answered, every earlier message was handled.
  await client.request("sync");
  const errors = await Promise.all(outcomes);
  for (let n = 0; n < 2000; n++) {
    const servers = log.received.get(`m${n}`) ?? [];
    const error = errors[n];
    if (error === undefined) assert.equal(servers.length, 1, `m${n}`);
    else {
      assert.ok(error instanceof TetherError, `m${n}: ${error}`);
      assert.ok(servers.length <= 1, `m${n}`);
    }
  }
  const by = (server: string) =>
    [...log.received.values()].filter((servers) => servers[0] === server);
  assert.ok(by("A").length > 500, "the first server took its share");
  assert.ok(by("B").length > 0, "the second server took the rest");
  assert.equal(next.peers.size, 1);
});

test("MessagePeer.close() delivers the one-way messages already in flight", async () => {
  const received: string[] = [];
  const peers: MessagePeer[] = [];
  const closed: Promise<void>[] = [];
  await using server = await startServer({
    onConnect: (peer) => void peers.push(peer),
    onMessage: (payload, peer) => {
      received.push(text.decode(payload));
      if (received.length === 100) closed.push(peer.close());
    },
    onRequest: () => "sync",
  });
  await using client = startClient(server.addr.port, {
    reconnect: { minTimeout: 10 },
  });
  const sends: Promise<void>[] = [];
  for (let n = 0; n < 1000; n++) {
    sends.push(client.send(`m${n}`));
    if (n % 10 === 0) await sends[n];
  }
  await Promise.all(sends);
  await client.request("sync");
  await Promise.all(closed);
  assert.deepEqual(
    received,
    Array.from({ length: 1000 }, (_, n) => `m${n}`),
    "each once, in order",
  );
  assert.equal(peers.length, 2, "the rest went on a second connection");
  assert.ok(peers[0]!.signal.aborted);
});

test("after a goaway the server still takes one-way messages, refuses requests unread, and stops reading after shutdownTimeout", async () => {
  const received: string[] = [];
  const handled: string[] = [];
  const server = await startServer({
    shutdownTimeout: 50,
    onMessage: (payload) => void received.push(text.decode(payload)),
    onRequest: (payload) => void handled.push(text.decode(payload)),
  });
  await using raw = await connect({ port: server.addr.port });
  await rawHello(raw, "client");
  await raw.send(
    encodeEnvelope({ kind: "request", id: 0, payload: bytes("accepted") }),
  );
  const [reply] = await take(raw, 1);
  assert.deepEqual(decodeEnvelope(reply!), {
    kind: "response",
    id: 0,
    payload: new Uint8Array(),
  });
  const closing = server.close();
  const [goaway] = await take(raw, 1);
  assert.deepEqual(decodeEnvelope(goaway!), { kind: "goaway", nextId: 1 });
  await raw.send(encodeEnvelope({ kind: "data", payload: bytes("late note") }));
  await raw.send(
    encodeEnvelope({ kind: "request", id: 1, payload: bytes("refused") }),
  );
  // This client never finishes sending: the server stops reading it after
  // shutdownTimeout, then closes.
  assert.deepEqual(
    await fromAsync(raw),
    [],
    "no reply to the refused request",
  );
  await closing;
  assert.deepEqual(received, ["late note"]);
  assert.deepEqual(handled, ["accepted"]);
});

test("the server pushes to one client or broadcasts to all; clients send one-way messages", async () => {
  const received: string[] = [];
  await using server = await startServer({
    onConnect: (peer) => peer.push("welcome"),
    onMessage: (payload, peer) => {
      received.push(text.decode(payload));
      return peer.push(`got ${text.decode(payload)}`).then(() => {});
    },
    onRequest: () => "ok",
  });
  await using a = startClient(server.addr.port);
  await using b = startClient(server.addr.port);
  await Promise.all([a.request("hi"), b.request("hi")]);
  await a.send("note");
  await a.request("sync"); // taken in order: the note was handled before
  assert.equal(server.broadcast("all"), 2);
  const messagesOf = async (client: typeof a, n: number) => {
    const messages: string[] = [];
    for await (const message of client) {
      messages.push(text.decode(message));
      if (messages.length === n) break;
    }
    return messages;
  };
  assert.deepEqual(await messagesOf(a, 3), ["welcome", "got note", "all"]);
  assert.deepEqual(await messagesOf(b, 2), ["welcome", "all"]);
  assert.deepEqual(received, ["note"]);
});

test("a data payload equal to a ping is delivered as data, and pings are answered with pongs", async () => {
  const received: number[][] = [];
  await using server = await startServer({
    onMessage: (payload) => void received.push([...payload]),
    onRequest: () => "done",
  });
  await using client = startClient(server.addr.port);
  await client.send(new Uint8Array([0x05]));
  await client.send(new Uint8Array([0x06]));
  await client.request("sync");
  assert.deepEqual(received, [[0x05], [0x06]]);

  await using raw = await connect({ port: server.addr.port });
  await rawHello(raw, "client");
  await raw.send(encodeEnvelope({ kind: "ping" }));
  const [pong] = await take(raw, 1);
  assert.deepEqual(decodeEnvelope(pong!), { kind: "pong" });
});

test("heartbeats use ping and pong envelopes and measure the round trip", async () => {
  await using server = await startServer();
  await using client = startClient(server.addr.port, {
    heartbeat: { interval: 20, timeout: 5000 },
  });
  for await (const status of client.statuses()) {
    if (status.rtt !== undefined) break;
  }
  assert.equal(typeof client.status.rtt, "number");
});

test("a client of another protocol version fails with ProtocolVersionError; the server closes only that connection", async () => {
  const errors: unknown[] = [];
  await using server = await startServer({
    onError: (error) => void errors.push(error),
    onRequest: (payload) => payload,
  });
  await using good = startClient(server.addr.port);
  await using raw = await connect({ port: server.addr.port });
  const hello = await rawHello(raw, "client", 2);
  assert.deepEqual(hello, { kind: "hello", version: 1, role: "server" });
  assert.deepEqual(await fromAsync(raw), [], "then the server closes");
  assert.ok(errors[0] instanceof ProtocolVersionError);
  assert.equal(errors[0].peerVersion, 2);
  assert.equal(text.decode(await good.request("fine")), "fine");
});

test("a server of another protocol version makes the client fail for good", async () => {
  await using server = await serve(async (conn) => {
    await conn.send(
      encodeEnvelope({ kind: "hello", version: 7, role: "server" }),
    );
    for await (const _ of conn) { /* the client hangs up */ }
  });
  const client = startClient(server.addr.port);
  const request = client.request("never");
  const status = await client.closed;
  assert.equal(status.reason, "failed");
  assert.ok(status.error instanceof ProtocolVersionError);
  assert.equal(status.error.peerVersion, 7);
  await assert.rejects(request, (error: unknown) => {
    assert.ok(error instanceof ConnectionClosedError);
    assert.ok(error.cause instanceof ProtocolVersionError);
    return true;
  });
});

test("a plain length-prefix peer is refused by the server with ProtocolError", async () => {
  const errors: unknown[] = [];
  await using server = await startServer({
    onError: (error) => void errors.push(error),
  });
  await using raw = await connect({ port: server.addr.port });
  await raw.send("hello");
  const frames = await fromAsync(raw);
  // It got the server's hello as an ordinary frame, then the close.
  assert.equal(frames.length, 1);
  assert.equal(decodeEnvelope(frames[0]!).kind, "hello");
  assert.ok(errors[0] instanceof ProtocolError);
});

test("a message client refuses an echo server that is not a tether server", async () => {
  await using server = await serve(async (conn) => {
    for await (const frame of conn) conn.send(frame);
  });
  const client = startClient(server.addr.port);
  const { error, reason } = await client.closed;
  assert.equal(reason, "failed");
  assert.ok(error instanceof ProtocolError);
  assert.match(error.message, /echoing/);
});

test("a malformed envelope closes that connection with ProtocolError", async () => {
  const errors: unknown[] = [];
  await using server = await startServer({
    onError: (error) => void errors.push(error),
    onRequest: (payload) => payload,
  });
  await using raw = await connect({ port: server.addr.port });
  await rawHello(raw, "client");
  await raw.send(new Uint8Array([0x02, 0, 0])); // a request with half an id
  assert.deepEqual(await fromAsync(raw), []);
  assert.ok(errors[0] instanceof ProtocolError);
});

test("a client sends nothing after close() and every request settles", async () => {
  const gate = gates();
  await using server = await gatedServer(gate);
  const client = startClient(server.addr.port);
  const pending = client.request("in flight");
  await gate.until(1);
  const closing = client.close();
  assert.equal(client.close(), closing, "one close, however often asked");
  await assert.rejects(client.request("late"), ConnectionClosedError);
  await assert.rejects(client.send("late"), ConnectionClosedError);
  gate.open("in flight");
  assert.equal(text.decode(await pending), "in flight");
  await closing;
  assert.equal(client.state, "closed");
});

test("createMessageClient() and listenMessages() validate their options", async () => {
  assert.throws(() => startClient(1, { maxInFlight: 0 }), RangeError);
  assert.throws(() => startClient(1, { timeout: -1 }), RangeError);
  assert.throws(
    () => startClient(1, { framing: "line" as "length" }),
    TypeError,
  );
  await assert.rejects(startServer({ maxConcurrency: 0 }), RangeError);
  await assert.rejects(
    startServer({ framing: "line" as "length" }),
    TypeError,
  );
});

test("after a goaway the client reads on until the server closes: late pushes arrive", async () => {
  await using server = await serve(async (conn) => {
    await rawHello(conn, "server");
    // Nothing is pending on the client: the goaway makes it finish at once.
    await conn.send(encodeEnvelope({ kind: "goaway", nextId: 0 }));
    for await (const _ of conn) { /* until the client's FIN */ }
    for (const n of [1, 2, 3]) {
      await conn.send(
        encodeEnvelope({ kind: "data", payload: bytes(`late ${n}`) }),
      );
    }
  });
  await using client = startClient(server.addr.port, {
    reconnect: { minTimeout: 10_000 },
  });
  const pushes: string[] = [];
  for await (const push of client) {
    pushes.push(text.decode(push));
    if (pushes.length === 3) break;
  }
  assert.deepEqual(pushes, ["late 1", "late 2", "late 3"]);
});
