// Two servers on one port with `reusePort`, shared by the reusePort tests
// and their fixture, which runs it in a process of its own.
import { connect, listen, type Runtime } from "../mod.ts";

/**
 * Binds two servers to one port with `reusePort`, makes `clients`
 * connections to it, and returns how many each server accepted.
 */
export async function spread(
  clients: number,
  runtime?: Runtime,
): Promise<[number, number]> {
  const counts: [number, number] = [0, 0];
  const on = runtime ? { runtime } : {};
  const options = { hostname: "127.0.0.1", reusePort: true, ...on };
  await using first = await listen({
    ...options,
    port: 0,
    handler: () => void counts[0]++,
  });
  const port = first.addr.port;
  await using _second = await listen({
    ...options,
    port,
    handler: () => void counts[1]++,
  });
  for (let i = 0; i < clients; i++) {
    await using conn = await connect({ port, ...on });
    // The server closes a connection once its handler has returned.
    for await (const _ of conn) { /* nothing is sent */ }
  }
  return counts;
}
