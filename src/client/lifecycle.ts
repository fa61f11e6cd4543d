import { ConnectionClosedError } from "../errors.ts";

/**
 * The states of a {@linkcode Client}.
 *
 * @example Showing the state to a user
 * ```ts
 * import { type ClientState, createClient, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * function label(state: ClientState): string {
 *   switch (state) {
 *     case "connecting":
 *     case "reconnecting":
 *       return "connecting…";
 *     case "open":
 *       return "online";
 *     case "closed":
 *       return "offline";
 *   }
 * }
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.send(frame);
 *   },
 * });
 * const client = createClient({ port: server.addr.port });
 * assert.equal(label(client.state), "connecting…");
 * await client.waitFor("open");
 * assert.equal(label(client.state), "online");
 * await client.close();
 * assert.equal(label(client.state), "offline");
 * ```
 */
export type ClientState =
  /** Trying to connect for the first time. */
  | "connecting"
  /** Connected: frames flow. */
  | "open"
  /** The connection was lost; waiting to retry, or retrying. */
  | "reconnecting"
  /** Done for good; see {@linkcode ClientStatus.reason}. */
  | "closed";

/**
 * Why a {@linkcode Client} closed.
 *
 * @example Telling a failure from a normal close
 * ```ts
 * import { type ClientCloseReason, createClient, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * function describe(reason: ClientCloseReason | undefined): string {
 *   switch (reason) {
 *     case "closed":
 *       return "closed by the application";
 *     case "aborted":
 *       return "cancelled";
 *     case "failed":
 *       return "gave up";
 *     case undefined:
 *       return "still running";
 *   }
 * }
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: () => {}, // hangs up at once
 * });
 * const client = createClient({ port: server.addr.port, reconnect: false });
 * assert.equal(describe(client.status.reason), "still running");
 * const { reason } = await client.closed;
 * assert.equal(describe(reason), "gave up");
 * ```
 */
export type ClientCloseReason =
  /** {@linkcode Client.close} was called. */
  | "closed"
  /** The client's `signal` was aborted. */
  | "aborted"
  /** Reconnecting was given up, or an error was not worth retrying. */
  | "failed";

// Every move a client's state may make, and the only ones: the run loop
// moves between the first three, a stop to "closed", which is final.
const TRANSITIONS: Record<ClientState, readonly ClientState[]> = {
  connecting: ["connecting", "open", "closed"],
  open: ["open", "reconnecting", "closed"],
  reconnecting: ["reconnecting", "open", "closed"],
  closed: [],
};

/** Whether a client in state `from` may move to `to`. */
export function canMove(from: ClientState, to: ClientState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** The state of an attempt to connect: `reconnecting` once a link was up. */
export function attemptState(opened: boolean): ClientState {
  return opened ? "reconnecting" : "connecting";
}

/** The state while waiting for the next attempt after `state`. */
export function waitingState(state: ClientState): ClientState {
  return state === "open" ? "reconnecting" : state;
}

/** How a client stopped, or is stopping. */
export interface Final {
  /** Why. */
  readonly reason: ClientCloseReason;
  /** The error that stopped it, if any. */
  readonly error: unknown;
}

/** What a call to {@linkcode Lifecycle.stop} did. */
export type StopMove =
  /** The client began to stop. */
  | "stopped"
  /** An abort cut short a close still under way. */
  | "cut short"
  /** Nothing: the client was stopping already. */
  | "ignored";

/**
 * The end of a client's life: the first stop decides how it ends, except
 * that an abort cuts short a close still under way, and a close whose
 * connection ended badly reports that error.
 */
export class Lifecycle {
  #controller = new AbortController();
  #final: Final | undefined;

  /** Aborted, with the error that stops the client, once it begins to stop. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether the client has begun to stop. */
  get stopping(): boolean {
    return this.#final !== undefined;
  }

  /** How the client stops, once it has begun to. */
  get final(): Final | undefined {
    return this.#final;
  }

  /**
   * Stops the client for `reason`, or turns a close under way into an abort.
   *
   * @param reason Why the client stops.
   * @param error The error that stops it, if any.
   * @param cause What aborts the work under way.
   * @returns What the call did.
   */
  stop(reason: ClientCloseReason, error: unknown, cause: unknown): StopMove {
    if (this.#final === undefined) {
      this.#final = { reason, error };
      this.#controller.abort(cause);
      return "stopped";
    }
    if (reason === "aborted" && this.#final.reason === "closed") {
      this.#final = { reason, error };
      return "cut short";
    }
    return "ignored";
  }

  /**
   * Settles how the client ended once its last connection ended with
   * `ended` (`undefined` if it had none).
   *
   * @param ended The reason the last connection ended with.
   * @returns The final reason and error.
   */
  settle(ended: unknown): Final {
    // A close cut short (the peer did not read in time, a write failed) says
    // so: what was accepted may not all have been read.
    if (
      this.#final!.reason === "closed" &&
      ended !== undefined && !(ended instanceof ConnectionClosedError)
    ) {
      this.#final = { reason: "closed", error: ended };
    }
    return this.#final!;
  }
}
