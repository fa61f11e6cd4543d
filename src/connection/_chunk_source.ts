import { pulled } from "../_promises.ts";
import type { ChunkSink, Conn } from "../runtime/types.ts";

/** The chunks of a connection, read one at a time. */
export interface ChunkSource {
  /** Whether {@linkcode ChunkSource.pull} reads into the target it is given. */
  readonly readsIntoTarget: boolean;
  /** Hands the next chunk to `sink`; read into `target`, if the source can. */
  pull(sink: ChunkSink, target?: Uint8Array): void;
  /** The next chunk, as a promise. */
  read(): Promise<Uint8Array | null>;
  /** Stops reading; a read under way may still settle. */
  cancel(): void;
}

/** The parts of a runtime's connection that its chunks are read through. */
export type ReadableConn = Pick<
  Conn,
  "read" | "pull" | "readable" | "readsIntoTarget"
>;

/** Hands the outcome of a promised read to `sink`. */
function settle(read: Promise<Uint8Array | null>, sink: ChunkSink): void {
  read.then((bytes) => sink.chunk(bytes), (error) => sink.fail(error));
}

// A runtime's `pull()` or `read()` spares a stream per chunk, and `pull()` a
// promise too.
class ConnChunks implements ChunkSource {
  #conn: ReadableConn;

  constructor(conn: ReadableConn) {
    this.#conn = conn;
  }

  get readsIntoTarget(): boolean {
    return this.#conn.readsIntoTarget === true;
  }

  pull(sink: ChunkSink, target?: Uint8Array): void {
    const conn = this.#conn;
    if (conn.pull) conn.pull(sink, target);
    else settle(conn.read!(target), sink);
  }

  read(): Promise<Uint8Array | null> {
    const conn = this.#conn;
    return conn.read ? conn.read() : pulled((sink) => conn.pull!(sink));
  }

  cancel(): void {}
}

/** The chunks of `conn`: `readable` is the fallback every runtime has. */
export function chunksOf(conn: ReadableConn): ChunkSource {
  if (conn.pull || conn.read) return new ConnChunks(conn);
  const reader = conn.readable.getReader();
  const read = async () => {
    const { value, done } = await reader.read();
    return done ? null : value;
  };
  return {
    readsIntoTarget: false,
    pull: (sink) => settle(read(), sink),
    read,
    cancel: () => {
      reader.cancel().catch(() => {});
    },
  };
}
