/**
 * The Deno baseline: a byte-for-byte echo with no framing at all, the least
 * work a Deno server can do per byte. One `conn.read` into a reused 64 KiB
 * buffer, then `conn.write` until all of it is written, with Nagle off.
 *
 *     node_modules/.bin/deno run --allow-net bench/servers/raw_echo_deno.ts --port 0
 *
 * Prints `listening on HOST:PORT` as its first line.
 */
import { serverAddress } from "./_address.ts";

const { host, port } = serverAddress();

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

const listener = Deno.listen({ hostname: host, port });
console.log(`listening on ${listener.addr.hostname}:${listener.addr.port}`);
for await (const conn of listener) echo(conn);
