// An in-memory Conn whose far end the test drives: for Connection and
// Client logic without sockets.
import { NetError } from "../mod.ts";
import type { Conn } from "../src/runtime/types.ts";
import { encodeFrame, type Framing } from "../src/framing/framing.ts";
import { lengthPrefixed } from "../src/framing/length_prefixed.ts";

const text = new TextDecoder();

/** The far end of an in-memory connection. */
export interface Peer {
  /** Sends raw bytes to the client. */
  send(bytes: Uint8Array): void;
  /** Sends one frame to the client. */
  frame(payload: string): void;
  /** Closes the connection from the far end (FIN). */
  end(): void;
  /** The frames the client wrote. */
  frames(): string[];
  /** How many writes the client made. */
  readonly writes: number;
  /** Chunks sent to the client that it has not read yet. */
  readonly unread: number;
  readonly closed: boolean;
}

export function memoryConn(
  framing: Framing = lengthPrefixed({ maxFrameSize: 1024 }),
): { conn: Conn; peer: Peer } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const readable = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  const written: Uint8Array[] = [];
  let closed = false;
  const end = () => {
    try {
      controller.close();
    } catch {
      // already closed
    }
  };
  const conn: Conn = {
    readable,
    // Read through `readable`, which knows no targets.
    readsIntoTarget: false,
    writable: new WritableStream(),
    localAddr: { hostname: "127.0.0.1", port: 1 },
    remoteAddr: { hostname: "127.0.0.1", port: 2 },
    write(chunk) {
      if (closed) return Promise.reject(new NetError("ECLOSED", "write"));
      written.push(chunk.slice());
      return Promise.resolve();
    },
    closeWrite: () => Promise.resolve(),
    close() {
      closed = true;
      end();
    },
    setNoDelay() {},
    setKeepAlive() {},
  };
  const peer: Peer = {
    send: (bytes) => controller.enqueue(bytes),
    frame: (payload) =>
      controller.enqueue(
        encodeFrame(framing, new TextEncoder().encode(payload)),
      ),
    end,
    frames() {
      const frames: string[] = [];
      const decoder = framing.createDecoder();
      for (const chunk of written) {
        decoder.decode(chunk, { enqueue: (f) => frames.push(text.decode(f)) });
      }
      return frames;
    },
    get writes() {
      return written.length;
    },
    get unread() {
      // The stream's high-water mark is one chunk.
      return 1 - (controller.desiredSize ?? 1);
    },
    get closed() {
      return closed;
    },
  };
  return { conn, peer };
}
