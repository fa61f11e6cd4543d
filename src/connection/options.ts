import type { Framing } from "../framing/framing.ts";

/** The default of {@linkcode ConnectionOptions.closeTimeout}. */
export const DEFAULT_CLOSE_TIMEOUT = 10_000;

/** The default of {@linkcode ConnectionOptions.maxWriteBuffer}: 16 MiB. */
export const DEFAULT_MAX_WRITE_BUFFER = 16 * 1024 * 1024;

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
 * import { Connection, type ConnectionOptions } from "@tether/tcp";
 * import { lineDelimited } from "@tether/tcp/framing";
 * import { detectRuntime } from "@tether/tcp/runtime";
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
 * The ping and pong payloads of {@linkcode ConnectionOptions.heartbeat}.
 *
 * @example Answering pings on a raw connection
 * ```ts
 * import { Connection, type HeartbeatFrames } from "@tether/tcp";
 * import { detectRuntime } from "@tether/tcp/runtime";
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
 */
export interface BatchOptions {
  /**
   * Whether the frames of a batch of a built-in framing may lie in memory
   * that the connection reads into again once the application asks for more
   * frames, in any way. Copy a frame kept past that (`frame.slice()`), or
   * written to a `WritableStream`, which may queue it;
   * {@linkcode Connection.send} copies what it must before it returns, so
   * echoing or forwarding with it is safe. It spares reads fresh memory and
   * frames a view of their own, at the cost of a copy per read where the
   * runtime reads into memory of its own (Bun, Node).
   *
   * @default {false}
   */
  reuseBuffer?: boolean;
}
