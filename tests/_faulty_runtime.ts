// Test helper: a Runtime whose connections fail when a test says so, to stage
// what real sockets cannot stage on demand. Not a test file.
import {
  type NetAddr,
  NetError,
  type NetErrorCode,
  type Runtime,
} from "../mod.ts";
import type {
  ChunkSink,
  Conn,
  Listener,
  RuntimeConnectOptions,
  RuntimeListenOptions,
} from "../src/runtime/types.ts";
import { type Deferred, deferred } from "./_async.ts";
import { prng } from "./framing/_chunking.ts";

/** A connection made or accepted through {@linkcode Faults.runtime}. */
export interface FaultyConn extends Conn {
  /** The real connection underneath, untouched by faults. */
  readonly inner: Conn;
}

/** A fault-injecting wrapper over a runtime, and the connections it made. */
export interface Faults {
  /** The wrapped runtime to hand to listen/connect/createClient. */
  readonly runtime: Runtime;
  /** Every connection made or accepted through `runtime`, in order. */
  readonly conns: FaultControl[];
  /** Resolves with the next connection made or accepted, one per call in call order (already-made ones are not returned). */
  next(): Promise<FaultControl>;
  /** Makes the next `count` connect() calls fail with NetError(code, "connect") without dialling (default code ECONNREFUSED). */
  refuse(count?: number, code?: NetErrorCode): void;
}

/** The faults of one connection. */
export interface FaultControl {
  /** Whether the connection was made by connect() or accepted by a listener. */
  readonly side: "connect" | "accept";
  /** The wrapped connection, as handed out by the runtime. */
  readonly conn: FaultyConn;
  /** Local failure as after an RST: pending and later reads reject with NetError("ECONNRESET","read"), writes reject with NetError("ECONNRESET","write"); the real socket is closed. */
  reset(): void;
  /** Silently drops both ways: writes resolve but nothing is sent; nothing more arrives (pending reads stay pending, not ended) until close(). */
  blackhole(): void;
  /** Splits every later write into pieces at random points (seeded prng) written in order; the write resolves after the last piece. */
  sliceWrites(seed: number): void;
  /** Makes writes stop completing, as against a peer that stopped reading with full buffers: later write() promises stay pending until resume() (then they complete in order) or reset()/close() (then they reject with NetError ECLOSED/ECONNRESET as appropriate). */
  stopWrites(): void;
  /** Lets the writes held by stopWrites() go on, in order. */
  resume(): void;
  /** Fails the next write (only) with NetError(code, "write"), default EPIPE, leaving the socket open for reads. */
  failNextWrite(code?: NetErrorCode): void;
  /** Bytes the real socket has accepted from the wrapped conn. */
  readonly written: number;
}

const RESOLVED: Promise<void> = Promise.resolve();

/** Splits `chunk` into pieces of 1 byte up to all of what is left. */
function slices(chunk: Uint8Array, random: () => number): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < chunk.byteLength;) {
    // The product of two draws favours small pieces, so headers get cut too.
    const size = 1 + Math.floor(random() * random() * (chunk.byteLength - at));
    pieces.push(chunk.subarray(at, at + size));
    at += size;
  }
  return pieces;
}

class FaultyConnection implements FaultyConn, FaultControl {
  readonly side: "connect" | "accept";
  readonly inner: Conn;
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  read?(target?: Uint8Array): Promise<Uint8Array | null>;
  pull?(sink: ChunkSink, target?: Uint8Array): void;
  #written = 0;
  #closed = false;
  #reset = false;
  #blackholed = false;
  #slicer: (() => number) | undefined;
  #failNext: NetErrorCode | undefined;
  // Held writes wait on it, then look at the state again.
  #stopped: Deferred<void> | undefined;
  // The reader of a blackholed connection, answered only by close or reset.
  #held: ChunkSink | undefined;
  #innerReader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #readable: ReadableStream<Uint8Array> | undefined;
  #writable: WritableStream<Uint8Array> | undefined;

  constructor(inner: Conn, side: "connect" | "accept") {
    this.inner = inner;
    this.side = side;
    this.localAddr = inner.localAddr;
    this.remoteAddr = inner.remoteAddr;
    // Frame readers pick their path by which methods exist.
    if (inner.read) {
      this.read = (target) =>
        new Promise((chunk, fail) => this.#read({ chunk, fail }, target));
    }
    if (inner.pull) this.pull = (sink, target) => this.#read(sink, target);
  }

  get conn(): FaultyConn {
    return this;
  }

  // Reads go to the inner conn's read() or pull(), target and all.
  get readsIntoTarget(): boolean {
    return this.inner.readsIntoTarget === true;
  }

  get written(): number {
    return this.#written;
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const chunk = await new Promise<Uint8Array | null>((chunk, fail) =>
          this.#read({ chunk, fail })
        );
        if (chunk === null) controller.close();
        else controller.enqueue(chunk);
      },
      cancel: () => this.#innerReader?.cancel(),
    }, { highWaterMark: 0 });
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream<Uint8Array>({
      write: (chunk) => this.write(chunk),
      close: () => this.closeWrite(),
      abort: () => this.close(),
    });
  }

  #read(sink: ChunkSink, target?: Uint8Array): void {
    if (this.#reset) {
      // Like a real pull, the sink hears nothing before `pull` returns.
      void RESOLVED.then(() => sink.fail(this.#resetError("read")));
      return;
    }
    if (this.#blackholed && !this.#closed) {
      this.#held = sink;
      return;
    }
    const forward: ChunkSink = {
      chunk: (bytes) => this.#settle(sink, () => sink.chunk(bytes)),
      fail: (error) => this.#settle(sink, () => sink.fail(error)),
    };
    const inner = this.inner;
    if (inner.pull) inner.pull(forward, target);
    else if (inner.read) {
      inner.read(target).then(forward.chunk, forward.fail);
    } else {
      (this.#innerReader ??= inner.readable.getReader()).read().then(
        ({ value, done }) => forward.chunk(done ? null : value),
        forward.fail,
      );
    }
  }

  /** Hands the inner conn's outcome on, unless a fault has replaced it. */
  #settle(sink: ChunkSink, deliver: () => void): void {
    if (this.#reset) sink.fail(this.#resetError("read"));
    else if (this.#blackholed && !this.#closed) this.#held = sink;
    else deliver();
  }

  write(chunk: Uint8Array): Promise<void> {
    const code = this.#failNext;
    if (code !== undefined && !this.#closed) {
      this.#failNext = undefined;
      return Promise.reject(new NetError(code, "write", this.remoteAddr));
    }
    const pieces = this.#slicer ? slices(chunk, this.#slicer) : [];
    return pieces.length > 1
      ? this.#writePieces(pieces, 0)
      : this.#writePiece(chunk);
  }

  #writePieces(pieces: Uint8Array[], index: number): Promise<void> {
    const written = this.#writePiece(pieces[index]!);
    return index + 1 === pieces.length
      ? written
      : written.then(() => this.#writePieces(pieces, index + 1));
  }

  #writePiece(bytes: Uint8Array): Promise<void> {
    if (this.#reset) return Promise.reject(this.#resetError("write"));
    if (!this.#closed) {
      const stopped = this.#stopped;
      if (stopped) return stopped.promise.then(() => this.#writePiece(bytes));
      if (this.#blackholed) return RESOLVED;
    }
    // A write still pending when the reset came fails with it, however the
    // closed inner conn settles it.
    return this.inner.write(bytes).then(
      () => {
        if (this.#reset) throw this.#resetError("write");
        this.#written += bytes.byteLength;
      },
      (error) => {
        throw this.#reset ? this.#resetError("write") : error;
      },
    );
  }

  closeWrite(): Promise<void> {
    if (!this.#closed) {
      // The FIN must not overtake the data held before it.
      const stopped = this.#stopped;
      if (stopped) return stopped.promise.then(() => this.closeWrite());
      if (this.#blackholed) return RESOLVED;
    }
    return this.inner.closeWrite();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.resume();
    const held = this.#held;
    this.#held = undefined;
    // A closed adapter ends a pending read quietly; a reset one fails it.
    if (held) {
      void RESOLVED.then(() =>
        this.#reset ? held.fail(this.#resetError("read")) : held.chunk(null)
      );
    }
    this.inner.close();
  }

  setNoDelay(noDelay: boolean): void {
    this.inner.setNoDelay(noDelay);
  }

  setKeepAlive(keepAlive: boolean): void {
    this.inner.setKeepAlive(keepAlive);
  }

  reset(): void {
    if (this.#closed) return;
    this.#reset = true;
    this.close();
  }

  blackhole(): void {
    this.#blackholed = true;
  }

  sliceWrites(seed: number): void {
    this.#slicer = prng(seed);
  }

  stopWrites(): void {
    if (!this.#closed) this.#stopped ??= deferred();
  }

  resume(): void {
    const stopped = this.#stopped;
    this.#stopped = undefined;
    stopped?.resolve();
  }

  failNextWrite(code: NetErrorCode = "EPIPE"): void {
    this.#failNext = code;
  }

  #resetError(operation: "read" | "write"): NetError {
    return new NetError("ECONNRESET", operation, this.remoteAddr);
  }
}

class FaultyListener implements Listener {
  readonly addr: NetAddr;
  #inner: Listener;
  #wrap: (conn: Conn) => Conn;

  constructor(inner: Listener, wrap: (conn: Conn) => Conn) {
    this.#inner = inner;
    this.#wrap = wrap;
    this.addr = inner.addr;
  }

  async accept(): Promise<Conn | null> {
    const conn = await this.#inner.accept();
    return conn && this.#wrap(conn);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Conn> {
    for (let conn = await this.accept(); conn; conn = await this.accept()) {
      yield conn;
    }
  }

  close(): void {
    this.#inner.close();
  }
}

/**
 * Wraps `inner` so that each connection it makes or accepts can be faulted;
 * without faults, the connections behave exactly like `inner`'s.
 */
export function faultyRuntime(inner: Runtime): Faults {
  const conns: FaultControl[] = [];
  const waiting: ((control: FaultControl) => void)[] = [];
  const refusals: NetErrorCode[] = [];
  const track = (conn: Conn, side: "connect" | "accept"): FaultyConn => {
    const control = new FaultyConnection(conn, side);
    conns.push(control);
    waiting.shift()?.(control);
    return control;
  };
  const runtime: Runtime = {
    name: inner.name,
    async connect(options: RuntimeConnectOptions): Promise<Conn> {
      const code = refusals.shift();
      if (code !== undefined) {
        const { hostname, port } = options;
        throw new NetError(code, "connect", { hostname, port });
      }
      return track(await inner.connect(options), "connect");
    },
    async listen(options: RuntimeListenOptions): Promise<Listener> {
      return new FaultyListener(
        await inner.listen(options),
        (conn) => track(conn, "accept"),
      );
    },
  };
  return {
    runtime,
    conns,
    next: () => new Promise((resolve) => waiting.push(resolve)),
    refuse(count = 1, code = "ECONNREFUSED") {
      for (let i = 0; i < count; i++) refusals.push(code);
    },
  };
}
