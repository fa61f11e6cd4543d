import { ConnectionClosedError } from "../errors.ts";
import {
  canMove,
  type ClientCloseReason,
  type ClientState,
} from "./lifecycle.ts";

/**
 * A snapshot of a {@linkcode Client}'s condition.
 *
 * @example Reading the status
 * ```ts
 * import { type ClientStatus, createClient, listen } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.send(frame);
 *   },
 * });
 * const client = createClient({ port: server.addr.port });
 * const open: ClientStatus = await client.waitFor("open");
 * assert.equal(open.attempt, 0);
 * assert.equal(open.error, undefined);
 * await client.close();
 * const final: ClientStatus = await client.closed;
 * assert.equal(final.state, "closed");
 * assert.equal(final.reason, "closed");
 * ```
 */
export interface ClientStatus {
  /** The state. */
  readonly state: ClientState;
  /**
   * Connection attempts in the current outage, the one under way included;
   * 0 while open. An outage ends only once a connection has lasted
   * `minUptime`.
   */
  readonly attempt: number;
  /** While waiting between attempts: milliseconds until the next one. */
  readonly nextDelay: number | undefined;
  /**
   * Why the link dropped or the last attempt failed; when closed, the error
   * that closed the client (a {@linkcode ReconnectError} after giving up).
   */
  readonly error: unknown;
  /** The last heartbeat round-trip time in milliseconds, once measured. */
  readonly rtt: number | undefined;
  /** When closed: why. */
  readonly reason: ClientCloseReason | undefined;
}

/**
 * The event a {@linkcode Client} dispatches with each new status.
 *
 * @example Logging state changes
 * ```ts
 * import { createClient, listen, StatusEvent } from "@tether/tcp";
 * import assert from "node:assert/strict";
 *
 * await using server = await listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: async (conn) => {
 *     for await (const frame of conn) conn.send(frame);
 *   },
 * });
 * const client = createClient({ port: server.addr.port });
 * const states: string[] = [];
 * client.addEventListener("status", (event) => {
 *   if (event instanceof StatusEvent) states.push(event.status.state);
 * });
 * await client.waitFor("open");
 * await client.close();
 * assert.deepEqual(states, ["open", "closed"]);
 * ```
 */
export class StatusEvent extends Event {
  /** The new status. */
  readonly status: ClientStatus;

  /**
   * Creates the event.
   *
   * @param status The new status.
   */
  constructor(status: ClientStatus) {
    super("status");
    this.status = status;
  }
}

// A status iterator nobody reads keeps only its newest records.
const MAX_BUFFERED_STATUSES = 256;

interface Watcher {
  records: ClientStatus[];
  wake: (() => void) | undefined;
}

/**
 * The status of one client, {@linkcode Client} or `MessageClient`: it
 * records each change the lifecycle allows, dispatches it as a
 * {@linkcode StatusEvent} on the client, and feeds status iterators and
 * waits for a state.
 */
export class StatusTracker {
  #status: ClientStatus = {
    state: "connecting",
    attempt: 0,
    nextDelay: undefined,
    error: undefined,
    rtt: undefined,
    reason: undefined,
  };
  #watchers = new Set<Watcher>();
  #target: EventTarget;

  /** @param target The client, which dispatches the status events. */
  constructor(target: EventTarget) {
    this.#target = target;
  }

  /** The current status. */
  get current(): ClientStatus {
    return this.#status;
  }

  /** Records a change, unless the lifecycle forbids its move. */
  update(change: Partial<ClientStatus>): void {
    const next = change.state ?? this.#status.state;
    // A late report (a heartbeat's rtt after the close) changes nothing.
    if (!canMove(this.#status.state, next)) return;
    this.#status = { ...this.#status, ...change };
    const status = this.#status;
    for (const watcher of this.#watchers) {
      watcher.records.push(status);
      if (watcher.records.length > MAX_BUFFERED_STATUSES) {
        watcher.records.shift();
      }
      watcher.wake?.();
      watcher.wake = undefined;
    }
    if (status.state === "closed") this.#watchers.clear();
    this.#target.dispatchEvent(new StatusEvent(status));
  }

  /** Waits until the status reaches `state`; see `Client.waitFor`. */
  async waitFor(
    state: ClientState,
    options?: { signal?: AbortSignal },
  ): Promise<ClientStatus> {
    const signal = options?.signal;
    signal?.throwIfAborted();
    const statuses = this.statuses();
    let onAbort: (() => void) | undefined;
    const abort = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    abort.catch(() => {});
    try {
      while (true) {
        const next = await Promise.race([statuses.next(), abort]);
        if (next.done) break;
        if (next.value.state === state) return next.value;
      }
    } finally {
      signal?.removeEventListener("abort", onAbort!);
      await statuses.return?.();
    }
    const final = this.#status;
    throw final.error ?? new ConnectionClosedError(`reach state ${state}`);
  }

  /** The current status, then each change until closed; see `Client.statuses`. */
  statuses(): AsyncIterableIterator<ClientStatus> {
    const watcher: Watcher = { records: [this.#status], wake: undefined };
    const done = () => this.#status.state === "closed";
    if (!done()) this.#watchers.add(watcher);
    const watchers = this.#watchers;
    return {
      async next(): Promise<IteratorResult<ClientStatus>> {
        while (watcher.records.length === 0) {
          if (!watchers.has(watcher)) return { done: true, value: undefined };
          await new Promise<void>((resolve) => watcher.wake = resolve);
        }
        return { done: false, value: watcher.records.shift()! };
      },
      return(): Promise<IteratorResult<ClientStatus>> {
        watchers.delete(watcher);
        watcher.records = [];
        watcher.wake?.();
        return Promise.resolve({ done: true, value: undefined });
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}
