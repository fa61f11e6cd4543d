// A peer's reset on real loopback sockets: the frames that arrived before it
// are delivered, then reading fails with ECONNRESET, not an end of stream.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  connect,
  type Connection,
  FrameTruncatedError,
  listen,
  NetError,
  type Runtime,
} from "../mod.ts";
import type { Conn } from "../src/runtime/types.ts";
import { nodeRuntime } from "../src/runtime/node.ts";
import { deferred } from "./_async.ts";
import { HOST, runtime } from "./_utils.ts";

// More than a raw connection reads ahead before it pauses (64 KiB queued, up
// to 512 KiB in one Bun read), so most of it stays in the peer's kernel.
const UNREAD = 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A frame of the default length-prefixed framing. */
function frame(text: string): Uint8Array {
  const payload = encoder.encode(text);
  const bytes = new Uint8Array(4 + payload.byteLength);
  new DataView(bytes.buffer).setUint32(0, payload.byteLength);
  bytes.set(payload, 4);
  return bytes;
}

/** "second" and, mid-frame, the header and 3 of 10 bytes of a third frame. */
function lastBytes(midFrame: boolean): Uint8Array {
  const second = frame("second");
  if (!midFrame) return second;
  const bytes = new Uint8Array(second.byteLength + 7);
  bytes.set(second);
  bytes.set(frame("0123456789").subarray(0, 7), second.byteLength);
  return bytes;
}

/**
 * Makes `peer` reset the connection while `conn` reads it: the peer closes
 * with bytes unread in its kernel buffer, which makes the kernel send a
 * reset. Returns the outcome of the read after that.
 */
async function readAfterReset(
  conn: Connection,
  peer: Conn,
  midFrame: boolean,
): Promise<IteratorResult<Uint8Array>> {
  const frames = conn[Symbol.asyncIterator]();
  await peer.write(frame("first"));
  assert.equal(decoder.decode((await frames.next()).value), "first");
  // Sent before the peer's reply below, so they are in the peer's kernel
  // once `conn` has read that reply.
  await conn.send(new Uint8Array(UNREAD));
  await peer.write(lastBytes(midFrame));
  assert.equal(decoder.decode((await frames.next()).value), "second");
  peer.close();
  return frames.next();
}

type Open = (
  peerRuntime: Runtime,
  run: (conn: Connection, peer: Conn) => Promise<void>,
) => Promise<void>;

/** Runs `run` on a Connection from `connect()` and its raw peer. */
const viaConnect: Open = async (peerRuntime, run) => {
  const listener = await peerRuntime.listen({ hostname: HOST, port: 0 });
  const accepted = listener.accept();
  const conn = await connect({ hostname: HOST, port: listener.addr.port });
  const peer = (await accepted)!;
  try {
    await run(conn, peer);
  } finally {
    peer.close();
    listener.close();
    await conn.close();
  }
};

/** Runs `run` on a Connection served by `listen()` and its raw peer. */
const viaListen: Open = async (peerRuntime, run) => {
  const served = deferred<Connection>();
  const handled = deferred<void>();
  const server = await listen({
    hostname: HOST,
    port: 0,
    handler: (conn) => {
      served.resolve(conn);
      return handled.promise;
    },
  });
  const peer = await peerRuntime.connect({
    hostname: HOST,
    port: server.addr.port,
  });
  try {
    await run(await served.promise, peer);
  } finally {
    peer.close();
    handled.resolve();
    await server.close();
  }
};

const origins: [string, Open][] = [
  ["connect()", viaConnect],
  ["listen()", viaListen],
];

// node:net, on every runtime, closes a socket with unread bytes at once, so
// it stages a bare reset where the runtime's own sockets cannot.
const peers = runtime.name === "node" ? [runtime] : [runtime, nodeRuntime];

for (const peerRuntime of peers) {
  const peerName = peerRuntime === runtime ? runtime.name : "node:net";
  for (const [origin, open] of origins) {
    for (const midFrame of [true, false]) {
      const where = midFrame ? "mid-frame" : "on a frame boundary";
      // Deno's close() shuts the write side down first, so its peer gets a
      // FIN before the reset and, like any reader after a FIN, the end.
      if (peerRuntime.name === "deno") {
        test(`${runtime.name}: a Deno peer that closes with unread bytes ${where} ends a ${origin} Connection's stream`, async () => {
          await open(peerRuntime, async (conn, peer) => {
            const next = readAfterReset(conn, peer, midFrame);
            if (midFrame) {
              const error = await next.then(
                () => assert.fail("the stream went on"),
                (error: unknown) => error,
              );
              assert.ok(error instanceof FrameTruncatedError, `${error}`);
              assert.equal(conn.signal.reason, error);
            } else {
              assert.equal((await next).done, true);
            }
          });
        });
        continue;
      }
      test(`${runtime.name}: a ${peerName} peer's reset ${where} fails a ${origin} Connection with ECONNRESET`, async () => {
        await open(peerRuntime, async (conn, peer) => {
          const error = await readAfterReset(conn, peer, midFrame).then(
            (result) =>
              assert.fail(
                result.done ? "a clean end of the frames" : "another frame",
              ),
            (error: unknown) => error,
          );
          assert.ok(error instanceof NetError, `${error}`);
          assert.equal(error.code, "ECONNRESET");
          assert.equal(conn.signal.reason, error);
        });
      });
    }
  }
}
