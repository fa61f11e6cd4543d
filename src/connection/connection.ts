import { type Deadline, Deadlines, heapClock } from "./_deadlines.ts";
import { checkConnectionLimits } from "../_options.ts";
import { rejected } from "../_promises.ts";
import { systemClock } from "../clock.ts";
import {
  CloseTimeoutError,
  ConnectionClosedError,
  IdleTimeoutError,
  WriteBufferFullError,
} from "../errors.ts";
import { FrameReader } from "./frame_reader.ts";
import { FrameWriter } from "./frame_writer.ts";
import { Heartbeat } from "./heartbeat.ts";
import type { Framing } from "../framing/framing.ts";
import { lengthPrefixed } from "../framing/length_prefixed.ts";
import type { Conn, NetAddr } from "../runtime/types.ts";
import { toBytes } from "../_values.ts";

// Frames read ahead of the application when heartbeats are on: a handler
// that falls further behind than this leaves pings unread, as TCP must.
const HEARTBEAT_READ_AHEAD = 16;
// How long close() reads and drops what the peer still sends after our FIN,
// waiting for its own FIN.
const LINGER_TIMEOUT = 2000;
/** The default of {@linkcode ConnectionOptions.closeTimeout}. */
export const DEFAULT_CLOSE_TIMEOUT = 10_000;
// Every connection's idle deadline, on one timer: a runtime timer per
// connection would cost an idle connection more than its buffers. Idle
// connections do not keep the process alive.
const idleDeadlines = new Deadlines(systemClock, false);
// Heartbeat probes time out on the same heap.
const probeClock = heapClock(idleDeadlines, systemClock);

/**
 * The limits of one connection, the same for `connect()`, `createClient()`,
 * `Connection` and each connection a `listen()` server accepts. Reaching one
 * aborts only that connection, with a typed error. A server's defaults are
 * stricter where a peer could otherwise hold its memory or a slot.
 */
export interface ConnectionLimits {
  /**
   * Milliseconds without incoming bytes after which the connection is
   * aborted with {@linkcode IdleTimeoutError}; `0` never does. Only time
   * spent waiting for data counts: an application busy with a frame does not
   * make its peer idle. Clients should prefer heartbeats.
   *
   * @default {0, or 300000 on a server}
   */
  idleTimeout?: number;
  /**
   * Milliseconds a frame may take to arrive, counted from its first byte,
   * before the connection is aborted with {@linkcode FrameTimeoutError}; `0`
   * for no limit. Unlike an idle timeout, a peer that trickles bytes (a
   * slowloris attack) cannot defeat it.
   *
   * @default {0, or 30000 on a server}
   */
  frameTimeout?: number;
  /**
   * Frames per second the peer may send before the connection is aborted
   * with {@linkcode FrameRateError}; `0` for no limit. A flood of tiny
   * frames costs time, not memory: a connection decodes at most 1 024
   * frames ahead of the application.
   *
   * @default {0}
   */
  maxFrameRate?: number;
  /**
   * Bytes that may wait to be written. A `send()` beyond it means the peer
   * does not read what it is sent: the connection is aborted with
   * {@linkcode WriteBufferFullError} instead of letting memory grow. Await
   * `send()` or write through `writable` to stay below it.
   *
   * @default {16777216}
   */
  maxWriteBuffer?: number;
  /**
   * Milliseconds {@linkcode Connection.close} may take to write what was
   * accepted and see the peer's FIN. A peer that has not read everything by
   * then gets the connection aborted with {@linkcode CloseTimeoutError}, so
   * a peer that stops reading cannot hold the connection open; `0` waits as
   * long as it takes. A server closes each connection once its handler has
   * returned, and reports the error to `onError`.
   *
   * @default {10000, or idleTimeout on a server if that is shorter}
   */
  closeTimeout?: number;
}

/**
 * Options for {@linkcode Connection}.
 *
 * @example Framing a raw runtime connection
 * ```ts
 * import {
 *   Connection,
 *   type ConnectionOptions,
 *   detectRuntime,
 * } from "@tether/tcp";
 * import { lineDelimited } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const runtime = await detectRuntime();
 * const listener = await runtime.listen({ hostname: "127.0.0.1", port: 0 });
 * const raw = await runtime.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * const peer = (await listener.accept())!;
 *
 * const options: ConnectionOptions = {
 *   framing: lineDelimited(),
 *   idleTimeout: 30_000,
 * };
 * await using conn = new Connection(raw, options);
 * await peer.write(new TextEncoder().encode("hi\n"));
 * for await (const line of conn) {
 *   assert.equal(new TextDecoder().decode(line), "hi");
 *   break;
 * }
 * peer.close();
 * listener.close();
 * ```
 */
export interface ConnectionOptions extends ConnectionLimits {
  /**
   * The wire format of the frames.
   *
   * @default {lengthPrefixed()}
   */
  framing?: Framing;
  /**
   * Aborting this signal aborts the connection, as
   * {@linkcode Connection.abort} does, with the signal's reason.
   */
  signal?: AbortSignal;
  /**
   * Bytes that may wait to be written before a write through
   * {@linkcode Connection.writable} waits for the socket.
   *
   * @default {65536}
   */
  highWaterMark?: number;
  /**
   * Heartbeat frames: an incoming frame equal to `ping` is answered with
   * `pong`, an incoming `pong` is reported to `onPong`, and neither reaches
   * the `readable`. Up to 16 frames are then read ahead of the application,
   * so pings are answered while it is busy with a frame; an application
   * further behind than that leaves later pings unread.
   */
  heartbeat?: HeartbeatFrames;
  /** Called whenever bytes arrive: proof that the peer is alive. */
  onActivity?: () => void;
}

/**
 * The default of {@linkcode ConnectionOptions.maxWriteBuffer}: 16 MiB.
 *
 * @example Allowing more unsent data per connection
 * ```ts
 * import { DEFAULT_MAX_WRITE_BUFFER, listen } from "@tether/tcp";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   maxWriteBuffer: DEFAULT_MAX_WRITE_BUFFER * 4,
 *   handler: () => {},
 * });
 * ```
 */
export const DEFAULT_MAX_WRITE_BUFFER = 16 * 1024 * 1024;

/**
 * The ping and pong payloads of {@linkcode ConnectionOptions.heartbeat}.
 *
 * @example Answering pings on a raw connection
 * ```ts
 * import {
 *   Connection,
 *   detectRuntime,
 *   type HeartbeatFrames,
 * } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * const runtime = await detectRuntime();
 * const listener = await runtime.listen({ hostname: "127.0.0.1", port: 0 });
 * const raw = await runtime.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * await using peer = new Connection((await listener.accept())!);
 * listener.close();
 *
 * let pongs = 0;
 * const heartbeat: HeartbeatFrames = {
 *   ping: new TextEncoder().encode("PING"),
 *   pong: new TextEncoder().encode("PONG"),
 *   onPong: () => pongs++,
 * };
 * await using conn = new Connection(raw, { heartbeat });
 * await peer.send("PING"); // answered with a pong, not delivered
 * await peer.send("PONG"); // reported to onPong, not delivered
 * await peer.send("data");
 * for await (const frame of conn) {
 *   assert.equal(new TextDecoder().decode(frame), "data");
 *   break;
 * }
 * assert.equal(pongs, 1);
 * for await (const frame of peer) {
 *   assert.equal(new TextDecoder().decode(frame), "PONG");
 *   break;
 * }
 * ```
 */
export interface HeartbeatFrames {
  /** The payload of a ping. */
  ping: Uint8Array;
  /** The payload of the answer to a ping. */
  pong: Uint8Array;
  /** Called when a pong arrives. */
  onPong?: () => void;
  /**
   * Milliseconds without incoming bytes, while the connection reads, after
   * which the peer is sent a ping; set with `timeout` to probe the peer.
   */
  interval?: number;
  /**
   * Milliseconds after a ping within which something must arrive, or the
   * connection is aborted with {@linkcode HeartbeatTimeoutError}.
   */
  timeout?: number;
}

/**
 * Options of {@linkcode Connection.batches}.
 *
 * @example Echoing from reused memory
 * ```ts
 * import { type BatchOptions, listen } from "@tether/tcp";
 *
 * const options: BatchOptions = { reuseBuffer: true };
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: async (conn) => {
 *     for await (const frames of conn.batches(options)) {
 *       for (const frame of frames) conn.send(frame);
 *     }
 *   },
 * });
 * ```
 */
export interface BatchOptions {
  /**
   * Whether the frames of a batch may share memory that the connection
   * reads into again once the application asks for more frames, in any way.
   * Until then, they are intact; after that, a frame kept from an earlier
   * batch may hold other bytes. Copy what you keep (`frame.slice()`);
   * {@linkcode Connection.send} copies a frame that may share memory before
   * it returns, so echoing or forwarding frames with it is safe. A
   * `WritableStream`, `conn.writable` included, may keep a frame in its
   * queue for later: copy a frame before writing it to one.
   *
   * Reading into one buffer spares every read fresh memory, which costs
   * more than decoding a batch of small frames, and a frame at the same
   * place as a frame of the batch before gets that frame's `Uint8Array`
   * again, which spares a view per frame. Where the socket hands out memory
   * of its own (Bun, Node), what a read brings is copied into the buffer,
   * unless it is under 256 bytes (a frame or two, whose views cost less than
   * the copy) or over 64 KiB. A frame too large for one read is assembled
   * in memory kept for the purpose, unless it is one that `send()` writes
   * without a copy (256 KiB or more). Memory that a run of reads has not
   * needed is let go again. A custom `FrameDecoder` must not hold bytes of
   * earlier chunks while its `buffered` is 0.
   *
   * @default {false}
   */
  reuseBuffer?: boolean;
}

/**
 * Makes the writer of `conn` hold its batch while `backlog()` is true: a
 * layer that takes frames out of the connection before the application
 * reads them (a client's inbox) still has replies coming. The layer calls
 * {@linkcode releaseWrites} once the application finds its backlog empty.
 */
export let holdWrites: (conn: Connection, backlog: () => boolean) => void;

/**
 * Writes what `conn` holds once it has no frames left either: the
 * application ran out of frames to answer.
 */
export let releaseWrites: (conn: Connection) => void;

/** Whether `conn` holds received frames not yet taken from it. */
export let hasFrames: (conn: Connection) => boolean;

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
  /** The remote end of the connection. */
  readonly remoteAddr: NetAddr;
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
  #backlog: (() => boolean) | undefined;
  #controller = new AbortController();
  #resolveClosed!: () => void;
  // The lifecycle: "open" until close() starts "flushing" what was accepted,
  // then "lingering" after the FIN until the peer's FIN; any state goes
  // straight to "closed" on an abort, a failure or the close deadline. Every
  // move to "closed" goes through #release.
  #phase: "open" | "flushing" | "lingering" | "closed" = "open";
  #closeTimeout: number;
  #highWaterMark: number;
  #userSignal: AbortSignal | undefined;
  #onActivity: (() => void) | undefined;
  #lastActivity = 0;
  // Removed on release, not by a listener on `signal`: a listener costs an
  // idle connection more memory than the rest of its timers.
  #idleWatch: Deadline | undefined;
  // Made only for a connection given a signal: a closure per connection
  // adds up over thousands of them.
  #onUserAbort: (() => void) | undefined;
  // Pings a silent peer, for a connection given an interval and a timeout.
  #probe: Heartbeat | undefined;

  /**
   * Wraps a runtime connection. Most code gets its connections from
   * {@linkcode connect} or {@linkcode listen} instead.
   *
   * @param conn The byte connection to frame.
   * @param options The framing and limits.
   */
  constructor(conn: Conn, options: ConnectionOptions = {}) {
    this.#conn = conn;
    checkConnectionLimits("create a connection", options);
    this.framing = options.framing ?? lengthPrefixed();
    this.#highWaterMark = options.highWaterMark ?? 64 * 1024;
    this.#closeTimeout = options.closeTimeout ?? DEFAULT_CLOSE_TIMEOUT;
    this.localAddr = conn.localAddr;
    this.remoteAddr = conn.remoteAddr;
    this.signal = this.#controller.signal;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
    this.#onActivity = options.onActivity;
    const heartbeat = options.heartbeat;
    // Frames are read when the application asks for them, so TCP pushes back
    // on a sender that outpaces it. With heartbeats, a few frames are read
    // ahead so that pings are answered while the application is busy.
    this.#frames = new FrameReader(
      conn,
      this.framing.createDecoder(),
      heartbeat ? HEARTBEAT_READ_AHEAD : 0,
      {
        onChunk: (now) => {
          this.#lastActivity = now;
          this.#onActivity?.();
          this.#probe?.activity();
        },
        onDry: () => {
          if (!this.#backlog?.()) this.#writer.uncork();
        },
        onError: (error) => this.#fail(error),
        ...(heartbeat ? { control: this.#control(heartbeat) } : {}),
      },
      {
        frameTimeout: options.frameTimeout ?? 0,
        maxFrameRate: options.maxFrameRate ?? 0,
      },
    );
    const idleTimeout = options.idleTimeout ?? 0;
    if (idleTimeout > 0) this.#watchIdle(idleTimeout);
    const { interval = 0, timeout = 0 } = heartbeat ?? {};
    if (heartbeat && interval > 0 && timeout > 0) {
      this.#probe = new Heartbeat({ interval, timeout }, probeClock, {
        ping: () => {
          try {
            void this.#enqueue(heartbeat.ping);
          } catch {
            // The write side is closed: the close under way ends it all.
          }
        },
        rtt: () => {},
        dead: (error) => this.abort(error),
        // Silence counts only while this side reads and has nothing left to
        // write: a pong queued behind a backlog the peer still reads is late,
        // not missing.
        listening: () =>
          this.#frames.waitingSince !== undefined && this.#writer.queued === 0,
      });
    }
    this.#writer = new FrameWriter(
      this.framing,
      options.maxWriteBuffer ?? DEFAULT_MAX_WRITE_BUFFER,
      conn,
      // More frames already received means more replies are coming: the
      // writer holds its batch until the reader has handed out what it has.
      () => this.#frames.buffered || (this.#backlog?.() ?? false),
      (error) => this.#writeFailed(error),
    );
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

  static {
    holdWrites = (conn, backlog) => conn.#backlog = backlog;
    releaseWrites = (conn) => {
      // Frames still in the connection will be answered too: the reader's
      // running dry releases the writes then.
      if (!conn.#frames.buffered) conn.#writer.uncork();
    };
    hasFrames = (conn) => conn.#frames.buffered;
  }

  /** The incoming frames as a stream. It ends when the peer finishes sending. */
  get readable(): ReadableStream<Uint8Array> {
    return this.#frames.readable;
  }

  /** Answers pings and reports pongs; both stay out of the frames. */
  #control(frames: HeartbeatFrames): (frame: Uint8Array) => boolean {
    const { ping, pong, onPong } = frames;
    return (frame) => {
      if (equalBytes(frame, ping)) {
        try {
          void this.#enqueue(pong);
        } catch {
          // The write side is closed: there is nobody to answer for.
        }
        return true;
      }
      if (equalBytes(frame, pong)) {
        this.#probe?.pong();
        onPong?.();
        return true;
      }
      return false;
    };
  }

  // One entry per connection in a heap shared by every connection, untouched
  // by traffic: it looks at when the last bytes arrived and sleeps for the
  // rest of the period.
  #watchIdle(timeout: number): void {
    this.#lastActivity = systemClock.now();
    const watch: Deadline = {
      at: this.#lastActivity + timeout,
      index: -1,
      expire: () => {
        if (this.signal.aborted) return;
        const now = systemClock.now();
        // Bytes not read because the application is busy are not the
        // peer's silence: the idle clock runs only while a read waits on the
        // socket.
        const since = this.#frames.waitingSince;
        const idle = since === undefined
          ? 0
          : now - Math.max(this.#lastActivity, since);
        if (idle >= timeout) {
          this.abort(new IdleTimeoutError(timeout));
        } else {
          watch.at = now + timeout - idle;
          idleDeadlines.add(watch);
        }
      },
    };
    this.#idleWatch = watch;
    idleDeadlines.add(watch);
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
    const started = systemClock.now();
    const deadline = timeout > 0
      ? systemClock.setTimeout(
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
      // Everything accepted is written: from here on the linger's own bound
      // ends the close, which is no failure.
      systemClock.clearTimeout(deadline);
      this.#phase = "lingering";
      const left = timeout > 0
        ? timeout - (systemClock.now() - started)
        : LINGER_TIMEOUT;
      await this.#frames.discard(
        Math.max(0, Math.min(LINGER_TIMEOUT, left)),
        this.signal,
      );
      this.#release(new ConnectionClosedError("use the connection"));
    } catch (error) {
      this.#fail(error);
    } finally {
      systemClock.clearTimeout(deadline);
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
    if (this.#idleWatch) idleDeadlines.remove(this.#idleWatch);
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

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
