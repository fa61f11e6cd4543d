import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  connect,
  createClient,
  listen,
  NetError,
  type Server,
} from "../mod.ts";
import { encodeFrame } from "../src/framing/framing.ts";
import { lengthPrefixed } from "../src/framing/length_prefixed.ts";
import {
  closedPort,
  echo,
  EXAMPLE_RUNTIMES,
  HOST,
  pattern,
  startExample,
  take,
} from "./_utils.ts";

const text = new TextDecoder();

function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * A throwaway CA and a server certificate it signed, for 127.0.0.1 and
 * localhost. rustls (Deno) refuses a CA certificate used as the server's own,
 * so the two are separate.
 */
function makeCertificates() {
  const dir = mkdtempSync(join(tmpdir(), "tether-tls-"));
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) =>
    execFileSync("openssl", args, { stdio: "ignore" });
  openssl(
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    path("ca.key"),
    "-out",
    path("ca.pem"),
    "-subj",
    "/CN=tether test CA",
    "-days",
    "2",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign",
  );
  openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    path("key.pem"),
    "-out",
    path("leaf.csr"),
    "-subj",
    "/CN=localhost",
  );
  writeFileSync(
    path("ext.cnf"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  openssl(
    "x509",
    "-req",
    "-in",
    path("leaf.csr"),
    "-CA",
    path("ca.pem"),
    "-CAkey",
    path("ca.key"),
    "-CAcreateserial",
    "-out",
    path("cert.pem"),
    "-days",
    "2",
    "-extfile",
    path("ext.cnf"),
  );
  return {
    dir,
    path,
    ca: readFileSync(path("ca.pem"), "utf8"),
    caKey: readFileSync(path("ca.key"), "utf8"),
    cert: readFileSync(path("cert.pem"), "utf8"),
    key: readFileSync(path("key.pem"), "utf8"),
  };
}

const skip = hasOpenssl() ? false : "openssl is not installed";
const certs = skip ? undefined : makeCertificates();
process.on("exit", () => {
  if (certs) rmSync(certs.dir, { recursive: true, force: true });
});

test("listen({ tls }) and connect({ tls }) exchange frames over TLS", {
  skip,
}, async () => {
  const { ca, cert, key } = certs!;
  await using server = await listen({
    hostname: HOST,
    port: 0,
    tls: { cert, key },
    handler: echo,
  });
  await using conn = await connect({
    port: server.addr.port,
    tls: { caCerts: [ca] },
  });
  const payloads = [pattern(0), pattern(10), pattern(1024 * 1024, 3)];
  const received = take(conn, payloads.length);
  for (const payload of payloads) conn.send(payload);
  const frames = await received;
  frames.forEach((frame, i) => assert.deepEqual(frame, payloads[i]));
});

/** A TLS echo server with the test certificate. */
function tlsEcho(): Promise<Server> {
  const { cert, key } = certs!;
  return listen({ hostname: HOST, port: 0, tls: { cert, key }, handler: echo });
}

/** The error `connecting` fails with, which must be a NetError ETLS. */
async function tlsRefusal(connecting: Promise<unknown>): Promise<NetError> {
  const error = await connecting.then(
    () => assert.fail("the connection was made"),
    (error: unknown) => error,
  );
  assert.ok(error instanceof NetError, String(error));
  assert.equal(error.code, "ETLS");
  return error;
}

test("connect({ tls }) rejects an untrusted certificate with NetError ETLS", {
  skip,
}, async () => {
  await using server = await tlsEcho();
  await tlsRefusal(connect({ port: server.addr.port, tls: true }));
  await using trusted = await connect({
    port: server.addr.port,
    tls: { caCerts: [certs!.ca] },
  });
  await trusted.send("still serving");
  assert.equal(text.decode((await take(trusted, 1))[0]), "still serving");
});

const invalidSettings = {
  "a garbage certificate": () => ({
    cert: "not a certificate",
    key: certs!.key,
  }),
  "an empty certificate": () => ({ cert: "", key: certs!.key }),
  "a garbage key": () => ({ cert: certs!.cert, key: "not a key" }),
  "a key that does not match the certificate": () => ({
    cert: certs!.cert,
    key: certs!.caKey,
  }),
};

for (const [name, settings] of Object.entries(invalidSettings)) {
  test(`listen({ tls }) rejects ${name} with NetError ETLS and binds nothing`, {
    skip,
  }, async () => {
    const port = await closedPort();
    await assert.rejects(
      listen({ hostname: HOST, port, tls: settings(), handler: echo }),
      (error: unknown) => {
        assert.ok(error instanceof NetError, String(error));
        assert.equal(error.code, "ETLS");
        assert.equal(error.operation, "listen");
        assert.ok(error.cause instanceof Error, String(error.cause));
        assert.match(
          error.message,
          new RegExp(
            `^Cannot listen on 127\\.0\\.0\\.1:${port} as the TLS certificate or key is invalid \\(ETLS\\): \\S[^\\n]*$`,
          ),
        );
        return true;
      },
    );
    // The port is still free: the failed listen bound nothing.
    await using server = await listen({ hostname: HOST, port, handler: echo });
    assert.equal(server.addr.port, port);
  });
}

const invalidCaCerts = {
  "garbage CA certificates": ["garbage"],
  "a truncated CA certificate": ["-----BEGIN CERTIFICATE-----\nAAAA\n"],
};

for (const [name, caCerts] of Object.entries(invalidCaCerts)) {
  test(`connect({ tls }) rejects ${name} with NetError ETLS`, {
    skip,
  }, async () => {
    await using server = await tlsEcho();
    const error = await tlsRefusal(
      connect({ port: server.addr.port, tls: { caCerts } }),
    );
    assert.equal(error.operation, "connect");
    assert.ok(error.cause instanceof Error, String(error.cause));
  });
}

test("createClient({ tls }) reconnects and heartbeats over TLS", {
  skip,
}, async () => {
  const { ca, cert, key } = certs!;
  const options = {
    hostname: HOST,
    tls: { cert, key },
    heartbeat: true,
    handler: echo,
  };
  let server = await listen({ ...options, port: 0 });
  const port = server.addr.port;
  await using client = createClient({
    port,
    tls: { caCerts: [ca] },
    reconnect: { minTimeout: 10, maxTimeout: 50 },
    heartbeat: { interval: 50, timeout: 1000 },
  });
  await client.waitFor("open");
  await server.close();
  await client.waitFor("reconnecting");
  const sent = client.send("after the restart");
  server = await listen({ ...options, port });
  await sent;
  for await (const frame of client) {
    assert.equal(text.decode(frame), "after the restart");
    break;
  }
  await client.close();
  await server.close();
});

/** Sends `input` through `openssl s_client` and collects `expected` bytes. */
function sClient(
  port: number,
  caFile: string,
  input: Uint8Array,
  expected: number,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const child = spawn("openssl", [
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      "-CAfile",
      caFile,
      "-verify_return_error",
      "-quiet",
    ], { stdio: ["pipe", "pipe", "ignore"] });
    const chunks: Uint8Array[] = [];
    let got = 0;
    const guard = setTimeout(() => child.kill(), 20_000);
    child.stdout.on("data", (data: Uint8Array) => {
      chunks.push(data);
      got += data.byteLength;
      if (got >= expected) child.kill();
    });
    child.on("error", reject);
    child.on("exit", () => {
      clearTimeout(guard);
      const out = new Uint8Array(got);
      let at = 0;
      for (const chunk of chunks) {
        out.set(chunk, at);
        at += chunk.byteLength;
      }
      resolve(out);
    });
    child.stdin.write(input);
  });
}

for (const runtime of EXAMPLE_RUNTIMES) {
  test(
    `examples/echo_server.ts on ${runtime} echoes frames to openssl s_client over TLS`,
    {
      skip,
    },
    async () => {
      const { path } = certs!;
      await using server = await startExample(runtime, "echo_server.ts", [
        "--port",
        "0",
        "--tls-cert",
        path("cert.pem"),
        "--tls-key",
        path("key.pem"),
      ]);
      const framing = lengthPrefixed();
      const wire = new Uint8Array([
        ...encodeFrame(framing, new TextEncoder().encode("over tls")),
        ...encodeFrame(framing, new Uint8Array(0)),
      ]);
      const echoed = await sClient(
        server.port,
        path("ca.pem"),
        wire,
        wire.byteLength,
      );
      assert.deepEqual(echoed, wire);
    },
  );
}
