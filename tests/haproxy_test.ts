// tether's PROXY protocol server behind a real HAProxy, in `mode tcp`: the
// original client's port survives `send-proxy` and `send-proxy-v2`, health
// checks stay out of the logs, and TLS passes through after the header.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { type Connection, listen, type Runtime, type Server } from "../mod.ts";
import { runtime } from "./_utils.ts";
import {
  freePort,
  haproxySkip,
  haproxyVersion,
  startHAProxy,
} from "./_haproxy.ts";
import { selfSigned } from "./_self_signed.ts";

const HOST = "127.0.0.1";
const skip = haproxySkip;
if (!skip) console.error(`haproxy_test: ${haproxyVersion()}`);

/** Answers each frame with where the client is, as the server sees it. */
async function whoAmI(conn: Connection): Promise<void> {
  for await (const _ of conn) {
    await conn.send(
      `${conn.remoteAddr.hostname} ${conn.remoteAddr.port} v${conn.proxy?.version} ${conn.proxy?.command}`,
    );
  }
}

/** Sends one length-prefixed frame on a raw socket and reads the reply. */
function ask(socket: Socket, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = new Uint8Array(0);
    const onData = (data: Uint8Array) => {
      const next = new Uint8Array(received.byteLength + data.byteLength);
      next.set(received);
      next.set(data, received.byteLength);
      received = next;
      if (received.byteLength < 4) return;
      const size = new DataView(received.buffer).getUint32(0);
      if (received.byteLength < 4 + size) return;
      socket.off("data", onData);
      resolve(new TextDecoder().decode(received.subarray(4, 4 + size)));
    };
    socket.on("data", onData);
    socket.once("error", reject);
    const body = new TextEncoder().encode(payload);
    const frame = new Uint8Array(4 + body.byteLength);
    new DataView(frame.buffer).setUint32(0, body.byteLength);
    frame.set(body, 4);
    socket.write(frame);
  });
}

/** A plain TCP client bound to `localPort`. */
function dialFrom(port: number, localPort: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({
      host: HOST,
      port,
      localAddress: HOST,
      localPort,
    });
    socket.once("connect", () => resolve(socket));
    socket.once("error", reject);
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

test(
  "HAProxy send-proxy and send-proxy-v2: the server sees the client's own port",
  {
    skip,
  },
  async () => {
    const [v1Port, v2Port, backend] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
    ]);
    await using _haproxy = await startHAProxy(
      `frontend v1
  bind ${HOST}:${v1Port}
  default_backend v1
frontend v2
  bind ${HOST}:${v2Port}
  default_backend v2
backend v1
  server tether ${HOST}:${backend} send-proxy
backend v2
  server tether ${HOST}:${backend} send-proxy-v2
`,
      [v1Port, v2Port],
    );
    const errors: unknown[] = [];
    await using _server = await listen({
      hostname: HOST,
      port: backend,
      proxyProtocol: { trusted: ["127.0.0.1"] },
      onError: (error) => errors.push(error),
      handler: whoAmI,
    });
    for (const [frontend, version] of [[v1Port, 1], [v2Port, 2]] as const) {
      const localPort = await freePort();
      const socket = await dialFrom(frontend, localPort);
      try {
        assert.equal(
          await ask(socket, "who"),
          `${HOST} ${localPort} v${version} PROXY`,
        );
        // Later frames on the same connection too.
        assert.equal(
          await ask(socket, "again"),
          `${HOST} ${localPort} v${version} PROXY`,
        );
      } finally {
        socket.destroy();
      }
    }
    assert.deepEqual(errors, []);
  },
);

test(
  "HAProxy health checks, with and without a header, reach neither onError nor the log",
  {
    skip,
  },
  async () => {
    const [frontend, quiet, logged] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
    ]);
    await using _haproxy = await startHAProxy(
      `frontend in
  bind ${HOST}:${frontend}
  default_backend checked
backend checked
  option tcp-check
  server bare ${HOST}:${quiet} check inter 50 rise 1 fall 1000
  server bare_log ${HOST}:${logged} check inter 50 rise 1 fall 1000
  server plain ${HOST}:${quiet} send-proxy check inter 50 rise 1 fall 1000
  server local ${HOST}:${quiet} send-proxy-v2 check-send-proxy check inter 50 rise 1 fall 1000
  server plain_log ${HOST}:${logged} send-proxy check inter 50 rise 1 fall 1000
  server local_log ${HOST}:${logged} send-proxy-v2 check-send-proxy check inter 50 rise 1 fall 1000
`,
      [frontend],
    );
    const errors: unknown[] = [];
    const commands: string[] = [];
    const handler = async (conn: Connection) => {
      commands.push(conn.proxy?.command ?? "none");
      try {
        for await (const _ of conn) { /* a check sends nothing */ }
      } catch {
        // A check may end with a reset, which a handler sees.
      }
    };
    // The connections accepted, checks with a header or not.
    let accepted = 0;
    const counting: Runtime = {
      ...runtime,
      listen: async (options) => {
        const listener = await runtime.listen(options);
        return {
          addr: listener.addr,
          accept: async () => {
            const conn = await listener.accept();
            if (conn) accepted++;
            return conn;
          },
          close: () => listener.close(),
          [Symbol.asyncIterator]: () => listener[Symbol.asyncIterator](),
        };
      },
    };
    const lines: unknown[][] = [];
    const consoleError = console.error;
    console.error = (...data: unknown[]) => lines.push(data);
    let servers: Server[] = [];
    try {
      servers = [
        await listen({
          hostname: HOST,
          port: quiet,
          proxyProtocol: { trusted: ["127.0.0.1"] },
          onError: (error) => errors.push(error),
          runtime: counting,
          handler,
        }),
        // Without onError: the default log.
        await listen({
          hostname: HOST,
          port: logged,
          proxyProtocol: { trusted: ["127.0.0.1"] },
          runtime: counting,
          handler,
        }),
      ];
      // Checks every 50 ms from six servers, until 20 have been accepted (a
      // loaded machine runs fewer): Deno's accept skips most of them, so it
      // waits out the bound.
      const deadline = Date.now() + 8000;
      while (accepted < 20 && Date.now() < deadline) await delay(100);
    } finally {
      for (const server of servers) await server.close();
      console.error = consoleError;
    }
    assert.deepEqual(errors, []);
    assert.deepEqual(lines, []);
    // Deno's accept skips most checks: reset before it asked their address.
    if (runtime.name !== "deno") {
      assert.ok(accepted >= 20, `only ${accepted} checks accepted in 8 s`);
    }
    // Checks with a whole header (LOCAL in version 2, the check's own
    // addresses in version 1) are served like any connection; those that
    // close first are dropped unseen.
    assert.ok(
      commands.every((command) => command === "LOCAL" || command === "PROXY"),
      `${commands}`,
    );
  },
);

const certificate = selfSigned();

test(
  "HAProxy TLS passthrough: send-proxy-v2 before the client's TLS handshake",
  {
    skip: skip || (certificate ? false : "openssl is not installed"),
  },
  async () => {
    const { cert, key } = certificate!;
    const [frontend, backend] = await Promise.all([freePort(), freePort()]);
    await using _haproxy = await startHAProxy(
      `frontend tls
  bind ${HOST}:${frontend}
  default_backend tls
backend tls
  server tether ${HOST}:${backend} send-proxy-v2
`,
      [frontend],
    );
    const errors: unknown[] = [];
    await using _server = await listen({
      hostname: HOST,
      port: backend,
      tls: { cert, key },
      proxyProtocol: { trusted: ["127.0.0.1"] },
      onError: (error) => errors.push(error),
      handler: whoAmI,
    });
    const localPort = await freePort();
    const plain = await dialFrom(frontend, localPort);
    const secure = tlsConnect({
      socket: plain,
      ca: [cert],
      servername: "localhost",
    });
    try {
      await new Promise<void>((resolve, reject) => {
        secure.once("secureConnect", resolve);
        secure.once("error", reject);
      });
      assert.equal(
        await ask(secure as unknown as Socket, "who"),
        `${HOST} ${localPort} v2 PROXY`,
      );
    } finally {
      secure.destroy();
    }
    assert.deepEqual(errors, []);
  },
);
