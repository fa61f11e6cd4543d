import { DONE, pullStream } from "../_pull.ts";
import type { Connection } from "../connection/connection.ts";
import { ConnectionClosedError } from "../errors.ts";
import { rejected } from "../_promises.ts";
import { toBytes } from "../_values.ts";
import { ClientCore } from "./_client_core.ts";
import type { ClientOptions } from "./client_options.ts";
import type { ClientState } from "./lifecycle.ts";
import { SendQueue } from "./send_queue.ts";
import { type ClientStatus, StatusTracker } from "./status_tracker.ts";

/**
 * A framed connection that heals itself: it reconnects with backoff and
 * jitter, detects half-open links with heartbeats, queues frames sent while
 * disconnected, and reports every change of state.
 *
 * Create one with {@linkcode createClient}. Incoming frames from every
 * connection arrive, in order, on one stream.
 *
 * ## Delivery guarantees
 *
 * - A frame sent while disconnected waits in a bounded queue and goes out,
 *   in order, once a connection is open and `onConnect` has finished.
 * - A `send()` that rejects with {@linkcode QueueFullError}, with the abort
 *   reason of its `signal`, or because the client closed before it was
 *   written, was never sent and never will be.
 * - A `send()` that resolves was handed to the OS; if the link breaks before
 *   the peer reads it, it is lost. When {@linkcode Client.close} resolves
 *   with the reason `"closed"` and no `error`, every such frame was written
 *   before a FIN, and a server that closed its side within 2 s of it read
 *   them all; a close cut short says why in `error`. A `send()` that
 *   rejects with the error of a breaking connection may or may not have
 *   reached the peer. Frames are never sent twice: nothing is replayed after
 *   a reconnect.
 * - A failed write ends the connection: the client reconnects, and frames
 *   sent meanwhile wait in the queue.
 * - Frames the peer sent are delivered in order; what was in flight when a
 *   link broke is lost, in both directions.
 *
 * @example A client that survives server restarts
 * ```ts ignore
 * import { createClient } from "@tether/tcp";
 *
 * const client = createClient({
 *   port: 8080,
 *   heartbeat: { interval: 5000, timeout: 2000 },
 *   onConnect: (conn) => conn.send("hello again"),
 * });
 * client.addEventListener("status", (event) => {
 *   console.error(`state: ${event.status.state}`);
 * });
 * client.send("queued until connected");
 * for await (const frame of client) console.log(new TextDecoder().decode(frame));
 * ```
 */
export class Client extends EventTarget
  implements AsyncIterable<Uint8Array>, AsyncDisposable {
  /** Settles with the final status once the client is closed. */
  readonly closed: Promise<ClientStatus>;

  #status = new StatusTracker(this);
  #core: ClientCore;
  #queue: SendQueue<Connection>;
  #readable: ReadableStream<Uint8Array> | undefined;

  /**
   * Creates a client and starts connecting; {@linkcode createClient} is the
   * usual way.
   *
   * @param options Where to connect and how to stay connected.
   */
  constructor(options: ClientOptions) {
    super();
    this.#core = new ClientCore(options, this.#status, {
      opened: (conn) => this.#queue.flush(conn, () => !conn.signal.aborted),
      stopped: (error) =>
        this.#queue.clear(
          error === undefined
            ? new ConnectionClosedError("send")
            : new ConnectionClosedError("send", { cause: error }),
        ),
    });
    this.#queue = new SendQueue(options.queue);
    this.closed = this.#core.closed;
    this.#core.start();
  }

  /** The current state. */
  get state(): ClientState {
    return this.#status.current.state;
  }

  /** The current status. */
  get status(): ClientStatus {
    return this.#status.current;
  }

  /** The open connection, if any. */
  get connection(): Connection | undefined {
    return this.#core.connection;
  }

  /**
   * Sends a frame now if connected, or queues it until a connection is
   * open. Strings are sent as UTF-8. Connected or not, the frame is copied
   * before `send()` returns, except a frame of 256 KiB or more, which is
   * written from your memory: leave that one untouched until the promise
   * settles. Not awaiting the promise is fine: it never becomes an
   * unhandled rejection.
   *
   * @param frame The payload.
   * @param options `signal` withdraws a queued frame: it is then never sent.
   * @returns A promise that settles once the frame is written (see the
   * delivery guarantees of {@linkcode Client}).
   * @throws {QueueFullError} If disconnected and the queue is full.
   * @throws {ConnectionClosedError} If the client is closed.
   * @throws {FrameTooLargeError} If the frame exceeds the framing's limit.
   */
  send(
    frame: Uint8Array | string,
    options?: { signal?: AbortSignal },
  ): Promise<void> {
    const signal = options?.signal;
    if (signal?.aborted) return rejected(signal.reason);
    if (this.#core.stopping) {
      return rejected(new ConnectionClosedError("send"));
    }
    const bytes = toBytes(frame);
    const conn = this.#core.connection;
    if (conn && !conn.signal.aborted && this.#queue.length === 0) {
      return conn.send(bytes);
    }
    try {
      // Refuse a frame that no connection could carry now, not at flush.
      this.#core.framing.check(bytes);
      return this.#queue.push(bytes, signal);
    } catch (error) {
      return rejected(error);
    }
  }

  /**
   * Waits until the client reaches `state`.
   *
   * @param state The state to wait for.
   * @param options `signal` stops waiting, rejecting with its reason.
   * @returns The status that has `state`.
   * @throws {unknown} The client's final error if it closes first (unless
   * waiting for `closed`).
   */
  waitFor(
    state: ClientState,
    options?: { signal?: AbortSignal },
  ): Promise<ClientStatus> {
    return this.#status.waitFor(state, options);
  }

  /**
   * Iterates status records: the current one first, then each change, until
   * the client is closed.
   *
   * @returns An iterator of status records.
   */
  statuses(): AsyncIterableIterator<ClientStatus> {
    return this.#status.statuses();
  }

  /**
   * Closes the client: stops reconnecting, rejects queued frames (they are
   * never sent), and closes the open connection gracefully: what it already
   * accepted is written, then a FIN, and the server's FIN is awaited before
   * the socket is released (see {@linkcode Connection.close}).
   *
   * Writing waits for a peer that reads, for at most `closeTimeout`; to stop
   * at once, abort the client's `signal`, also while `close()` is under way.
   *
   * @returns A promise that settles once everything is closed.
   */
  close(): Promise<void> {
    return this.#core.close();
  }

  /**
   * Iterates the incoming frames of every connection. Leaving a loop early
   * does not close the client.
   *
   * @returns An iterator over the frames.
   */
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: () => this.#core.inbox.next(),
      return: () => Promise.resolve(DONE),
    };
  }

  /**
   * Iterates the incoming frames of every connection in batches: each step
   * yields the frames received so far, at least one and at most 1 024, in
   * order, in an array that is yours to keep. It shares one queue with plain
   * iteration and with `readable`. A batch costs one promise where plain
   * iteration costs one per frame, and replies sent while handling a batch
   * leave in one write.
   * Leaving a loop early does not close the client.
   *
   * @example Echo requests a batch at a time
   * ```ts
   * import { createClient, listen } from "@tether/tcp";
   * import assert from "node:assert/strict";
   *
   * await using server = await listen({
   *   hostname: "127.0.0.1",
   *   port: 0,
   *   handler: async (conn) => {
   *     for await (const frame of conn) conn.send(frame);
   *   },
   * });
   * await using client = createClient(server.addr);
   * for (const word of ["a", "b", "c"]) client.send(word);
   * const echoes: string[] = [];
   * for await (const frames of client.batches()) {
   *   for (const frame of frames) echoes.push(new TextDecoder().decode(frame));
   *   if (echoes.length === 3) break;
   * }
   * assert.deepEqual(echoes, ["a", "b", "c"]);
   * ```
   *
   * @returns An iterator over batches of frames.
   */
  batches(): AsyncIterableIterator<Uint8Array[]> {
    const inbox = this.#core.inbox;
    return {
      next: () => inbox.nextBatch(),
      return: () => Promise.resolve(DONE),
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  /**
   * Incoming frames from every connection, in order, as a stream. It shares
   * one queue with iteration; cancelling it does not close the client.
   */
  get readable(): ReadableStream<Uint8Array> {
    const inbox = this.#core.inbox;
    return this.#readable ??= pullStream(() => inbox.next());
  }

  /**
   * Closes the client, for `await using`.
   *
   * @returns A promise that settles once everything is closed.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Creates a self-healing client and starts connecting. It never throws for
 * connection problems: watch its state, or just send, and frames wait in its
 * queue until a connection is open.
 *
 * @param options Where to connect, and the reconnection, heartbeat and queue
 * policies.
 * @returns The client.
 * @throws {RangeError} If an option is out of range.
 *
 * @example Reconnecting after the server restarts
 * ```ts
 * import { createClient, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * let server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.send(frame);
 *   },
 * });
 * const port = server.addr.port;
 * await using client = createClient({ port, reconnect: { minTimeout: 10 } });
 * await client.waitFor("open");
 *
 * await server.close(); // the client notices and starts reconnecting
 * await client.waitFor("reconnecting");
 * const sent = client.send("queued while away");
 * server = await listen({
 *   hostname: "127.0.0.1",
 *   port,
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.send(frame);
 *   },
 * });
 * await sent;
 * for await (const frame of client) {
 *   assert.equal(new TextDecoder().decode(frame), "queued while away");
 *   break;
 * }
 * await client.close();
 * await server.close();
 * ```
 */
export function createClient(options: ClientOptions): Client {
  return new Client(options);
}
