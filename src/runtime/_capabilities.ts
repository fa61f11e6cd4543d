import { NetError } from "../errors.ts";
import { targetAddr } from "./_net_error.ts";
import type { RuntimeListenOptions } from "./types.ts";

/**
 * The error for what a runtime cannot do with `options`, or `undefined`:
 * TLS over a Unix socket (Deno cannot, so no runtime does), `reusePort` on a
 * Unix socket, and `reusePort` where `reusePortMissing` says why the runtime
 * cannot. Never ignored: a listener that silently lacks `reusePort` would
 * make a second one fail with `EADDRINUSE`, far from the cause.
 */
export function unsupported(
  operation: "connect" | "listen",
  options: Omit<RuntimeListenOptions, "tls"> & { tls?: unknown },
  reusePortMissing?: string,
): NetError | undefined {
  const { path, tls, reusePort } = options;
  const reason = path === undefined
    ? reusePort ? reusePortMissing : undefined
    : tls
    ? "runtime cannot speak TLS over a Unix socket, as Deno cannot"
    : reusePort
    ? "'reusePort' option does not apply to a Unix socket"
    : undefined;
  return reason === undefined
    ? undefined
    : new NetError("ENOTSUP", operation, targetAddr(options), { reason });
}

/**
 * Whether Node `version` (such as `v22.12.0`) binds with `reusePort`: from
 * 22.12 and 23.1 on. Older versions ignore the option without a word.
 */
export function nodeHasReusePort(version: string): boolean {
  const [major = 0, minor = 0] = version.replace(/^v/, "").split(".").map(
    Number,
  );
  return major > 23 || (major === 23 && minor >= 1) ||
    (major === 22 && minor >= 12);
}
