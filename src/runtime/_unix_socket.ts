import { NetError } from "../errors.ts";
import { toNetError, unixAddr } from "./_net_error.ts";
import type {
  Conn,
  Listener,
  RuntimeConnectOptions,
  RuntimeListenOptions,
} from "./types.ts";

// Loaded on first use: only Unix listeners touch the file system.
const fs = () => import("node:fs/promises");

/**
 * Binds a Unix socket listener with `bind`, after removing a stale socket
 * file at `options.path`, and sets the file's `mode`.
 *
 * A socket file outlives a server that crashed, and binding over it fails.
 * It is stale only when nothing answers on it, so `dial` tries it first: a
 * refused connection frees the path, and a live server fails the listen
 * with `EADDRINUSE` rather than lose its clients. Files that are not
 * sockets are never removed.
 */
export async function bindUnix<L extends Listener>(
  options: RuntimeListenOptions & { path: string },
  dial: (options: RuntimeConnectOptions) => Promise<Conn>,
  bind: () => L | Promise<L>,
): Promise<L> {
  const { path, mode } = options;
  const { chmod, lstat, rm } = await fs();
  const before = await lstat(path).catch(() => undefined);
  if (before?.isSocket()) {
    let live = true;
    try {
      (await dial({ hostname: "", port: 0, path })).close();
    } catch (error) {
      live = !(error instanceof NetError && error.code === "ECONNREFUSED");
    }
    if (live) {
      throw new NetError("EADDRINUSE", "listen", unixAddr(path), {
        reason: "socket is in use: a server answers on it",
      });
    }
    // Removed only if it is still the socket file that refused.
    const now = await lstat(path).catch(() => undefined);
    if (now?.isSocket() && now.ino === before.ino) {
      await rm(path, { force: true });
    }
  }
  const listener = await bind();
  if (mode !== undefined) {
    try {
      await chmod(path, mode);
    } catch (error) {
      listener.close();
      throw toNetError(error, "listen", unixAddr(path));
    }
  }
  return listener;
}
