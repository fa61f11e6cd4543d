// Hostile peers against examples/echo_server.ts on every runtime: the
// offending connection is closed, everyone else is served, memory stays flat.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { connect } from "../mod.ts";
import {
  EXAMPLE_RUNTIMES,
  HOST,
  readExactly,
  runtime,
  startExample,
  take,
} from "./_utils.ts";

const text = new TextDecoder();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The resident memory of a process in MiB. */
function rssMiB(pid: number): number {
  const kib = execFileSync("ps", ["-o", "rss=", "-p", String(pid)], {
    encoding: "utf8",
  });
  return Number(kib.trim()) / 1024;
}

/** Resolves true once the raw connection is closed by the server. */
async function closedByServer(
  readable: ReadableStream<Uint8Array>,
): Promise<boolean> {
  const reader = readable.getReader();
  try {
    while (!(await reader.read()).done) { /* nothing is expected */ }
  } catch {
    // A reset is a close too.
  }
  return true;
}

for (const name of EXAMPLE_RUNTIMES) {
  test(`examples/echo_server.ts on ${name} survives a 4 GiB length, a slowloris and a connection flood`, async () => {
    await using server = await startExample(name, "echo_server.ts", [
      "--port",
      "0",
      "--frame-timeout",
      "300",
      "--max-connections",
      "60",
    ]);
    const pid = server.child.pid!;
    await using good = await connect({ port: server.port });
    const served = async (label: string) => {
      await good.send(label);
      assert.equal(text.decode((await take(good, 1))[0]), label);
    };
    await served("warm up");
    const rssBefore = rssMiB(pid);

    // A declared length of 4 GiB - 1: refused before anything is allocated.
    const huge = await runtime.connect({ hostname: HOST, port: server.port });
    await huge.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    assert.ok(await closedByServer(huge.readable));
    huge.close();
    await served("after the huge length");

    // A slowloris: a header, then a byte every 50 ms.
    const slow = await runtime.connect({ hostname: HOST, port: server.port });
    await slow.write(new Uint8Array([0, 0, 0, 200]));
    let trickling = true;
    const trickle = (async () => {
      for (let i = 0; i < 200 && trickling; i++) {
        await sleep(50);
        await slow.write(new Uint8Array([i])).catch(() => trickling = false);
      }
    })();
    await served("during the slowloris");
    assert.ok(await closedByServer(slow.readable));
    trickling = false;
    await trickle;
    slow.close();

    // A flood of connections beyond --max-connections.
    const flood = await Promise.all(
      Array.from(
        { length: 200 },
        () => runtime.connect({ hostname: HOST, port: server.port }),
      ),
    );
    await served("during the flood");
    const closed = await Promise.race([
      Promise.all(flood.slice(-50).map((c) => closedByServer(c.readable))),
      sleep(5000).then(() => false as const),
    ]);
    assert.ok(closed, "connections beyond the limit are closed at once");
    for (const conn of flood) conn.close();
    await sleep(100);
    await served("after the flood");

    const rssAfter = rssMiB(pid);
    assert.ok(
      rssAfter - rssBefore < 64,
      `memory stays flat: ${rssBefore.toFixed(1)} → ${rssAfter.toFixed(1)} MiB`,
    );
  });
}

for (const name of EXAMPLE_RUNTIMES) {
  for (const perFrame of [false, true]) {
    const variant = perFrame ? " --per-frame" : "";
    test(`examples/echo_server.ts${variant} on ${name} reports a line it cannot echo and closes that connection`, async () => {
      await using server = await startExample(name, "echo_server.ts", [
        "--port",
        "0",
        "--framing",
        "line",
        ...(perFrame ? ["--per-frame"] : []),
      ]);
      let stderr = "";
      const reported = new Promise<void>((resolve) => {
        server.child.stderr!.on("data", (data) => {
          stderr += data;
          if (stderr.includes("\n")) resolve();
        });
      });

      // The middle line decodes to `abc\r`, which a line cannot carry back:
      // its `\r` would be taken for half of a `\r\n`.
      const bad = await runtime.connect({ hostname: HOST, port: server.port });
      try {
        const reader = bad.readable.getReader();
        await bad.write(new TextEncoder().encode("one\n abc\r\r\n two\n"));
        const echoed = await readExactly(reader, 4);
        assert.equal(text.decode(echoed), "one\n");
        assert.deepEqual(await reader.read(), { done: true, value: undefined });
      } finally {
        bad.close();
      }
      await reported;
      const lines = stderr.trimEnd().split("\n");
      assert.equal(lines.length, 1, stderr);
      assert.ok(
        lines[0]!.includes(`${HOST}:${bad.localAddr.port}`),
        `names the peer: ${lines[0]}`,
      );
      assert.match(lines[0]!, /ends with a carriage return/);

      await using good = await connect({ port: server.port, framing: "line" });
      await good.send("still served");
      assert.equal(text.decode((await take(good, 1))[0]), "still served");
    });
  }
}
