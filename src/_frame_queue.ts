import { DONE } from "./_pull.ts";

interface Waiter {
  resolve(result: IteratorResult<Uint8Array>): void;
  reject(reason: unknown): void;
}

/**
 * Frames waiting for the application, and the application's reads waiting
 * for frames: a frame goes straight to a waiting read, or into the queue.
 * Taking a queued frame costs one resolved promise, and frames queued before
 * the end are all handed out before it.
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
    const frames = this.#frames;
    if (this.#head < frames.length) {
      const value = frames[this.#head++]!;
      if (this.#head === frames.length) this.clear();
      return Promise.resolve({ value, done: false });
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

  /**
   * A read that waits for the next frame, then takes it with every frame
   * queued behind it, or for the end.
   */
  waitBatch(): Promise<IteratorResult<Uint8Array[], undefined>> {
    // The first frame wakes the wait while its chunk is still being decoded;
    // the rest of the chunk is in the queue by the time this runs.
    return this.wait().then((first) => {
      if (first.done) return first;
      const rest = this.takeAll() ?? [];
      rest.unshift(first.value);
      return { value: rest, done: false };
    });
  }

  /** A read that waits for the next frame or the end. */
  wait(): Promise<IteratorResult<Uint8Array>> {
    return new Promise((resolve, reject) => {
      if (this.#waiter === undefined) this.#waiter = { resolve, reject };
      else (this.#moreWaiters ??= []).push({ resolve, reject });
    });
  }

  /** Hands `frame` to a waiting read, or queues it; true if a read took it. */
  push(frame: Uint8Array): boolean {
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = this.#moreWaiters?.shift();
      waiter.resolve({ value: frame, done: false });
      return true;
    }
    this.#frames.push(frame);
    return false;
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
