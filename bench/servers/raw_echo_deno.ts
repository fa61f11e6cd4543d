/**
 * The Deno baseline: a byte-for-byte echo with no framing at all, the least
 * work a Deno server can do per byte. One `conn.read` into a reused 64 KiB
 * buffer, then `conn.write` until all of it is written, with Nagle off.
 *
 *     node_modules/.bin/deno run --allow-net bench/servers/raw_echo_deno.ts --port 0
 *
 * Prints `listening on HOST:PORT` as its first line.
 */
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "7000" },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(
    `--port must be an integer from 0 to 65535: got ${values.port}`,
  );
  Deno.exit(2);
}

async function echo(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const buffer = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      let written = 0;
      while (written < n) {
        written += await conn.write(buffer.subarray(written, n));
      }
    }
  } catch {
    // A peer that resets the connection ends it; nothing to report.
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

const listener = Deno.listen({ hostname: values.host, port });
console.log(`listening on ${listener.addr.hostname}:${listener.addr.port}`);
for await (const conn of listener) echo(conn);
