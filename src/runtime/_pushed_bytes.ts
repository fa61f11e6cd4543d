/** The flow control of a socket that pushes what it reads. */
export interface Pausable {
  pause(): void;
  resume(): void;
}

// Bun hands out chunks of up to 512 KiB and Node of up to 64 KiB, each in a
// buffer of its own, so the queue is bounded in bytes, not chunks; past this
// the socket is paused.
const READ_HIGH_WATER_MARK = 64 * 1024;

/**
 * The `readable` of a socket whose runtime pushes data events (Bun, Node):
 * the socket is paused while the reader lags and resumed when it pulls.
 */
export class PushedBytes {
  readonly readable: ReadableStream<Uint8Array>;
  #socket: Pausable;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #paused = false;
  #done = false;
  #detached = false;

  constructor(socket: Pausable) {
    this.#socket = socket;
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => {
        if (this.#paused && !this.#detached) {
          this.#paused = false;
          this.#socket.resume();
        }
      },
      cancel: () => {
        // Reading stops, writing goes on: keep the socket paused so the
        // kernel, not this process, holds what the peer sends.
        this.#done = true;
        this.#pause();
      },
    }, new ByteLengthQueuingStrategy({ highWaterMark: READ_HIGH_WATER_MARK }));
  }

  #pause(): void {
    if (!this.#paused && !this.#detached) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

  /** Queues bytes the socket read. */
  push(chunk: Uint8Array): void {
    if (this.#done) return;
    this.#controller.enqueue(chunk);
    if ((this.#controller.desiredSize ?? 0) <= 0) this.#pause();
  }

  /** The peer sent a FIN: the stream closes once the queue is read. */
  end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#controller.close();
  }

  /** The socket is closed or closing: it must not be paused or resumed. */
  detach(): void {
    this.#detached = true;
  }

  /**
   * The socket closed: the stream errors with `error`, or, without one,
   * closes.
   */
  close(error?: unknown): void {
    this.#detached = true;
    if (this.#done) return;
    this.#done = true;
    if (error === undefined) this.#controller.close();
    else this.#controller.error(error);
  }
}
