import { test } from "node:test";
import assert from "node:assert/strict";
import { QueueFullError } from "../mod.ts";
import {
  DEFAULT_QUEUE_BYTES,
  DEFAULT_QUEUE_LENGTH,
  SendQueue,
} from "../src/client/send_queue.ts";

const bytes = (n: number) => new Uint8Array(n);

test("SendQueue refuses a frame past maxLength at once", () => {
  const queue = new SendQueue({ maxLength: 2, maxBytes: 1000 });
  void queue.push(bytes(1)).catch(() => {});
  void queue.push(bytes(1)).catch(() => {});
  assert.throws(() => queue.push(bytes(1)), (error: unknown) => {
    assert.ok(error instanceof QueueFullError);
    assert.equal(error.code, "QUEUE_FULL");
    assert.equal(error.length, 2);
    assert.equal(error.maxLength, 2);
    return true;
  });
  assert.equal(queue.length, 2);
  queue.clear(new Error("done"));
});

test("SendQueue refuses a frame past maxBytes at once", () => {
  const queue = new SendQueue({ maxLength: 100, maxBytes: 10 });
  void queue.push(bytes(6)).catch(() => {});
  assert.throws(() => queue.push(bytes(5)), QueueFullError);
  void queue.push(bytes(4)).catch(() => {});
  assert.equal(queue.bytes, 10);
  queue.clear(new Error("done"));
});

test("SendQueue.flush() hands frames over in order and settles each with its send", async () => {
  const queue = new SendQueue();
  const frames = [bytes(1), bytes(2), bytes(3)];
  const promises = frames.map((frame) => queue.push(frame));
  const sent: Uint8Array[] = [];
  queue.flush({
    send: (frame: Uint8Array) => {
      sent.push(frame);
      return frame.byteLength === 2
        ? Promise.reject(new Error("broke"))
        : Promise.resolve();
    },
  }, () => true);
  assert.deepEqual(sent, frames);
  assert.equal(queue.length, 0);
  assert.equal(queue.bytes, 0);
  const results = await Promise.allSettled(promises);
  assert.deepEqual(results.map((r) => r.status), [
    "fulfilled",
    "rejected",
    "fulfilled",
  ]);
});

test("SendQueue drops a frame whose signal aborts, so it is never sent", async () => {
  const queue = new SendQueue();
  const controller = new AbortController();
  const kept = queue.push(bytes(1));
  const withdrawn = queue.push(bytes(2), controller.signal);
  const reason = new Error("changed my mind");
  controller.abort(reason);
  await assert.rejects(withdrawn, (error) => error === reason);
  assert.equal(queue.length, 1);
  assert.equal(queue.bytes, 1);
  const sent: number[] = [];
  queue.flush({
    send: (frame: Uint8Array) => {
      sent.push(frame.byteLength);
      return Promise.resolve();
    },
  }, () => true);
  await kept;
  assert.deepEqual(sent, [1]);
});

test("SendQueue.clear() rejects every frame, none of them sent", async () => {
  const queue = new SendQueue();
  const promises = [queue.push(bytes(1)), queue.push(bytes(2))];
  const reason = new Error("closed");
  queue.clear(reason);
  for (const promise of promises) {
    await assert.rejects(promise, (error) => error === reason);
  }
  let sent = 0;
  queue.flush({
    send: () => {
      sent++;
      return Promise.resolve();
    },
  }, () => true);
  assert.equal(sent, 0);
});

test("SendQueue keeps a copy of a frame, so the sender may reuse its memory", async () => {
  const queue = new SendQueue();
  const frame = bytes(3);
  const sent = queue.push(frame);
  frame.fill(9);
  const taken: Uint8Array[] = [];
  queue.flush({
    send: (copy: Uint8Array) => {
      taken.push(copy);
      return Promise.resolve();
    },
  }, () => true);
  await sent;
  assert.deepEqual(taken, [new Uint8Array(3)]);
});

test("SendQueue.flush() leaves the frames after a broken connection queued, in order", async () => {
  const queue = new SendQueue();
  const controller = new AbortController();
  const first = queue.push(bytes(1));
  const second = queue.push(bytes(2), controller.signal);
  const third = queue.push(bytes(3));
  let open = true;
  const sent: number[] = [];
  queue.flush({
    send: (frame: Uint8Array) => {
      sent.push(frame.byteLength);
      open = false;
      return Promise.resolve();
    },
  }, () => open);
  await first;
  assert.deepEqual(sent, [1]);
  assert.equal(queue.length, 2);
  assert.equal(queue.bytes, 5);
  // The frame put back still listens to its signal.
  const reason = new Error("withdrawn");
  controller.abort(reason);
  await assert.rejects(second, (error) => error === reason);
  queue.flush({
    send: (frame: Uint8Array) => {
      sent.push(frame.byteLength);
      return Promise.resolve();
    },
  }, () => true);
  await third;
  assert.deepEqual(sent, [1, 3]);
});

test("SendQueue's promises never become unhandled rejections", async () => {
  const queue = new SendQueue();
  const controller = new AbortController();
  // None of these promises is awaited or given a handler.
  queue.push(bytes(1), controller.signal);
  queue.push(bytes(2));
  queue.push(bytes(3));
  controller.abort(new Error("withdrawn"));
  queue.flush({ send: () => Promise.reject(new Error("write failed")) }, () => {
    queue.clear(new Error("closed"));
    return true;
  });
  queue.push(bytes(4));
  queue.clear(new Error("closed"));
  // An unhandled rejection fails the test run on every runtime.
  await new Promise((resolve) => setTimeout(resolve, 0));
});

test("SendQueue holds 1024 frames or 1 MiB by default", () => {
  assert.equal(DEFAULT_QUEUE_LENGTH, 1024);
  assert.equal(DEFAULT_QUEUE_BYTES, 1_048_576);
  const queue = new SendQueue();
  void queue.push(bytes(DEFAULT_QUEUE_BYTES)).catch(() => {});
  assert.throws(() => queue.push(bytes(1)), QueueFullError);
  queue.clear(new Error("done"));
});

test("SendQueue validates its limits", () => {
  assert.throws(() => new SendQueue({ maxLength: -1 }), RangeError);
  assert.throws(() => new SendQueue({ maxBytes: 1.5 }), RangeError);
});

/** Something that settles on its own, as a request does. */
function waiting(size: number, log: string[]) {
  return {
    frame: bytes(size),
    deliver: (target: { name: string }) =>
      log.push(`${size} to ${target.name}`),
    drop: (reason: unknown) => log.push(`${size} dropped: ${reason}`),
  };
}

test("SendQueue holds what settles on its own beside frames, in order, within its limits", async () => {
  const queue = new SendQueue<{ name: string; send(): Promise<void> }>({
    maxLength: 2,
    maxBytes: 100,
  });
  const log: string[] = [];
  const frame = queue.push(bytes(1));
  queue.add(waiting(2, log));
  assert.throws(() => queue.add(waiting(3, log)), QueueFullError);
  assert.throws(() => queue.checkRoom(0), QueueFullError);
  assert.equal(queue.bytes, 3);
  queue.flush({
    name: "a",
    send: () => {
      log.push("frame to a");
      return Promise.resolve();
    },
  }, () => true);
  await frame;
  assert.deepEqual(log, ["frame to a", "2 to a"]);
});

test("SendQueue.putFirst() puts back what must go out again ahead of the rest, past the limits", () => {
  const queue = new SendQueue<{ name: string; send(): Promise<void> }>({
    maxLength: 1,
  });
  const log: string[] = [];
  queue.add(waiting(1, log));
  queue.putFirst([waiting(2, log), waiting(3, log)]);
  assert.equal(queue.length, 3);
  assert.equal(queue.bytes, 6);
  queue.clear("closed");
  assert.deepEqual(log, [
    "2 dropped: closed",
    "3 dropped: closed",
    "1 dropped: closed",
  ]);
});

test("SendQueue.remove() takes out what settled elsewhere, without dropping it", () => {
  const queue = new SendQueue<{ name: string; send(): Promise<void> }>();
  const log: string[] = [];
  const first = waiting(1, log);
  queue.add(first);
  queue.add(waiting(2, log));
  queue.remove(first);
  queue.remove(first);
  assert.equal(queue.length, 1);
  assert.equal(queue.bytes, 2);
  queue.clear("closed");
  assert.deepEqual(log, ["2 dropped: closed"]);
});
