// The runtime adapter's own contract, on real loopback sockets.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Conn } from "../src/runtime/types.ts";
import { concat } from "./framing/_chunking.ts";
import { HOST, pattern, runtime } from "./_utils.ts";

async function pair(): Promise<{ local: Conn; remote: Conn; done(): void }> {
  const listener = await runtime.listen({ hostname: HOST, port: 0 });
  const accepted = listener.accept();
  const local = await runtime.connect({
    hostname: HOST,
    port: listener.addr.port,
  });
  const remote = (await accepted)!;
  return {
    local,
    remote,
    done() {
      local.close();
      remote.close();
      listener.close();
    },
  };
}

/** Reads with `read` until end of stream; returns the bytes. */
async function readAll(
  read: () => Promise<Uint8Array | null>,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for (let chunk = await read(); chunk; chunk = await read()) {
    chunks.push(chunk.slice());
  }
  return concat(chunks);
}

test(`${runtime.name} Conn.read() hands out the bytes sent, then null after the FIN`, async () => {
  const { local, remote, done } = await pair();
  try {
    assert.ok(local.read, `the ${runtime.name} adapter has read()`);
    const sent = pattern(300_000, 4);
    const received = readAll(() => local.read!());
    await remote.write(sent);
    await remote.closeWrite();
    assert.deepEqual(await received, sent);
    assert.equal(await local.read(), null, "stays at the end");
    // Half-close: this side still writes after the peer's FIN.
    await local.write(pattern(10, 1));
    await local.closeWrite();
    assert.deepEqual(await readAll(() => remote.read!()), pattern(10, 1));
  } finally {
    done();
  }
});

test(`${runtime.name} Conn.readsIntoTarget is declared: true on Deno, false on Bun and Node`, async () => {
  const { local, remote, done } = await pair();
  try {
    const expected = runtime.name === "deno";
    assert.equal(local.readsIntoTarget, expected);
    assert.equal(remote.readsIntoTarget, expected);
  } finally {
    done();
  }
});

test(`${runtime.name} Conn.read(target) fills the target or hands out its own chunk`, async () => {
  const { local, remote, done } = await pair();
  try {
    const sent = pattern(100_000, 2);
    const chunks: Uint8Array[] = [];
    const reading = (async () => {
      let got = 0;
      while (got < sent.byteLength) {
        const target = new Uint8Array(sent.byteLength - got);
        const chunk = await local.read!(target);
        assert.ok(chunk !== null);
        assert.equal(
          chunk.buffer === target.buffer,
          local.readsIntoTarget === true,
          "the adapter reads into the target exactly when it says it does",
        );
        // A chunk read into the target starts where the target starts.
        if (chunk.buffer === target.buffer) {
          assert.equal(chunk.byteOffset, target.byteOffset);
          assert.ok(chunk.byteLength <= target.byteLength);
        }
        chunks.push(chunk.slice());
        got += chunk.byteLength;
      }
    })();
    await remote.write(sent);
    await reading;
    assert.deepEqual(concat(chunks), sent);
  } finally {
    done();
  }
});

test(`${runtime.name} Conn.read() keeps earlier chunks intact across later reads`, async () => {
  const { local, remote, done } = await pair();
  try {
    const held: { chunk: Uint8Array; copy: Uint8Array }[] = [];
    for (let i = 0; i < 50; i++) {
      const sent = pattern(1000 + i, i);
      await remote.write(sent);
      let got = 0;
      while (got < sent.byteLength) {
        const chunk = (await local.read!())!;
        held.push({ chunk, copy: chunk.slice() });
        got += chunk.byteLength;
      }
    }
    for (const { chunk, copy } of held) assert.deepEqual(chunk, copy);
  } finally {
    done();
  }
});

test(`${runtime.name} Conn.read() ends with null once the connection is closed here`, async () => {
  const { local, done } = await pair();
  try {
    const pending = local.read!();
    local.close();
    assert.equal(await pending, null);
    assert.equal(await local.read!(), null);
  } finally {
    done();
  }
});

test(`${runtime.name} Conn.pull() hands each outcome to the sink, never before it returns`, async () => {
  const { local, remote, done } = await pair();
  try {
    assert.ok(local.pull, `the ${runtime.name} adapter has pull()`);
    const pull = (target?: Uint8Array) =>
      new Promise<Uint8Array | null>((resolve, reject) => {
        let returned = false;
        local.pull!({
          chunk: (bytes) => {
            assert.ok(returned, "not within pull()");
            resolve(bytes);
          },
          fail: reject,
        }, target);
        returned = true;
      });
    const sent = pattern(200_000, 5);
    await remote.write(sent.subarray(0, 1000));
    // Bytes already received: still not within the call.
    const first: Uint8Array[] = [];
    for (let got = 0; got < 1000;) {
      const chunk = (await pull())!;
      first.push(chunk);
      got += chunk.byteLength;
    }
    assert.deepEqual(concat(first), sent.subarray(0, 1000));
    const received = readAll(async () => {
      const target = new Uint8Array(70_000);
      const chunk = await pull(target);
      if (chunk !== null) {
        assert.equal(chunk.buffer === target.buffer, local.readsIntoTarget);
      }
      return chunk;
    });
    await remote.write(sent.subarray(1000));
    await remote.closeWrite();
    assert.deepEqual(await received, sent.subarray(1000));
    assert.equal(await pull(), null, "stays at the end");
  } finally {
    done();
  }
});

test(`${runtime.name} Conn.write() of more than the socket buffers settles once the peer reads it all`, async () => {
  const { local, remote, done } = await pair();
  try {
    const sent = pattern(16 * 1024 * 1024, 6);
    // Nothing reads yet: the kernel takes part of it, the rest must wait
    // for room (Bun writes partially, Node queues, Deno loops).
    const writing = remote.write(sent);
    const received = readAll(() => local.read!());
    await writing;
    await remote.closeWrite();
    const bytes = await received;
    assert.equal(bytes.byteLength, sent.byteLength);
    assert.deepEqual(bytes, sent);
  } finally {
    done();
  }
});
