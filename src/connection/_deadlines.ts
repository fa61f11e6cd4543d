import type { Clock } from "../clock.ts";

/** Something that expires at a time, unless removed first. */
export interface Deadline {
  /** When it expires, in the clock's milliseconds. */
  at: number;
  /** Its place in the heap; -1 when not scheduled. */
  index: number;
  /** Called once `at` has passed. */
  expire(): void;
}

/**
 * Deadlines of many requests or connections on one timer: a binary min-heap
 * by time, with the timer set for the earliest, since a pending runtime
 * timer costs more memory than a heap entry (about 0.7 KiB on Deno).
 */
export class Deadlines {
  #heap: Deadline[] = [];
  #clock: Clock;
  #persistent: boolean;
  #timer: unknown;
  #armedAt = Infinity;

  /**
   * @param clock The clock that times the deadlines.
   * @param persistent Whether a pending deadline keeps the process alive.
   */
  constructor(clock: Clock, persistent = true) {
    this.#clock = clock;
    this.#persistent = persistent;
  }

  /** How many deadlines are scheduled. */
  get size(): number {
    return this.#heap.length;
  }

  /** Schedules `deadline`, which must not be scheduled already. */
  add(deadline: Deadline): void {
    const heap = this.#heap;
    deadline.index = heap.length;
    heap.push(deadline);
    this.#up(deadline.index);
    if (deadline.at < this.#armedAt) this.#arm(deadline.at);
  }

  /** Unschedules `deadline`; nothing happens if it is not scheduled. */
  remove(deadline: Deadline): void {
    const index = deadline.index;
    if (index < 0) return;
    const heap = this.#heap;
    const last = heap.pop()!;
    deadline.index = -1;
    if (last !== deadline) {
      heap[index] = last;
      last.index = index;
      this.#down(index);
      this.#up(last.index);
    }
    // A timer left for a removed deadline only re-arms; none may outlive all.
    if (heap.length === 0) this.#disarm();
  }

  #arm(at: number): void {
    this.#disarm();
    this.#armedAt = at;
    this.#timer = this.#clock.setTimeout(
      () => this.#fire(),
      Math.max(0, at - this.#clock.now()),
      this.#persistent,
    );
  }

  #disarm(): void {
    if (this.#armedAt === Infinity) return;
    this.#clock.clearTimeout(this.#timer);
    this.#armedAt = Infinity;
  }

  #fire(): void {
    this.#armedAt = Infinity;
    const now = this.#clock.now();
    const heap = this.#heap;
    while (heap.length > 0 && heap[0]!.at <= now) {
      const due = heap[0]!;
      this.remove(due);
      due.expire();
    }
    // Timers may fire a little early: what is not yet due waits again.
    if (heap.length > 0 && this.#armedAt === Infinity) this.#arm(heap[0]!.at);
  }

  #up(index: number): void {
    const heap = this.#heap;
    const item = heap[index]!;
    while (index > 0) {
      const parentIndex = (index - 1) >> 1;
      const parent = heap[parentIndex]!;
      if (parent.at <= item.at) break;
      heap[index] = parent;
      parent.index = index;
      index = parentIndex;
    }
    heap[index] = item;
    item.index = index;
  }

  #down(index: number): void {
    const heap = this.#heap;
    const item = heap[index]!;
    const size = heap.length;
    while (true) {
      let child = 2 * index + 1;
      if (child >= size) break;
      if (child + 1 < size && heap[child + 1]!.at < heap[child]!.at) child++;
      const smaller = heap[child]!;
      if (smaller.at >= item.at) break;
      heap[index] = smaller;
      smaller.index = index;
      index = child;
    }
    heap[index] = item;
    item.index = index;
  }
}

/**
 * A {@linkcode Clock} whose timeouts are entries of `deadlines`: code written
 * against a clock, such as a heartbeat, costs each of thousands of
 * connections a heap entry instead of a runtime timer.
 */
export function heapClock(deadlines: Deadlines, clock: Clock): Clock {
  return {
    now: () => clock.now(),
    setTimeout(callback, ms) {
      const deadline: Deadline = {
        at: clock.now() + ms,
        index: -1,
        expire: callback,
      };
      deadlines.add(deadline);
      return deadline;
    },
    clearTimeout(handle) {
      if (handle !== undefined) deadlines.remove(handle as Deadline);
    },
  };
}
