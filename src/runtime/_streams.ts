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
