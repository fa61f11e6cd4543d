import { DONE } from "../_pull.ts";

interface Waiter {
  // Whether the read takes every queued frame, or one.
  batch: boolean;
  resolve(result: IteratorResult<Uint8Array | Uint8Array[]>): void;
  reject(reason: unknown): void;
}

/**
 * Frames waiting for the application, and the application's reads waiting
 * for frames. Frames are pushed one by one and handed to waiting reads on
 * {@linkcode FrameQueue.wake}, once everything a chunk held is queued, so a
 * batch read gets the whole chunk with one promise. Taking a queued frame
 * costs one resolved promise, and frames queued before the end are all
 * handed out before it.
 */
export class FrameQueue {
  #frames: Uint8Array[] = [];
  #head = 0;
  // The one read waiting, as there usually is at most one; further reads
  // queue behind it. An array for the usual case would cost every idle
  // connection its backing store.
  #waiter: Waiter | undefined;
  #moreWaiters: Waiter[] | undefined;
  #end: { error: unknown } | undefined;

  /** Frames queued and not yet taken. */
  get size(): number {
    return this.#frames.length - this.#head;
  }

  /** Whether a read waits for a frame. */
  get waiting(): boolean {
    return this.#waiter !== undefined;
  }

  /**
   * The next queued frame, or the end once the queue is empty and ended;
   * `undefined` when a read has to {@linkcode FrameQueue.wait}.
   */
  take(): Promise<IteratorResult<Uint8Array>> | undefined {
    if (this.#head < this.#frames.length) {
      return Promise.resolve({ value: this.#shift(), done: false });
    }
    const end = this.#end;
    if (end) {
      return end.error === undefined
        ? Promise.resolve(DONE)
        : Promise.reject(end.error);
    }
    return undefined;
  }

  /**
   * Every queued frame, in a new array the caller keeps; `undefined` when
   * none is queued.
   */
  takeAll(): Uint8Array[] | undefined {
    const frames = this.#frames;
    if (this.#head >= frames.length) return undefined;
    const taken = this.#head === 0 ? frames : frames.slice(this.#head);
    this.#frames = [];
    this.#head = 0;
    return taken;
  }

  /**
   * Every queued frame, or the end once the queue is empty and ended;
   * `undefined` when a read has to {@linkcode FrameQueue.waitBatch}.
   */
  takeBatch(): Promise<IteratorResult<Uint8Array[], undefined>> | undefined {
    const frames = this.takeAll();
    if (frames) return Promise.resolve({ value: frames, done: false });
    return this.take() as
      | Promise<IteratorResult<never, undefined>>
      | undefined;
  }

  /** A read that waits for frames, then takes every queued one, or the end. */
  waitBatch(): Promise<IteratorResult<Uint8Array[], undefined>> {
    return this.#wait(true) as Promise<IteratorResult<Uint8Array[], undefined>>;
  }

  /** A read that waits for the next frame or the end. */
  wait(): Promise<IteratorResult<Uint8Array>> {
    return this.#wait(false) as Promise<IteratorResult<Uint8Array>>;
  }

  #wait(batch: boolean): Promise<IteratorResult<Uint8Array | Uint8Array[]>> {
    return new Promise((resolve, reject) => {
      const waiter = { batch, resolve, reject };
      if (this.#waiter === undefined) this.#waiter = waiter;
      else (this.#moreWaiters ??= []).push(waiter);
    });
  }

  /**
   * Queues `frame`; a waiting read gets it at the next
   * {@linkcode FrameQueue.wake}.
   */
  push(frame: Uint8Array): void {
    this.#frames.push(frame);
  }

  /** Hands queued frames to waiting reads; true if a read took any. */
  wake(): boolean {
    let woke = false;
    while (this.#waiter !== undefined && this.#head < this.#frames.length) {
      const waiter = this.#waiter;
      this.#waiter = this.#moreWaiters?.shift();
      woke = true;
      waiter.resolve({
        value: waiter.batch ? this.takeAll()! : this.#shift(),
        done: false,
      });
    }
    return woke;
  }

  /** The first queued frame, taken; there must be one. */
  #shift(): Uint8Array {
    const value = this.#frames[this.#head++]!;
    if (this.#head === this.#frames.length) this.clear();
    return value;
  }

  /** Drops the queued frames. */
  clear(): void {
    this.#frames.length = 0;
    this.#head = 0;
  }

  /**
   * Ends the queue: waiting reads end, or reject with `error`; later reads
   * do so once the queued frames are taken. Only the first call counts.
   */
  end(error: unknown): void {
    if (this.#end) return;
    this.#end = { error };
    this.wake();
    const waiters = this.#waiter
      ? [this.#waiter, ...this.#moreWaiters ?? []]
      : [];
    this.#waiter = this.#moreWaiters = undefined;
    for (const waiter of waiters) {
      if (error === undefined) waiter.resolve(DONE);
      else waiter.reject(error);
    }
  }
}
