import { Deadlines, heapClock } from "./_deadlines.ts";
import { IdleWatch } from "./_idle_watch.ts";
import { checkConnectionLimits } from "../_options.ts";
import { rejected } from "../_promises.ts";
import { type Clock, systemClock } from "../clock.ts";
import {
  CloseTimeoutError,
  ConnectionClosedError,
  WriteBufferFullError,
} from "../errors.ts";
import { FrameReader } from "./frame_reader.ts";
import { FrameWriter } from "./frame_writer.ts";
import type { Heartbeat } from "./heartbeat.ts";
import { ConnectionHeartbeat } from "./_connection_heartbeat.ts";
import {
  type BatchOptions,
  type ConnectionOptions,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_MAX_WRITE_BUFFER,
} from "./options.ts";
import { WriteHold } from "./write_hold.ts";
import type { Framing } from "../framing/framing.ts";
import { lengthPrefixed } from "../framing/length_prefixed.ts";
import type { Conn, NetAddr } from "../runtime/types.ts";
import type { ProxyInfo } from "../proxy/types.ts";
import { toBytes } from "../_values.ts";

/**
 * What the library's own layers may pass to a connection besides its public
 * options.
 */
export interface ConnectionWiring extends ConnectionOptions {
  /** The hold of its writes, for a layer that reads ahead of the application. */
  writeHold?: WriteHold;
  /**
   * The clock of its timers.
   *
   * @default {systemClock}
   */
  clock?: Clock;
  /** The PROXY protocol header the server read before framing. */
  proxy?: ProxyInfo;
  /** The original client, when a PROXY protocol header named it. */
  remoteAddr?: NetAddr;
}

// Pings are answered while the application is this many frames behind.
const HEARTBEAT_READ_AHEAD = 16;
// How long close() reads and drops what the peer still sends after our FIN.
const LINGER_TIMEOUT = 2000;
// Idle deadlines and heartbeat probes share one timer that does not keep the
// process alive: a runtime timer each would cost more than a connection.
const systemDeadlines = new Deadlines(systemClock, false);
const systemProbeClock = heapClock(systemDeadlines, systemClock);

/**
 * A framed TCP connection: whole frames in, whole frames out, however the
 * bytes were split on the wire.
 *
 * Incoming frames are read with `for await` (the fastest way) or as the
 * `readable` stream; outgoing frames go through {@linkcode Connection.send}
 * or the `writable` stream. Frames sent in the same burst are coalesced into
 * few socket writes, and the socket is read only as fast as the application
 * takes frames, so TCP slows down a peer that sends faster.
 *
 * Incoming frames are zero-copy views of the socket's read buffers where
 * possible: a frame that is kept for long keeps its read buffer (up to 64 KiB)
 * alive, so copy it with `frame.slice()` if many small frames are kept.
 *
 * @example An echo handler
 * ```ts ignore
 * import type { Connection } from "@tether/tcp";
 *
 * async function echo(conn: Connection): Promise<void> {
 *   for await (const frame of conn) conn.send(frame);
 * }
 * ```
 */
export class Connection implements AsyncIterable<Uint8Array>, AsyncDisposable {
  /** The local end of the connection. */
  readonly localAddr: NetAddr;
  /**
   * The remote end of the connection: behind a load balancer that sends a
   * PROXY protocol header (`listen({ proxyProtocol })`), the original client.
   */
  readonly remoteAddr: NetAddr;
  /**
   * The PROXY protocol header the server read before framing: who the client
   * is, as the load balancer says. `undefined` without `proxyProtocol`.
   */
  readonly proxy: ProxyInfo | undefined;
  /** The wire format in use. */
  readonly framing: Framing;
  /**
   * Aborted once the connection is closed. Its `reason` tells why: a
   * {@linkcode ConnectionClosedError} after a normal close, otherwise the
   * error or abort reason that ended the connection.
   */
  readonly signal: AbortSignal;
  /** Settles once the socket is released. It never rejects. */
  readonly closed: Promise<void>;

  #conn: Conn;
  #frames: FrameReader;
  #writer: FrameWriter;
  #writable: WritableStream<Uint8Array | string> | undefined;
  #controller = new AbortController();
  #resolveClosed!: () => void;
  // open → flushing → lingering → closed, or straight to closed on an abort,
  // a failure or the close deadline; every move to closed goes via #release.
  #phase: "open" | "flushing" | "lingering" | "closed" = "open";
  #closeTimeout: number;
  #highWaterMark: number;
  #clock: Clock;
  #userSignal: AbortSignal | undefined;
  #onActivity: (() => void) | undefined;
  // Stopped on release, not by a listener on `signal`: a listener costs an
  // idle connection more memory than the rest of its timers.
  #idleWatch: IdleWatch | undefined;
  // Made only for a connection given a signal: closures add up over
  // thousands of connections.
  #onUserAbort: (() => void) | undefined;
  #heartbeat: ConnectionHeartbeat | undefined;
  #probe: Heartbeat | undefined;

  /**
   * Wraps a runtime connection. Most code gets its connections from
   * {@linkcode connect} or {@linkcode listen} instead.
   *
   * @param conn The byte connection to frame.
   * @param options The framing and limits.
   */
  constructor(conn: Conn, options: ConnectionOptions = {}) {
    const wiring: ConnectionWiring = options;
    this.#conn = conn;
    checkConnectionLimits("create a connection", options);
    this.framing = options.framing ?? lengthPrefixed();
    this.#highWaterMark = options.highWaterMark ?? 64 * 1024;
    this.#closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    const clock = this.#clock = wiring.clock ?? systemClock;
    this.localAddr = conn.localAddr;
    this.remoteAddr = wiring.remoteAddr ?? conn.remoteAddr;
    this.proxy = wiring.proxy;
    this.signal = this.#controller.signal;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.#onActivity = options.onActivity;
    const heartbeat = options.heartbeat;
    const hold = wiring.writeHold ?? new WriteHold();
    // Reading ahead lets pings be answered while the application is busy.
    this.#frames = new FrameReader(
      conn,
      this.framing.createDecoder(),
      heartbeat ? HEARTBEAT_READ_AHEAD : 0,
      {
        onChunk: (now) => {
          if (this.#idleWatch) this.#idleWatch.last = now;
          this.#onActivity?.();
          this.#probe?.activity();
        },
        onDry: () => hold.dry(),
        onError: (error) => this.#fail(error),
        ...(heartbeat
          ? { control: (frame: Uint8Array) => this.#heartbeat!.take(frame) }
          : {}),
      },
      {
        frameTimeout: options.frameTimeout ?? 0,
        maxFrameRate: options.maxFrameRate ?? 0,
      },
      clock,
    );
    const system = clock === systemClock;
    const idleTimeout = options.idleTimeout ?? 0;
    if (idleTimeout > 0) {
      this.#idleWatch = new IdleWatch(
        this,
        this.#frames,
        idleTimeout,
        system ? systemDeadlines : new Deadlines(clock, false),
        clock,
      );
    }
    this.#writer = new FrameWriter(
      this.framing,
      options.maxWriteBuffer ?? DEFAULT_MAX_WRITE_BUFFER,
      conn,
      hold,
      (error) => this.#writeFailed(error),
    );
    if (heartbeat) {
      const beat = this.#heartbeat = new ConnectionHeartbeat(
        heartbeat,
        this,
        this.#frames,
        this.#writer,
        system ? systemProbeClock : clock,
      );
      this.#probe = beat.probe;
    }
    hold.attach(this.#frames, this.#writer);
    const signal = options.signal;
    if (signal) {
      this.#userSignal = signal;
      const onAbort = this.#onUserAbort = () => this.abort(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    }
  }

  /**
   * The outgoing frames as a stream; `close()` sends a FIN after the queued
   * frames. Built on first use: an idle connection holds no stream.
   */
  get writable(): WritableStream<Uint8Array | string> {
    if (this.#writable) return this.#writable;
    let watched: Promise<void> | undefined;
    return this.#writable = new WritableStream<Uint8Array | string>({
      write: (frame, controller) => {
        const batch = this.#enqueue(toBytes(frame));
        if (this.#writer.queued > this.#highWaterMark) return batch;
        if (batch !== watched) {
          watched = batch;
          batch.catch((error) => controller.error(error));
        }
      },
      close: () => this.closeWrite(),
      abort: (reason) => this.abort(reason),
    });
  }

  /** The incoming frames as a stream. It ends when the peer finishes sending. */
  get readable(): ReadableStream<Uint8Array> {
    return this.#frames.readable;
  }

  /**
   * Queues one frame for sending. Strings are sent as UTF-8.
   *
   * Frames sent in the same burst share one socket write. The promise
   * settles when the frame's batch has been handed to the OS, so awaiting it
   * applies backpressure. Not awaiting it is fine: a failed send never
   * becomes an unhandled rejection, and a broken connection shows in
   * `signal`; but a frame the framing refuses is reported only to those who
   * await. The frame is copied before `send()` returns, except a frame of
   * 256 KiB or more, which is written from your memory: leave that one
   * untouched until the promise settles.
   *
   * @param frame The payload of the frame.
   * @returns A promise that settles once the frame is written.
   * @throws {FrameTooLargeError} If the frame exceeds the framing's limit.
   * @throws {InvalidFrameError} If the framing cannot carry the frame.
   * @throws {ConnectionClosedError} If the connection or its write side is
   * closed.
   */
  send(frame: Uint8Array | string): Promise<void> {
    try {
      return this.#enqueue(toBytes(frame));
    } catch (error) {
      return rejected(error);
    }
  }

  #enqueue(frame: Uint8Array): Promise<void> {
    try {
      return this.#writer.enqueue(frame);
    } catch (error) {
      if (error instanceof WriteBufferFullError) this.abort(error);
      throw error;
    }
  }

  /**
   * Writes every queued frame, then sends a FIN. The peer sees the end of
   * the stream; this side can go on reading.
   *
   * @returns A promise that settles once the FIN is sent.
   */
  async closeWrite(): Promise<void> {
    await this.#writer.end();
    await this.#conn.closeWrite();
  }

  /**
   * Stops reading: frames already received are still delivered, then the
   * `readable` ends. Sending stays possible. Servers use this to shut down
   * gracefully.
   */
  drain(): void {
    this.#frames.drain();
  }

  /**
   * Closes gracefully: writes every frame already accepted, sends a FIN,
   * then reads and drops what the peer still sends until its FIN, for at
   * most 2 seconds, and releases the socket. Frames not yet read are
   * dropped. If the peer has not read everything within `closeTimeout`, the
   * connection is aborted with {@linkcode CloseTimeoutError} instead; an
   * {@linkcode Connection.abort} at any point stops at once. Calling it again
   * returns the same promise.
   *
   * Waiting for the peer matters: closing a socket while the peer's data is
   * still arriving makes the OS send a reset, and a reset can destroy replies
   * the peer has not read yet.
   *
   * @returns A promise that settles once the socket is released; it never
   * rejects: `signal.reason` tells how the connection ended.
   */
  close(): Promise<void> {
    if (this.#phase === "open") void this.#closeGracefully();
    return this.closed;
  }

  async #closeGracefully(): Promise<void> {
    this.#phase = "flushing";
    const timeout = this.#closeTimeout;
    const clock = this.#clock;
    const started = clock.now();
    const deadline = timeout > 0
      ? clock.setTimeout(
        () => this.abort(new CloseTimeoutError(timeout, this.#writer.queued)),
        timeout,
        // A close in progress is awaited work: it keeps the process alive.
        true,
      )
      : undefined;
    try {
      await this.#writer.end();
      await this.#conn.closeWrite();
      if (this.#phase !== "flushing") return;
      // Everything accepted is written: the linger's own bound ending the
      // close is no failure.
      clock.clearTimeout(deadline);
      this.#phase = "lingering";
      const left = timeout > 0
        ? timeout - (clock.now() - started)
        : LINGER_TIMEOUT;
      await this.#frames.discard(
        Math.max(0, Math.min(LINGER_TIMEOUT, left)),
        this.signal,
      );
      this.#release(new ConnectionClosedError("use the connection"));
    } catch (error) {
      this.#fail(error);
    } finally {
      clock.clearTimeout(deadline);
    }
  }

  /**
   * Closes the connection at once, with a reset where the runtime can (Bun,
   * and Node without TLS): frames not yet written, and bytes the peer has not
   * received, are dropped, and their `send()` promises reject with `reason`;
   * a pending read of the `readable` rejects with it too. It also cuts short
   * a graceful {@linkcode Connection.close} under way.
   *
   * @param reason Why the connection is aborted.
   */
  abort(
    reason: unknown = new ConnectionClosedError("use the connection"),
  ): void {
    if (this.#phase === "closed") return;
    this.#frames.end(reason);
    this.#fail(reason);
  }

  // A write that fails ends the connection with its error: frames already
  // received are still handed out, then reads reject with it.
  #writeFailed(error: unknown): void {
    if (this.#phase === "closed") return;
    this.#frames.interrupt(error);
    this.#fail(error);
  }

  /**
   * Tears the connection down after `reason`, dropping unwritten frames, with
   * a reset: nothing written on it may reach the peer after what is sent on
   * a connection that replaces it.
   */
  #fail(reason: unknown): void {
    if (this.#phase === "closed") return;
    this.#writer.abort(reason);
    this.#release(reason, true);
  }

  #release(reason: unknown, reset = false): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    if (this.#onUserAbort) {
      this.#userSignal?.removeEventListener("abort", this.#onUserAbort);
    }
    this.#idleWatch?.stop();
    this.#probe?.stop();
    this.#controller.abort(reason);
    if (reset && this.#conn.reset) this.#conn.reset();
    else this.#conn.close();
    this.#frames.end();
    this.#resolveClosed();
  }

  /**
   * Iterates the incoming frames in batches: each step yields the frames
   * received so far, at least one and at most 1 024, in order, in an array
   * that is yours to keep. It shares one queue with plain iteration and with
   * `readable`, so each frame is handed out once, whichever way it is read.
   *
   * This is the fast way to read: plain iteration costs a promise and an
   * `await` per frame, a batch costs one per read from the socket. Replies
   * sent while handling a batch, without awaiting in between, leave in one
   * socket write.
   *
   * @example An echo server that handles frames a batch at a time
   * ```ts
   * import { connect, listen } from "@tether/tcp";
   * import assert from "node:assert/strict";
   *
   * await using server = await listen({
   *   hostname: "127.0.0.1",
   *   port: 0,
   *   handler: async (conn) => {
   *     for await (const frames of conn.batches()) {
   *       for (const frame of frames) conn.send(frame);
   *     }
   *   },
   * });
   * await using conn = await connect(server.addr);
   * conn.send("a");
   * conn.send("b");
   * const replies = [];
   * for await (const frames of conn.batches()) {
   *   replies.push(...frames.map((frame) => new TextDecoder().decode(frame)));
   *   if (replies.length === 2) break;
   * }
   * assert.deepEqual(replies, ["a", "b"]);
   * ```
   *
   * @example Frames read into the same memory again and again
   * ```ts
   * import { connect, listen } from "@tether/tcp";
   * import assert from "node:assert/strict";
   *
   * await using server = await listen({
   *   hostname: "127.0.0.1",
   *   port: 0,
   *   handler: async (conn) => {
   *     // send() copies each frame before it returns, so the next batch
   *     // may overwrite this one.
   *     for await (const frames of conn.batches({ reuseBuffer: true })) {
   *       for (const frame of frames) conn.send(frame);
   *     }
   *   },
   * });
   * await using conn = await connect(server.addr);
   * conn.send("ping");
   * const [reply] = (await conn.batches().next()).value!;
   * assert.equal(new TextDecoder().decode(reply), "ping");
   * ```
   *
   * @param options `reuseBuffer` lets the connection read the next batch
   * into the memory of this one (see {@linkcode BatchOptions}).
   * @returns An iterator over batches of frames. Leaving a loop early does
   * not stop the connection.
   */
  batches(options?: BatchOptions): AsyncIterableIterator<Uint8Array[]> {
    return this.#frames.batches(options?.reuseBuffer === true);
  }

  /**
   * Iterates the incoming frames. Leaving a loop early does not stop the
   * connection: a later loop goes on with the next frame.
   *
   * @returns An iterator over the frames.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    return this.#frames.iterator();
  }

  /**
   * Closes the connection, for `await using`.
   *
   * @returns A promise that settles once the socket is released.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
