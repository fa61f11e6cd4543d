import type { Clock } from "../clock.ts";
import type { Connection } from "../connection/connection.ts";
import { ConnectionClosedError } from "../errors.ts";
import { ProtocolError, ProtocolVersionError } from "./errors.ts";
import { decodeHello, encodeEnvelope, PROTOCOL_VERSION } from "./envelope.ts";

/** The default time a peer has to send its hello: 10 seconds. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;

/**
 * Sends this side's hello and checks the peer's, which must be the first
 * frame it sends. Both sides send at once, so each learns the other's
 * version even when they differ.
 *
 * @throws {ProtocolVersionError} If the peer speaks another version.
 * @throws {ProtocolError} If the peer's first frame is not a hello from the
 * other role, or none arrives within `timeout` milliseconds.
 * @throws {ConnectionClosedError} If the connection ends first.
 */
export async function handshake(
  conn: Connection,
  role: "client" | "server",
  timeout: number,
  clock: Clock,
): Promise<void> {
  void conn.send(
    encodeEnvelope({ kind: "hello", version: PROTOCOL_VERSION, role }),
  );
  let timer: unknown;
  const expired = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(
      () =>
        reject(
          new ProtocolError(
            `Cannot start the tether protocol as the peer sent no hello within ${timeout} ms`,
          ),
        ),
      timeout,
      true,
    );
  });
  let first: IteratorResult<Uint8Array>;
  try {
    first = await Promise.race([conn[Symbol.asyncIterator]().next(), expired]);
  } finally {
    clock.clearTimeout(timer);
  }
  if (first.done) {
    throw new ConnectionClosedError("start the tether protocol", {
      cause: conn.signal.reason,
    });
  }
  const hello = decodeHello(first.value);
  if (hello.version !== PROTOCOL_VERSION) {
    throw new ProtocolVersionError(PROTOCOL_VERSION, hello.version);
  }
  if (hello.role === role) {
    throw new ProtocolError(
      `Cannot start the tether protocol as the peer's hello says it is a ${role} too: is it echoing what it receives?`,
    );
  }
}
