import { test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Connection, ConnectionClosedError } from "../mod.ts";
import { serve as serveOn } from "../src/server/server.ts";
import { deferred, within } from "./_async.ts";
import { FakeClock } from "./_fake_clock.ts";
import { HOST, serve } from "./_utils.ts";

const text = new TextDecoder();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("Server.close() under load from 200 clients answers every frame it received", async () => {
  // Per connection, keyed by the client's port: frames the server took in
  // and replies it wrote.
  const accounts = new Map<number, { received: number; replied: number }>();
  const server = await serve(async (conn) => {
    const account = { received: 0, replied: 0 };
    accounts.set(conn.remoteAddr.port, account);
    const pending: Promise<void>[] = [];
    for await (const frame of conn) {
      account.received++;
      // A reply that takes a moment: the shutdown catches exchanges mid-way.
      pending.push(
        sleep(2).then(() => conn.send(frame)).then(() => {
          account.replied++;
        }),
      );
    }
    await Promise.all(pending);
  }, { shutdownTimeout: 10_000 });

  let stop = false;
  const clients = await Promise.all(
    Array.from({ length: 200 }, async (_, id) => {
      const conn = await connect({ port: server.addr.port });
      const replies: string[] = [];
      const reading = (async () => {
        for await (const frame of conn) replies.push(text.decode(frame));
      })();
      const sending = (async () => {
        for (let n = 0; !stop && !conn.signal.aborted; n++) {
          try {
            await conn.send(`client ${id} request ${n}`);
          } catch {
            return; // the server closed the connection
          }
          await sleep(5);
        }
      })();
      return { conn, id, replies, reading, sending };
    }),
  );

  // Node accepts one connection per turn of its event loop, so under load
  // the last ones wait in the backlog for a while: wait until all are served.
  for (let i = 0; i < 1000 && accounts.size < 200; i++) await sleep(10);
  await sleep(200); // every client is mid-conversation
  const started = performance.now();
  await server.close();
  const took = performance.now() - started;
  stop = true;
  await Promise.all(clients.map((c) => Promise.all([c.reading, c.sending])));
  await Promise.all(clients.map((c) => c.conn.close()));

  assert.equal(accounts.size, 200);
  let answered = 0;
  for (const client of clients) {
    const account = accounts.get(client.conn.localAddr.port);
    assert.ok(account, `the server saw client ${client.id}`);
    assert.equal(account.replied, account.received, "every frame answered");
    assert.equal(client.replies.length, account.replied, "every reply arrived");
    client.replies.forEach((reply, n) =>
      assert.equal(reply, `client ${client.id} request ${n}`)
    );
    answered += client.replies.length;
  }
  assert.ok(answered >= 200, `answered ${answered} requests`);
  assert.ok(took < 10_000, "handlers finished before the deadline");
  assert.equal(server.connections, 0);
});

test("Server.close() aborts a handler that ignores it once shutdownTimeout passes on the server's clock", async () => {
  const clock = new FakeClock();
  const served = deferred<Connection>();
  const server = await serveOn({
    hostname: HOST,
    port: 0,
    shutdownTimeout: 5000,
    // Returns only once its connection is aborted.
    handler: (conn) => {
      served.resolve(conn);
      return new Promise((resolve) =>
        conn.signal.addEventListener("abort", () => resolve(), { once: true })
      );
    },
  }, clock);
  await using _client = await connect({ port: server.addr.port });
  const conn = await within(served.promise, 5000, "the handler runs");
  let closed = false;
  const closing = server.close().then(() => closed = true);
  for (let i = 0; i < 500 && clock.pending === 0; i++) await sleep(2);
  assert.deepEqual(clock.delays, [5000]);
  clock.tick(4999);
  await sleep(20);
  assert.equal(closed, false);
  assert.equal(conn.signal.aborted, false);
  clock.tick(1);
  await within(closing, 5000, "close() after the shutdown timeout");
  assert.ok(conn.signal.reason instanceof ConnectionClosedError);
  assert.match(conn.signal.reason.message, /shut down after 5000 ms/);
  assert.equal(server.connections, 0);
});
