// A clock for pure-logic tests: time moves only when the test says so.
import type { Clock } from "../mod.ts";

interface Timer {
  id: number;
  at: number;
  callback: () => void;
  persistent: boolean;
}

export class FakeClock implements Clock {
  #now = 0;
  #next = 1;
  #timers = new Map<number, Timer>();

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number, persistent: boolean): unknown {
    const id = this.#next++;
    this.#timers.set(id, { id, at: this.#now + ms, callback, persistent });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  /** Timers still pending. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Delays of the pending timers, from now, soonest first. */
  get delays(): number[] {
    return [...this.#timers.values()].map((t) => t.at - this.#now).sort((
      a,
      b,
    ) => a - b);
  }

  /** Pending timers that would keep a process alive. */
  get persistent(): number {
    return [...this.#timers.values()].filter((t) => t.persistent).length;
  }

  /** Moves time forward by `ms`, firing every timer that falls due. */
  tick(ms: number): void {
    const end = this.#now + ms;
    while (true) {
      let due: Timer | undefined;
      for (const timer of this.#timers.values()) {
        if (timer.at <= end && (!due || timer.at < due.at)) due = timer;
      }
      if (!due) break;
      this.#timers.delete(due.id);
      this.#now = due.at;
      due.callback();
    }
    this.#now = end;
  }
}

/** Lets pending promise callbacks run. */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await Promise.resolve();
}
