import type { Conn, Listener } from "./types.ts";

/**
 * Builds the `writable` of a {@linkcode Conn} from its `write`, `closeWrite`
 * and `close`, so every adapter gets the same stream semantics.
 */
export function writableFor(conn: Conn): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    write: (chunk) => conn.write(chunk),
    close: () => conn.closeWrite(),
    abort: () => conn.close(),
  });
}

/**
 * Builds the `readable` of a {@linkcode Conn} from its `read`: chunks are
 * read only when the stream is read, so the adapter's own queue is the only
 * buffer.
 */
export function readableFor(
  conn: { read(): Promise<Uint8Array | null> },
  cancel: () => void,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      const chunk = await conn.read();
      if (chunk === null) controller.close();
      else controller.enqueue(chunk);
    },
    cancel,
  }, { highWaterMark: 0 });
}

/** Iterates the connections of a listener until it is closed. */
export async function* acceptAll(listener: Listener): AsyncGenerator<Conn> {
  for (
    let conn = await listener.accept();
    conn;
    conn = await listener.accept()
  ) {
    yield conn;
  }
}
