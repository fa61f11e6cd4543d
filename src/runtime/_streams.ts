import type { Conn } from "./types.ts";

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
