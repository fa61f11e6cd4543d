import { NetError } from "../errors.ts";
import type { Conn, Runtime, RuntimeConnectOptions } from "../runtime/types.ts";
import { encodeProxyHeader } from "./encoder.ts";
import { parseProxyHeader } from "./parser.ts";
import type { ProxyHeaderInit } from "./types.ts";

/**
 * The bytes of `connect({ proxyHeader })`: encoded, or checked to be exactly
 * one header.
 *
 * @throws {TypeError} If the header cannot be encoded, or the bytes are not
 * one whole header.
 */
export function proxyHeaderBytes(
  header: ProxyHeaderInit | Uint8Array,
): Uint8Array {
  if (!(header instanceof Uint8Array)) return encodeProxyHeader(header);
  let length: number | undefined;
  let why = "it ends inside the header";
  try {
    length = parseProxyHeader(header)?.length;
  } catch (error) {
    why = (error as Error).message;
  }
  if (length !== header.byteLength) {
    throw new TypeError(
      `Cannot connect as 'proxyHeader' must be exactly one PROXY protocol header: ${
        length === undefined
          ? why
          : `${header.byteLength - length} bytes follow the header`
      }`,
    );
  }
  return header.slice();
}

/**
 * Dials as `runtime.connect()` does, but sends `header` first, and only then
 * starts TLS when `options.tls` asks for it.
 */
export async function connectWithHeader(
  runtime: Runtime,
  header: Uint8Array | undefined,
  options: RuntimeConnectOptions,
): Promise<Conn> {
  if (!header) return runtime.connect(options);
  const { tls, ...plain } = options;
  if (tls && !runtime.startTls) {
    const { hostname, port } = options;
    throw new NetError("ENOTSUP", "connect", { hostname, port }, {
      reason:
        `runtime (${runtime.name}) cannot start TLS after a PROXY protocol header`,
    });
  }
  const conn = await runtime.connect(plain);
  try {
    await conn.write(header);
    return tls ? await runtime.startTls!(conn, options) : conn;
  } catch (error) {
    conn.close();
    throw error;
  }
}
