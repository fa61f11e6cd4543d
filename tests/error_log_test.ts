// The default error log of a server: one line per error a peer causes, a
// bounded number per window, and stacks only for errors that are not
// tether's.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CloseTimeoutError,
  FrameTooLargeError,
  IdleTimeoutError,
  NetError,
} from "../mod.ts";
import {
  ErrorLog,
  LOG_LINES_PER_WINDOW,
  LOG_WINDOW,
} from "../src/server/_error_log.ts";
import { FakeClock } from "./_fake_clock.ts";
import { HOST, runtime, serve } from "./_utils.ts";
import { deferred, within } from "./_async.ts";

const peer = { hostname: "192.0.2.1", port: 4000 };

function log() {
  const clock = new FakeClock();
  const lines: unknown[][] = [];
  return {
    clock,
    lines,
    log: new ErrorLog((...data) => lines.push(data), clock),
  };
}

test("ErrorLog writes nothing for peers that vanish, idle or do not read", () => {
  const { lines, log: errors, clock } = log();
  errors.report(new NetError("ECONNRESET", "read"), peer);
  errors.report(new NetError("EPIPE", "write"), peer);
  errors.report(new IdleTimeoutError(1000), peer);
  errors.report(new CloseTimeoutError(1000, 10), peer);
  assert.deepEqual(lines, []);
  assert.equal(clock.pending, 0);
});

test("ErrorLog writes one line without a stack for what a peer caused", () => {
  const { lines, log: errors } = log();
  errors.report(new FrameTooLargeError(4_294_967_295, 1024), peer);
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.length, 1);
  const line = lines[0]![0] as string;
  assert.match(
    line,
    /^tether: connection from 192\.0\.2\.1:4000 failed: FRAME_TOO_LARGE: /,
  );
  assert.equal(line.includes("\n"), false);
});

test("ErrorLog hands an error that is not tether's over whole, stack and all", () => {
  const { lines, log: errors } = log();
  const bug = new TypeError("cannot read properties of undefined");
  errors.report(bug, peer);
  assert.deepEqual(lines, [[
    "tether: connection from 192.0.2.1:4000 failed:",
    bug,
  ]]);
});

test("ErrorLog counts what passes its lines per window and sums it up at the window's end", () => {
  const { lines, log: errors, clock } = log();
  for (let i = 0; i < 2_000; i++) {
    errors.report(new FrameTooLargeError(4_294_967_295, 1024), peer);
  }
  errors.report(new TypeError("bug"), peer);
  assert.equal(lines.length, LOG_LINES_PER_WINDOW);
  assert.equal(clock.persistent, 0);
  clock.tick(LOG_WINDOW);
  assert.equal(lines.length, LOG_LINES_PER_WINDOW + 1);
  assert.equal(
    lines.at(-1)![0],
    `tether: ${
      2_001 - LOG_LINES_PER_WINDOW
    } more connection errors not logged: FRAME_TOO_LARGE ×${
      2_000 - LOG_LINES_PER_WINDOW
    }, TypeError ×1`,
  );
  // A new window writes again.
  errors.report(new FrameTooLargeError(10, 1), peer);
  assert.equal(lines.length, LOG_LINES_PER_WINDOW + 2);
  errors.flush();
  assert.equal(lines.length, LOG_LINES_PER_WINDOW + 2);
  assert.equal(clock.pending, 0);
});

test("2 000 hostile connections cost a server's default log a dozen lines", async () => {
  const lines: unknown[][] = [];
  const original = console.error;
  console.error = (...data: unknown[]) => void lines.push(data);
  try {
    let failed = 0;
    const all = deferred<void>();
    const server = await serve(async (conn) => {
      try {
        for await (const _ of conn) { /* none arrives */ }
      } finally {
        if (++failed === 2_000) all.resolve();
      }
    });
    // A header that declares a 4 GiB frame, 100 peers at a time.
    const header = new Uint8Array([0xff, 0xff, 0xff, 0xff]);
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 100 }, async () => {
        const raw = await runtime.connect({
          hostname: HOST,
          port: server.addr.port,
        });
        await raw.write(header).catch(() => {});
        const reader = raw.readable.getReader();
        await reader.read().catch(() => {});
        raw.close();
      }));
    }
    await within(all.promise, 30_000, "2 000 handlers");
    await server.close();
    assert.ok(
      lines.length <= LOG_LINES_PER_WINDOW + 1,
      `${lines.length} lines`,
    );
    assert.match(
      String(lines.at(-1)![0]),
      /more connection errors not logged: FRAME_TOO_LARGE ×/,
    );
  } finally {
    console.error = original;
  }
});
