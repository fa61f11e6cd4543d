import type { Connection } from "../connection/connection.ts";
import { ProtocolError } from "./errors.ts";
import { type Envelope, PONG } from "./envelope.ts";

/**
 * Handles the envelopes both ends treat alike: a ping is answered, a pong
 * needs nothing more (the heartbeat saw the traffic), and any other kind
 * left over is one the peer may not send.
 *
 * @throws {ProtocolError} For a kind that `peer` may not send.
 */
export function handleControl(
  envelope: Envelope,
  conn: Connection,
  peer: "client" | "server",
): void {
  switch (envelope.kind) {
    case "ping":
      void conn.send(PONG);
      return;
    case "pong":
      return;
    default:
      throw new ProtocolError(
        `Cannot accept envelope as a ${peer} may not send it: current kind is ${envelope.kind}`,
      );
  }
}
