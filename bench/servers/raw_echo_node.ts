/**
 * The Node baseline: a byte-for-byte echo with no framing at all, the least
 * work a Node server can do per byte. Each `data` chunk is written straight
 * back; while Node's write buffer is over its high-water mark, reading
 * pauses until `drain`. Nagle is off.
 *
 *     node --import tsx bench/servers/raw_echo_node.ts --port 0
 *
 * Prints `listening on HOST:PORT` as its first line.
 */
import { createServer } from "node:net";
import { serverAddress } from "./_address.ts";

const { host, port } = serverAddress();

const server = createServer(
  { allowHalfOpen: true, noDelay: true },
  (socket) => {
    socket.on("data", (chunk) => {
      if (!socket.write(chunk)) socket.pause();
    });
    socket.on("drain", () => socket.resume());
    // The peer is done sending: end once everything is echoed.
    socket.on("end", () => socket.end());
    // A peer that resets the connection ends it; nothing to report.
    socket.on("error", () => {});
  },
);
server.listen({ host: host, port }, () => {
  const address = server.address();
  const bound = typeof address === "object" && address ? address.port : port;
  console.log(`listening on ${host}:${bound}`);
});
