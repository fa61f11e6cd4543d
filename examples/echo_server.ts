/**
 * A pure echo server: every frame goes back unchanged. Tests, benchmarks and
 * wire-compatibility checks use it.
 *
 *     deno run --allow-net --allow-read examples/echo_server.ts --port 7000
 *     bun run examples/echo_server.ts --port 0 --framing line
 *     bun run examples/echo_server.ts --tls-cert cert.pem --tls-key key.pem
 *     node --import tsx examples/echo_server.ts --port 0
 *
 * Its first line on stdout is `listening on HOST:PORT` (the real port when
 * `--port 0` asks for a free one). It reads a batch of frames at a time
 * into memory it reuses (`conn.batches({ reuseBuffer: true })`);
 * `--per-frame` makes it iterate frame by frame instead, the simpler and
 * slower way. A frame the framing cannot send back, such as a line ending in
 * `\r`, is reported on stderr and ends its connection once the frames before
 * it are echoed.
 *
 * `--workers N` runs N processes that share the port (`reusePort`), under a
 * parent that prints the one `listening on` line, restarts a worker that
 * dies and stops them all on SIGINT or SIGTERM (see examples/_workers.ts):
 * on Deno, run the parent with `--allow-run`; it gives its workers
 * `--unstable-net`. Node needs 22.12 or later for it. `--proxy-protocol`
 * reads a PROXY protocol header from peers on 127.0.0.0/8 and ::1.
 */
import process from "node:process";
import { type Connection, listen } from "../mod.ts";
import {
  exampleArgs,
  readFlagFile,
  SERVER_MINIMUMS,
  SERVER_NUMBERS,
  SERVER_SWITCHES,
  serverOptions,
  started,
} from "./_args.ts";
import { counted, serveUntilStopped, superviseWorkers } from "./_workers.ts";

const USAGE =
  `usage: echo_server.ts [--host 127.0.0.1] [--port 7000] [--framing length|line]
                      [--tls-cert cert.pem --tls-key key.pem]
                      [--frame-timeout ms] [--idle-timeout ms] [--max-connections n]
                      [--heartbeat-interval ms] [--heartbeat-timeout ms] [--max-frame-rate n]
                      [--max-frame-size bytes] [--max-write-buffer bytes] [--per-frame]
                      [--workers n] [--verbose] [--proxy-protocol]`;
const { host, port, framing, files, extra, switches } = exampleArgs(USAGE, {
  port: 7000,
  allowZeroPort: true,
  files: ["tls-cert", "tls-key"],
  switches: ["per-frame", ...SERVER_SWITCHES],
  numbers: {
    // The defaults of listen().
    "frame-timeout": 30_000,
    "idle-timeout": 300_000,
    "max-connections": 10_000,
    ...SERVER_NUMBERS,
  },
  minimums: SERVER_MINIMUMS,
});
const cert = files["tls-cert"];
const key = files["tls-key"];
if ((cert === undefined) !== (key === undefined)) {
  console.error(`--tls-cert and --tls-key go together\n\n${USAGE}`);
  process.exit(2);
}
if (extra["workers"]! > 1 && !switches["worker"]) {
  await superviseWorkers(import.meta.url, extra["workers"]!);
}

/**
 * Sends `frame` back, or reports why it cannot and returns false: the
 * connection must then end, as going on would hide the gap from the peer.
 */
function echo(conn: Connection, frame: Uint8Array): boolean {
  // `send()` reports a refused frame only through its promise; checking
  // first finds it without a `.catch` on every frame.
  try {
    conn.framing.check(frame);
  } catch (error) {
    const { hostname, port } = conn.remoteAddr;
    console.error(
      `cannot echo a frame to ${hostname}:${port}, closing the connection: ${
        error instanceof Error ? error.message : error
      }`,
    );
    return false;
  }
  conn.send(frame);
  return true;
}

const { handler, accepted } = counted<Connection>(
  switches["per-frame"]
    ? async (conn) => {
      // The plain way: a frame per step.
      for await (const frame of conn) if (!echo(conn, frame)) return;
    }
    : async (conn) => {
      // A batch per step: the frames that one read from the socket brought,
      // with no promise per frame. Replies are not awaited one by one: the
      // connection sends a batch's replies in a single write. `send()` copies
      // each frame, so the next batch may be read into the same memory.
      for await (const frames of conn.batches({ reuseBuffer: true })) {
        for (const frame of frames) if (!echo(conn, frame)) return;
      }
    },
);

const server = await started(() => {
  const { probes, ...limits } = serverOptions(framing, extra, switches);
  return listen({
    hostname: host,
    port,
    ...limits,
    frameTimeout: extra["frame-timeout"]!,
    idleTimeout: extra["idle-timeout"]!,
    maxConnections: extra["max-connections"]!,
    // Pings are answered, not echoed, only when probing is asked for.
    ...(probes ? { heartbeat: probes } : {}),
    ...(cert && key
      ? {
        tls: {
          cert: readFlagFile("tls-cert", cert, USAGE),
          key: readFlagFile("tls-key", key, USAGE),
        },
      }
      : {}),
    // Returning from a handler closes its connection after the replies
    // already sent are written.
    handler,
  });
}, USAGE);

console.log(`listening on ${server.addr.hostname}:${server.addr.port}`);

serveUntilStopped(server, {
  signals: ["SIGINT", "SIGTERM"],
  worker: switches["worker"]!,
  verbose: switches["verbose"]!,
  accepted,
});
