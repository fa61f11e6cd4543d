// A connection's timers and write hold through its internal wiring: a fake
// clock drives the idle, close and connect timeouts, with no real waiting.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CloseTimeoutError,
  ConnectionClosedError,
  ConnectTimeoutError,
  IdleTimeoutError,
  type Runtime,
} from "../mod.ts";
import { dial } from "../src/connection/connect.ts";
import {
  Connection,
  type ConnectionWiring,
} from "../src/connection/connection.ts";
import { WriteHold } from "../src/connection/write_hold.ts";
import { encodeFrame } from "../src/framing/framing.ts";
import { lengthPrefixed } from "../src/framing/length_prefixed.ts";
import { FakeClock, settle } from "./_fake_clock.ts";
import { memoryConn } from "./_memory_conn.ts";
import { concat } from "./framing/_chunking.ts";
import { hangingRuntime } from "./_utils.ts";

const framing = lengthPrefixed({ maxFrameSize: 1024 });
const text = new TextDecoder();

function open(wiring: ConnectionWiring) {
  const { conn, peer } = memoryConn(framing);
  return { connection: new Connection(conn, { framing, ...wiring }), peer };
}

test("Connection aborts with IdleTimeoutError after idleTimeout of silence on its clock", async () => {
  const clock = new FakeClock();
  const { connection, peer } = open({ idleTimeout: 1000, clock });
  const frames = connection[Symbol.asyncIterator]();
  const first = frames.next();
  await settle();
  // Idle deadlines never keep the process alive.
  assert.equal(clock.pending, 1);
  assert.equal(clock.persistent, 0);
  clock.tick(600);
  peer.frame("alive");
  assert.equal(text.decode((await first).value), "alive");
  const second = frames.next();
  await settle();
  clock.tick(999);
  assert.equal(connection.signal.aborted, false, "bytes arrived at 600");
  clock.tick(601);
  assert.ok(connection.signal.reason instanceof IdleTimeoutError);
  assert.equal(connection.signal.reason.timeout, 1000);
  await assert.rejects(second, IdleTimeoutError);
  await connection.closed;
  assert.equal(clock.pending, 0);
});

test("Connection is not idle while the application does not read", async () => {
  const clock = new FakeClock();
  const { connection } = open({ idleTimeout: 1000, clock });
  clock.tick(5000);
  await settle();
  assert.equal(connection.signal.aborted, false);
  connection.abort();
  await connection.closed;
  assert.equal(clock.pending, 0);
});

test("Connection.close() lingers for the peer's FIN on its clock", async () => {
  const clock = new FakeClock();
  const { connection, peer } = open({ clock });
  let closed = false;
  void connection.close().then(() => closed = true);
  await settle();
  assert.deepEqual(clock.delays, [2000]);
  clock.tick(1999);
  await settle();
  assert.equal(closed, false);
  clock.tick(1);
  await settle();
  assert.equal(closed, true);
  assert.ok(connection.signal.reason instanceof ConnectionClosedError);
  assert.ok(peer.closed);
  assert.equal(clock.pending, 0);
});

test("Connection.close() aborts with CloseTimeoutError on its clock when writes stall", async () => {
  const clock = new FakeClock();
  const { conn } = memoryConn(framing);
  conn.write = () => new Promise(() => {});
  const connection = new Connection(conn, {
    framing,
    closeTimeout: 3000,
    clock,
  } as ConnectionWiring);
  void connection.send("stuck");
  void connection.close();
  await settle();
  // A close under way keeps the process alive.
  assert.equal(clock.persistent, 1);
  clock.tick(2999);
  assert.equal(connection.signal.aborted, false);
  clock.tick(1);
  assert.ok(connection.signal.reason instanceof CloseTimeoutError);
  await connection.closed;
  assert.equal(clock.pending, 0);
});

test("dial() fails with ConnectTimeoutError after connectTimeout on its clock", async () => {
  const runtime = hangingRuntime;
  const clock = new FakeClock();
  let failed = false;
  const attempt = dial({ port: 9, connectTimeout: 5000, runtime }, { clock })
    .then(() => undefined, (error: unknown) => {
      failed = true;
      return error;
    });
  await settle();
  // An attempt under way keeps the process alive.
  assert.equal(clock.persistent, 1);
  clock.tick(4999);
  await settle();
  assert.equal(failed, false);
  clock.tick(1);
  const failure = await attempt;
  assert.ok(failure instanceof ConnectTimeoutError);
  assert.equal(failure.timeout, 5000);
  assert.equal(clock.pending, 0);
});

test("dial() times the attempt with connectClock and the connection with clock", async () => {
  const { conn } = memoryConn(framing);
  const runtime: Runtime = {
    name: "memory",
    connect: () => Promise.resolve(conn),
    listen: () => {
      throw new Error("not used");
    },
  };
  const connectClock = new FakeClock();
  const clock = new FakeClock();
  const connection = await dial(
    { port: 9, runtime, framing: "length", idleTimeout: 1000 },
    { clock, connectClock },
  );
  assert.equal(connectClock.pending, 0);
  assert.deepEqual(clock.delays, [1000]);
  connection.abort();
  await connection.closed;
  assert.equal(clock.pending, 0);
});

test("WriteHold holds a connection's writes until the layer above releases them", async () => {
  const hold = new WriteHold();
  const { connection, peer } = open({ writeHold: hold });
  let backlog = true;
  hold.hold(() => backlog);
  void connection.send("reply");
  await settle();
  assert.equal(peer.writes, 0, "held while the layer above has frames");
  backlog = false;
  hold.release();
  assert.equal(peer.writes, 1);
  assert.deepEqual(peer.frames(), ["reply"]);
  connection.abort();
  await connection.closed;
});

test("WriteHold tells whether the connection still holds received frames", async () => {
  const hold = new WriteHold();
  const { connection, peer } = open({ writeHold: hold });
  assert.equal(hold.hasFrames, false);
  peer.send(concat(
    ["one", "two"].map((s) =>
      encodeFrame(framing, new TextEncoder().encode(s))
    ),
  ));
  const frames = connection[Symbol.asyncIterator]();
  assert.equal(text.decode((await frames.next()).value), "one");
  assert.equal(hold.hasFrames, true);
  // Frames still held are answered too: release waits for them.
  void connection.send("reply");
  hold.release();
  await settle();
  assert.equal(peer.writes, 0);
  assert.equal(text.decode((await frames.next()).value), "two");
  assert.equal(hold.hasFrames, false);
  connection.abort();
  await connection.closed;
});
