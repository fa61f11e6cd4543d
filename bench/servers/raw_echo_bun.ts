/**
 * The Bun baseline: a byte-for-byte echo with no framing at all, the least
 * work a Bun server can do per byte. Each `data` chunk is written straight
 * back; `socket.write` may take only part of it, so the rest waits in a
 * queue that `drain` empties, and reading pauses while the queue holds more
 * than 1 MiB.
 *
 *     node_modules/.bin/bun run bench/servers/raw_echo_bun.ts --port 0
 *
 * Prints `listening on HOST:PORT` as its first line.
 */
import { serverAddress } from "./_address.ts";

// The slice of Bun's socket API used here, declared so that `deno check`
// passes without Bun's type package.
interface Socket {
  data: State;
  write(data: Uint8Array): number;
  end(): void;
  pause(): void;
  resume(): void;
  setNoDelay(noDelay?: boolean): boolean;
}
interface State {
  pending: Uint8Array[];
  pendingBytes: number;
  paused: boolean;
  ending: boolean;
}
interface BunListen {
  listen(options: {
    hostname: string;
    port: number;
    socket: {
      binaryType: "uint8array";
      open(socket: Socket): void;
      data(socket: Socket, data: Uint8Array): void;
      drain(socket: Socket): void;
      end?(socket: Socket): void;
      error?(socket: Socket, error: Error): void;
    };
  }): { hostname: string; port: number };
}
const Bun = (globalThis as unknown as { Bun: BunListen }).Bun;

const { host, port } = serverAddress();

const HIGH_WATER_MARK = 1024 * 1024;

/** Writes queued chunks until the socket takes no more. */
function flush(socket: Socket): void {
  const state = socket.data;
  while (state.pending.length > 0) {
    const chunk = state.pending[0]!;
    const n = socket.write(chunk);
    if (n > 0) state.pendingBytes -= n;
    if (n < chunk.byteLength) {
      if (n > 0) state.pending[0] = chunk.subarray(n);
      return; // Wait for drain.
    }
    state.pending.shift();
  }
}

const server = Bun.listen({
  hostname: host,
  port,
  socket: {
    binaryType: "uint8array",
    open(socket) {
      socket.data = {
        pending: [],
        pendingBytes: 0,
        paused: false,
        ending: false,
      };
      socket.setNoDelay(true);
    },
    data(socket, data) {
      const state = socket.data;
      if (state.pending.length === 0) {
        const n = socket.write(data);
        if (n >= data.byteLength) return;
        data = data.subarray(Math.max(n, 0));
      }
      // Copied: the queue outlives this callback.
      state.pending.push(data.slice());
      state.pendingBytes += data.byteLength;
      if (state.pendingBytes > HIGH_WATER_MARK && !state.paused) {
        state.paused = true;
        socket.pause();
      }
    },
    drain(socket) {
      const state = socket.data;
      flush(socket);
      if (state.pending.length === 0 && state.ending) {
        socket.end();
        return;
      }
      if (state.paused && state.pendingBytes <= HIGH_WATER_MARK / 2) {
        state.paused = false;
        socket.resume();
      }
    },
    end(socket) {
      // The peer is done sending: end once everything is echoed.
      if (socket.data.pending.length === 0) socket.end();
      else socket.data.ending = true;
    },
    error() {
      // A peer that resets the connection ends it; nothing to report.
    },
  },
});
console.log(`listening on ${server.hostname}:${server.port}`);
