import type { Clock } from "../clock.ts";
import type { Connection } from "../connection/connection.ts";
import { rejected } from "../_promises.ts";
import { ConnectionClosedError } from "../errors.ts";
import type { Framing } from "../framing/framing.ts";
import type { NetAddr } from "../runtime/types.ts";
import { toBytes } from "../_values.ts";
import { handleControl } from "./_control.ts";
import {
  decodeEnvelope,
  encodeEnvelope,
  MAX_ERROR_CODE_SIZE,
} from "./envelope.ts";
import type {
  MessagePeer,
  MessageServerOptions,
  Reply,
  RequestHandler,
} from "./message_server.ts";

// An error's message is sent to the client; past this it is cut, so that
// the error envelope always fits in a frame.
const MAX_ERROR_MESSAGE_LENGTH = 4096;

/** What every peer of one server shares: its settings and its clock. */
export interface PeerHooks {
  framing: Framing;
  maxConcurrency: number;
  shutdownTimeout: number;
  onRequest: RequestHandler | undefined;
  onMessage: MessageServerOptions["onMessage"];
  clock: Clock;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/**
 * One client after its handshake: reads its envelopes, runs the handlers
 * (up to `maxConcurrency` at once), answers its requests and ends it with a
 * goaway.
 */
export class Peer implements MessagePeer {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  readonly signal: AbortSignal;
  #conn: Connection;
  #hooks: PeerHooks;
  #active = 0;
  #wake: (() => void) | undefined;
  // The id after the last request accepted: what a goaway announces.
  #nextId = 0;
  #goingAway = false;
  #failure: { error: unknown } | undefined;
  #reading = true;
  #readingEnded!: () => void;
  #readLimit: unknown;
  /**
   * Settles once nothing more is read: the client finished sending, the
   * bound after a goaway passed, or the connection ended.
   */
  readonly readingEnded = new Promise<void>((resolve) =>
    this.#readingEnded = resolve
  );

  constructor(conn: Connection, hooks: PeerHooks) {
    this.#conn = conn;
    this.#hooks = hooks;
    this.localAddr = conn.localAddr;
    this.remoteAddr = conn.remoteAddr;
    this.signal = conn.signal;
    if (conn.signal.aborted) this.#stopReading();
    else {
      conn.signal.addEventListener("abort", () => this.#stopReading(), {
        once: true,
      });
    }
  }

  push(payload: Uint8Array | string): Promise<void> {
    try {
      return this.send(
        encodeEnvelope({ kind: "data", payload: toBytes(payload) }),
      );
    } catch (error) {
      return rejected(error);
    }
  }

  /** Sends one envelope, refusing what the framing cannot carry. */
  send(frame: Uint8Array): Promise<void> {
    if (this.signal.aborted) {
      return rejected(
        new ConnectionClosedError("push", { cause: this.signal.reason }),
      );
    }
    return this.#conn.send(frame);
  }

  close(): Promise<void> {
    this.goAway();
    return this.#conn.closed;
  }

  /**
   * Tells the client to go elsewhere; requests after this are refused. The
   * connection is still read: one-way messages the client wrote before it
   * saw the goaway are on their way, and stopping now would drop them.
   */
  goAway(): void {
    if (this.#goingAway) return;
    this.#goingAway = true;
    if (!this.#reading) return;
    void this.#conn.send(
      encodeEnvelope({ kind: "goaway", nextId: this.#nextId }),
    );
    // A client that never finishes sending must not hold the server.
    this.#readLimit = this.#hooks.clock.setTimeout(
      () => this.#stopReading(),
      this.#hooks.shutdownTimeout,
      true,
    );
  }

  #stopReading(): void {
    if (!this.#reading) return;
    this.#reading = false;
    this.#hooks.clock.clearTimeout(this.#readLimit);
    this.#conn.drain();
    this.#readingEnded();
  }

  /** Handles the client's envelopes until it stops sending or is drained. */
  async serve(): Promise<void> {
    const max = this.#hooks.maxConcurrency;
    try {
      for await (const frame of this.#conn) {
        this.#handle(frame);
        while (this.#active >= max) await this.#settled();
      }
    } finally {
      this.#stopReading();
    }
    while (this.#active > 0) await this.#settled();
    if (this.#failure) throw this.#failure.error;
  }

  #settled(): Promise<void> {
    return new Promise((resolve) => this.#wake = resolve);
  }

  #handle(frame: Uint8Array): void {
    const envelope = decodeEnvelope(frame);
    switch (envelope.kind) {
      case "request": {
        // Refused unread: the goaway told the client to send it elsewhere.
        if (this.#goingAway) return;
        const { id, payload } = envelope;
        this.#nextId = (id + 1) >>> 0;
        const onRequest = this.#hooks.onRequest;
        this.#run(
          onRequest ? () => onRequest(payload, this) : noHandler,
          (outcome) => this.#reply(id, outcome),
        );
        return;
      }
      case "data": {
        const onMessage = this.#hooks.onMessage;
        if (!onMessage) return;
        this.#run(() => onMessage(envelope.payload, this), (outcome) => {
          if (outcome.ok || this.#failure) return;
          this.#failure = { error: outcome.error };
          this.#conn.drain();
        });
        return;
      }
      default:
        handleControl(envelope, this.#conn, "client");
    }
  }

  /** Runs a handler, synchronously when it returns no promise. */
  #run<T>(
    work: () => T | Promise<T>,
    done: (outcome: Outcome<T>) => void,
  ): void {
    this.#active++;
    const finish = (outcome: Outcome<T>) => {
      done(outcome);
      this.#active--;
      this.#wake?.();
      this.#wake = undefined;
    };
    let result: T | Promise<T>;
    try {
      result = work();
    } catch (error) {
      finish({ ok: false, error });
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (value) => finish({ ok: true, value }),
        (error) => finish({ ok: false, error }),
      );
    } else {
      finish({ ok: true, value: result });
    }
  }

  #reply(id: number, outcome: Outcome<Reply>): void {
    let frame: Uint8Array;
    if (outcome.ok) {
      const value = outcome.value;
      frame = encodeEnvelope({
        kind: "response",
        id,
        payload: value === undefined ? EMPTY : toBytes(value),
      });
      try {
        this.#hooks.framing.check(frame);
      } catch (error) {
        frame = errorEnvelope(id, error);
      }
    } else {
      frame = errorEnvelope(id, outcome.error);
    }
    // A connection already gone has nobody to answer.
    if (!this.signal.aborted) void this.#conn.send(frame);
  }
}

function noHandler(): never {
  throw Object.assign(new Error("The server handles no requests"), {
    code: "NO_HANDLER",
  });
}

/** The error envelope for what a handler threw: message and code only. */
function errorEnvelope(id: number, error: unknown): Uint8Array {
  const raw = error instanceof Error ? error.message : String(error);
  const message = raw.length > MAX_ERROR_MESSAGE_LENGTH
    ? `${raw.slice(0, MAX_ERROR_MESSAGE_LENGTH)}…`
    : raw;
  const code = (error as { code?: unknown } | null)?.code;
  const sendable = typeof code === "string" &&
    encoder.encode(code).byteLength <= MAX_ERROR_CODE_SIZE;
  return encodeEnvelope({
    kind: "error",
    id,
    code: sendable ? code : "",
    message,
  });
}
