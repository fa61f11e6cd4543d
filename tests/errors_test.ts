// The error classes: each one's code, name and fields, and the code union
// that is read off them.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CloseTimeoutError,
  ConnectionClosedError,
  ConnectTimeoutError,
  FrameRateError,
  FrameTimeoutError,
  FrameTooLargeError,
  FrameTruncatedError,
  HeartbeatTimeoutError,
  IdleTimeoutError,
  InvalidFrameError,
  NetError,
  OpenTimeoutError,
  QueueFullError,
  ReconnectError,
  TetherError,
  type TetherErrorCode,
  WriteBufferFullError,
} from "../mod.ts";
import {
  ProtocolError,
  ProtocolVersionError,
  RemoteError,
  RequestInterruptedError,
  RequestTimeoutError,
  TooManyRequestsError,
} from "../src/messaging/errors.ts";
import {
  LengthPrefixedDecoderStream,
  LineEncoderStream,
} from "../src/framing/frame_streams.ts";
import { ProxyProtocolError } from "../src/proxy/errors.ts";
import { fromAsync } from "./_async.ts";

// One error of each class under the code its type declares: the compiler
// holds the keys to TetherErrorCode, no more and no fewer, and each value to
// its key; the test holds each error's real code to its key.
const errors = {
  FRAME_TOO_LARGE: new FrameTooLargeError(10, 4),
  FRAME_TRUNCATED: new FrameTruncatedError(2, 8),
  INVALID_FRAME: new InvalidFrameError("a line holds its delimiter"),
  CONNECT_TIMEOUT: new ConnectTimeoutError("127.0.0.1", 8080, 5000),
  OPEN_TIMEOUT: new OpenTimeoutError(10_000),
  CLOSE_TIMEOUT: new CloseTimeoutError(10_000, 8_388_612),
  CONNECTION_CLOSED: new ConnectionClosedError("send"),
  HEARTBEAT_TIMEOUT: new HeartbeatTimeoutError(2000),
  IDLE_TIMEOUT: new IdleTimeoutError(60_000),
  QUEUE_FULL: new QueueFullError(100, 1000, 65536, 1048576),
  RECONNECT_FAILED: new ReconnectError(5, 31000, { cause: new Error("no") }),
  FRAME_TIMEOUT: new FrameTimeoutError(30000, 12),
  FRAME_RATE_EXCEEDED: new FrameRateError(1000),
  WRITE_BUFFER_FULL: new WriteBufferFullError(20_000_000, 16_777_216),
  PROTOCOL_ERROR: new ProtocolError("not a hello"),
  PROTOCOL_VERSION: new ProtocolVersionError(1, 2),
  REMOTE_ERROR: new RemoteError("no such user: 42", "NOT_FOUND"),
  REQUEST_TIMEOUT: new RequestTimeoutError(5000, false),
  REQUEST_INTERRUPTED: new RequestInterruptedError({ cause: new Error("x") }),
  TOO_MANY_REQUESTS: new TooManyRequestsError(10_000),
  PROXY_UNTRUSTED: new ProxyProtocolError("PROXY_UNTRUSTED", "untrusted"),
  PROXY_INVALID: new ProxyProtocolError("PROXY_INVALID", "malformed"),
  PROXY_TIMEOUT: new ProxyProtocolError("PROXY_TIMEOUT", "late"),
  PROXY_MISSING: new ProxyProtocolError("PROXY_MISSING", "no header"),
} satisfies { [Code in TetherErrorCode]: TetherError & { code: Code } };

test("every error carries the code its class declares and its class's name", () => {
  for (const [code, error] of Object.entries(errors)) {
    assert.ok(error instanceof TetherError, code);
    assert.ok(error instanceof Error, code);
    assert.equal(error.code, code);
    assert.equal(error.name, error.constructor.name);
  }
  const net = new NetError("ECONNREFUSED", "connect", {
    hostname: "::1",
    port: 9,
  });
  assert.ok(net instanceof TetherError);
  assert.equal(net.name, "NetError");
  assert.equal(net.code, "ECONNREFUSED");
  assert.equal(
    net.message,
    "Cannot connect to [::1]:9 as the connection was refused (ECONNREFUSED)",
  );
});

test("errors keep the values they were made with", () => {
  assert.equal(errors.CONNECT_TIMEOUT.timeout, 5000);
  assert.equal(errors.OPEN_TIMEOUT.timeout, 10_000);
  assert.equal(errors.CLOSE_TIMEOUT.unsent, 8_388_612);
  assert.equal(errors.FRAME_TIMEOUT.received, 12);
  assert.equal(errors.RECONNECT_FAILED.attempts, 5);
  assert.ok(
    errors.PROTOCOL_VERSION.peerVersion > errors.PROTOCOL_VERSION.version,
  );
  assert.equal(errors.REQUEST_TIMEOUT.sent, false);
  assert.equal(errors.TOO_MANY_REQUESTS.limit, 10_000);
  assert.equal(errors.REMOTE_ERROR.remoteCode, "NOT_FOUND");
  assert.equal(errors.REMOTE_ERROR.remoteMessage, "no such user: 42");
});

test("the framing streams reject with the framing errors", async () => {
  const decode = (bytes: number[], maxFrameSize?: number) =>
    fromAsync(
      ReadableStream.from([new Uint8Array(bytes)]).pipeThrough(
        new LengthPrefixedDecoderStream(maxFrameSize ? { maxFrameSize } : {}),
      ),
    );
  // Declares 256 bytes, above the limit of 16.
  await assert.rejects(decode([0, 0, 1, 0], 16), FrameTooLargeError);
  // Declares 4 bytes, sends 2.
  await assert.rejects(decode([0, 0, 0, 4, 1, 2]), FrameTruncatedError);
  const lines = ReadableStream.from([new TextEncoder().encode("a\nb")])
    .pipeThrough(new LineEncoderStream());
  await assert.rejects(fromAsync(lines), InvalidFrameError);
});
