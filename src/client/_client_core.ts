import {
  checkConnectionLimits,
  checkDuration,
  checkTarget,
  checkWait,
} from "../_options.ts";
import { resolveFraming } from "../framing/framing_option.ts";
import { type Clock, systemClock } from "../clock.ts";
import { sleep } from "../_promises.ts";
import {
  type ConnectOptions,
  dial,
  type DialWiring,
} from "../connection/connect.ts";
import type { Connection } from "../connection/connection.ts";
import {
  DEFAULT_HEARTBEAT_INTERVAL,
  DEFAULT_HEARTBEAT_TIMEOUT,
  Heartbeat,
  type HeartbeatOptions,
} from "../connection/heartbeat.ts";
import { WriteHold } from "../connection/write_hold.ts";
import { ConnectionClosedError, OpenTimeoutError } from "../errors.ts";
import type { Framing } from "../framing/framing.ts";
import { toBytes } from "../_values.ts";
import { type FrameFilter, Inbox } from "./_inbox.ts";
import type { ClientOptions } from "./client_options.ts";
import {
  attemptState,
  type ClientCloseReason,
  Lifecycle,
  waitingState,
} from "./lifecycle.ts";
import { ReconnectPolicy } from "./reconnect_policy.ts";
import type { ClientStatus, StatusTracker } from "./status_tracker.ts";

/** What a client built on a {@linkcode ClientCore} plugs into it. */
export interface CoreLayer {
  /**
   * Routes the incoming frames first: a protocol takes its replies there,
   * knowing which connection each came on, and leaves the rest to the
   * inbox.
   */
  filter?: FrameFilter;
  /**
   * A protocol's own start, once `onConnect` has finished, with the frames
   * of the connection already flowing through `filter`, before the state
   * becomes `open`; it may await replies. A failure, or the connection
   * ending first, fails the attempt as a failing `onConnect` does.
   */
  opening?: (conn: Connection) => Promise<void>;
  /** Takes the connection as it opens, just before the state says so. */
  opened?: (conn: Connection) => void;
  /** The client begins to stop, with the error that stops it, if any. */
  stopped?: (error: unknown) => void;
}

interface ResolvedHeartbeat {
  interval: number;
  timeout: number;
  ping: Uint8Array;
  pong: Uint8Array;
}

interface Opened {
  conn: Connection;
  // The pump, if the opening of a layer started it.
  pumping: Promise<unknown> | undefined;
}

const DEFAULT_OPEN_TIMEOUT = 30_000;

/**
 * What every client is made of: it dials, opens (`onConnect`, heartbeats, a
 * layer's opening), pumps frames to its inbox, reconnects as its policy
 * decides, and stops. {@linkcode Client} and `MessageClient` build on it.
 */
export class ClientCore {
  /** Settles with the final status once the client is closed. */
  readonly closed: Promise<ClientStatus>;
  /** The frames of every connection, for the application. */
  readonly inbox: Inbox;
  /** The framing of every connection. */
  readonly framing: Framing;

  #options: ConnectOptions;
  #policy: ReconnectPolicy;
  #heartbeat: ResolvedHeartbeat | undefined;
  #onConnect: ((conn: Connection) => void | Promise<void>) | undefined;
  #openTimeout: number;
  #clock: Clock;
  #signal: AbortSignal | undefined;
  #status: StatusTracker;
  #layer: CoreLayer;
  #conn: Connection | undefined;
  // A connection still opening (`onConnect`, a layer's opening): stopping
  // must interrupt it too.
  #pending: Connection | undefined;
  // The heartbeat of the connection being opened or open.
  #beat: Heartbeat | undefined;
  // The write hold of the connection dialled last.
  #writeHold: WriteHold | undefined;
  #lifecycle = new Lifecycle();
  // The connection a close() ends gracefully, which an abort may cut short.
  #closing: Connection | undefined;
  #running: Promise<void> = Promise.resolve();
  #resolveClosed!: (status: ClientStatus) => void;
  #onUserAbort = () => this.#stop("aborted", this.#signal?.reason);

  /**
   * Checks the options; {@linkcode ClientCore.start} starts.
   *
   * @param options Where to connect and how to stay connected.
   * @param status The client's status, which the core keeps up to date.
   * @param layer What the client plugs in.
   * @throws {RangeError} If an option is out of range.
   */
  constructor(
    options: ClientOptions,
    status: StatusTracker,
    layer: CoreLayer = {},
  ) {
    this.framing = resolveFraming(options.framing);
    this.#options = { ...options, framing: this.framing };
    this.#policy = new ReconnectPolicy(options.reconnect, options.random);
    this.#heartbeat = resolveHeartbeat(options.heartbeat ?? false);
    this.#onConnect = options.onConnect;
    this.#openTimeout = options.openTimeout ?? DEFAULT_OPEN_TIMEOUT;
    checkDuration("connect", "openTimeout", this.#openTimeout);
    checkConnectionLimits("connect", options);
    checkTarget("connect", options, false);
    this.#clock = options.clock ?? systemClock;
    this.#signal = options.signal;
    this.#status = status;
    this.#layer = layer;
    this.inbox = new Inbox(() => this.#conn && this.#writeHold);
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /** Starts connecting, unless the client's signal is aborted already. */
  start(): void {
    const signal = this.#signal;
    if (signal?.aborted) {
      this.#stop("aborted", signal.reason);
      return;
    }
    signal?.addEventListener("abort", this.#onUserAbort, { once: true });
    // A bug here must not leave `closed` pending forever.
    this.#running = this.#run().catch((error) => this.#stop("failed", error));
  }

  /** Whether the client has begun to stop. */
  get stopping(): boolean {
    return this.#lifecycle.stopping;
  }

  /** The open connection, if any. */
  get connection(): Connection | undefined {
    return this.#conn;
  }

  /** Closes the client; see `Client.close`. */
  async close(): Promise<void> {
    this.#stop("closed", undefined);
    await this.closed;
  }

  async #run(): Promise<void> {
    const beat = this.#heartbeat;
    const heartbeat = beat && {
      ping: beat.ping,
      pong: beat.pong,
      onPong: () => this.#beat?.pong(),
    };
    const wiring: DialWiring = {
      connectClock: this.#clock,
      ...(heartbeat
        ? { heartbeat, onActivity: () => this.#beat?.activity() }
        : {}),
    };
    const clock = this.#clock;
    let outage = { attempts: 0, retries: 0, start: clock.now() };
    let opened = false;
    while (!this.stopping) {
      outage.attempts++;
      this.#status.update({
        state: attemptState(opened),
        attempt: outage.attempts,
        nextDelay: undefined,
      });
      const attempt = await this.#connect(wiring);
      if (this.stopping) return;
      let ended: unknown;
      if ("conn" in attempt) {
        opened = true;
        const openedAt = clock.now();
        ended = await this.#serve(attempt);
        if (this.stopping) return;
        if (clock.now() - openedAt >= this.#policy.minUptime) {
          outage = { attempts: 0, retries: 0, start: clock.now() };
        }
      } else ended = attempt.error;
      const decision = this.#policy.decide(ended, {
        attempts: outage.attempts,
        retries: outage.retries++,
        elapsed: clock.now() - outage.start,
      });
      if (!decision.retry) {
        this.#stop("failed", decision.error);
        return;
      }
      this.#status.update({
        state: waitingState(this.#status.current.state),
        attempt: outage.attempts,
        nextDelay: decision.delay,
        error: ended,
      });
      // A status listener may have stopped the client just now.
      await sleep(this.#clock, decision.delay, this.#lifecycle.signal);
    }
  }

  /**
   * Dials and opens a connection; if that fails, or the client stops
   * meanwhile, ends the connection and returns why it failed.
   */
  async #connect(wiring: DialWiring): Promise<Opened | { error: unknown }> {
    let conn: Connection | undefined;
    let pumping: Promise<unknown> | undefined;
    let failure: { error: unknown } | undefined;
    try {
      this.#writeHold = new WriteHold();
      conn = await this.#dial({ ...wiring, writeHold: this.#writeHold });
      pumping = (await this.#open(conn)).pumping;
      if (!this.stopping) return { conn, pumping };
    } catch (error) {
      failure = { error };
    }
    this.#stopBeat();
    if (conn) {
      conn.abort(failure ? failure.error : this.#lifecycle.signal.reason);
      await pumping;
      await conn.closed;
    }
    return { error: failure?.error };
  }

  /** Serves an open connection until it ends; returns what ended it. */
  async #serve({ conn, pumping }: Opened): Promise<unknown> {
    this.#conn = conn;
    this.#layer.opened?.(conn);
    this.#status.update({ state: "open", attempt: 0, error: undefined });
    const ended = await (pumping ?? this.#pump(conn));
    this.#conn = undefined;
    this.#stopBeat();
    // A close() under way runs its course; anything else ends the
    // connection before a new one is dialled.
    if (!this.stopping) conn.abort(ended);
    await conn.closed;
    return ended;
  }

  /**
   * Opens a new connection: `onConnect`, then heartbeats and, for a layer
   * with an opening, the pump and that opening. Each wait is raced against
   * the connection ending (which the client stopping and `openTimeout`
   * cause): throws what failed the attempt; returns the pump if it started.
   */
  async #open(
    conn: Connection,
  ): Promise<{ pumping: Promise<unknown> | undefined }> {
    this.#pending = conn;
    // Stopped between the dial and now: #stop could not reach this one.
    if (this.stopping) throw this.#lifecycle.signal.reason;
    const timeout = this.#openTimeout;
    const deadline = timeout > 0
      ? this.#clock.setTimeout(
        () => conn.abort(new OpenTimeoutError(timeout)),
        timeout,
        false,
      )
      : undefined;
    let onEnd!: () => void;
    const ended = new Promise<never>((_, reject) => {
      onEnd = () => reject(conn.signal.reason);
      if (conn.signal.aborted) onEnd();
      else conn.signal.addEventListener("abort", onEnd, { once: true });
    });
    ended.catch(() => {});
    try {
      const onConnect = this.#onConnect;
      if (onConnect) {
        await Promise.race([(async () => await onConnect(conn))(), ended]);
      }
      if (conn.signal.aborted) throw conn.signal.reason;
      const heartbeat = this.#heartbeat;
      if (heartbeat) {
        this.#beat = new Heartbeat(heartbeat, this.#clock, {
          ping: () => void conn.send(heartbeat.ping).catch(() => {}),
          rtt: (ms) => this.#status.update({ rtt: ms }),
          dead: (error) => conn.abort(error),
        }, conn.signal);
      }
      const opening = this.#layer.opening;
      if (!opening) return { pumping: undefined };
      const pumping = this.#pump(conn);
      const outcome = Promise.race([
        opening(conn),
        // The connection ended first: nothing will answer the opening.
        pumping.then((error) => Promise.reject(error)),
        ended,
      ]);
      // The pump is awaited by whoever ends the connection.
      outcome.catch(() => {});
      try {
        await outcome;
      } catch (error) {
        conn.abort(error);
        await pumping;
        throw error;
      }
      if (conn.signal.aborted) {
        await pumping;
        throw conn.signal.reason;
      }
      return { pumping };
    } finally {
      this.#clock.clearTimeout(deadline);
      conn.signal.removeEventListener("abort", onEnd);
      this.#pending = undefined;
    }
  }

  /**
   * Dials one connection. Stopping the client cancels the attempt, but does
   * not reach the connection once it is open: `#stop` ends that one itself,
   * gracefully for a close.
   */
  async #dial(wiring: DialWiring): Promise<Connection> {
    const lifecycle = this.#lifecycle.signal;
    // A status listener may have stopped the client just now.
    lifecycle.throwIfAborted();
    const attempt = new AbortController();
    const cancel = () => attempt.abort(lifecycle.reason);
    lifecycle.addEventListener("abort", cancel, { once: true });
    try {
      const conn = await dial(
        { ...this.#options, signal: attempt.signal },
        wiring,
      );
      if (lifecycle.aborted) {
        conn.abort(lifecycle.reason);
        throw lifecycle.reason;
      }
      return conn;
    } finally {
      lifecycle.removeEventListener("abort", cancel);
    }
  }

  #pump(conn: Connection): Promise<unknown> {
    return this.inbox.pump(
      conn,
      this.#writeHold!,
      this.#layer.filter,
      this.#beat,
    );
  }

  #stopBeat(): void {
    this.#beat?.stop();
    this.#beat = undefined;
  }

  #stop(reason: ClientCloseReason, error: unknown): void {
    const cause = error ?? new ConnectionClosedError("use the client");
    const move = this.#lifecycle.stop(reason, error, cause);
    if (move === "cut short") {
      // An abort cuts short a close still under way, as it promises.
      this.#closing?.abort(cause);
      this.#pending?.abort(cause);
    }
    if (move !== "stopped") return;
    this.#beat?.stop();
    this.#layer.stopped?.(error);
    this.#pending?.abort(cause);
    const conn = this.#conn;
    this.#conn = undefined;
    let closing = Promise.resolve();
    if (conn && reason === "closed") {
      this.#closing = conn;
      closing = conn.close();
    } else if (conn) {
      conn.abort(cause);
      closing = conn.closed;
    }
    void Promise.all([closing, this.#running]).then(() => {
      this.#signal?.removeEventListener("abort", this.#onUserAbort);
      this.#closing = undefined;
      const { reason, error } = this.#lifecycle.settle(conn?.signal.reason);
      const cause = error ?? new ConnectionClosedError("use the client");
      // After a close or a failure the frames already received stay
      // readable; an abort drops them, as aborts do.
      if (reason === "aborted") this.inbox.clear();
      this.inbox.end(reason === "closed" ? undefined : cause);
      this.#status.update({
        state: "closed",
        nextDelay: undefined,
        error,
        reason,
      });
      this.#resolveClosed(this.#status.current);
    });
  }
}

/** Fills in and checks the heartbeat options; `undefined` for none. */
function resolveHeartbeat(
  heartbeat: HeartbeatOptions | false,
): ResolvedHeartbeat | undefined {
  if (!heartbeat) return undefined;
  const resolved = {
    interval: heartbeat.interval ?? DEFAULT_HEARTBEAT_INTERVAL,
    timeout: heartbeat.timeout ?? DEFAULT_HEARTBEAT_TIMEOUT,
    ping: toBytes(heartbeat.ping ?? "PING"),
    pong: toBytes(heartbeat.pong ?? "PONG"),
  };
  for (const name of ["interval", "timeout"] as const) {
    checkWait(
      "connect",
      `heartbeat.${name}`,
      resolved[name],
      "heartbeat: false turns heartbeats off",
    );
  }
  return resolved;
}
