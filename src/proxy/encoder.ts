import type { NetAddr } from "../runtime/types.ts";
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from "./_ip.ts";
import {
  crc32c,
  MAX_UNIQUE_ID,
  TLV_ALPN,
  TLV_AUTHORITY,
  TLV_CRC32C,
  TLV_NETNS,
  TLV_UNIQUE_ID,
  UNIX_ADDRESS_SIZE,
  V2_SIGNATURE,
} from "./_wire.ts";
import { MAX_V2_HEADER_SIZE } from "./parser.ts";
import type { ProxyHeaderInit, ProxyTlv, ProxyTransport } from "./types.ts";
const encoder = new TextEncoder();

/**
 * Writes a PROXY protocol header.
 *
 * @param init What the header says.
 * @returns The header's bytes, to send before anything else.
 * @throws {TypeError} If an address is not an IP address (or a Unix path in
 * version 2), `source` comes without `destination`, a field does not fit, or
 * version 1 is asked for fields.
 *
 * @example A version 1 header
 * ```ts
 * import { encodeProxyHeader } from "@tether/tcp/proxy";
 * import assert from "node:assert/strict";
 *
 * const bytes = encodeProxyHeader({
 *   version: 1,
 *   source: { hostname: "192.0.2.1", port: 56324 },
 *   destination: { hostname: "192.0.2.11", port: 443 },
 * });
 * assert.equal(
 *   new TextDecoder().decode(bytes),
 *   "PROXY TCP4 192.0.2.1 192.0.2.11 56324 443\r\n",
 * );
 * ```
 */
export function encodeProxyHeader(init: ProxyHeaderInit): Uint8Array {
  const { version = 2, command = "PROXY", source, destination } = init;
  if (version !== 1 && version !== 2) {
    throw fail(`'version' must be 1 or 2: current value is ${version}`);
  }
  if (command !== "PROXY" && command !== "LOCAL") {
    throw fail(
      `'command' must be "PROXY" or "LOCAL": current value is ${command}`,
    );
  }
  if ((source === undefined) !== (destination === undefined)) {
    throw fail("'source' and 'destination' must be given together");
  }
  const addresses = command === "PROXY" && source && destination
    ? encodeAddresses(source, destination, init.transport)
    : undefined;
  if (version === 1) return encodeV1(init, addresses);
  const tlvs: ProxyTlv[] = [];
  const add = (type: number, value: Uint8Array | undefined) => {
    if (value) tlvs.push({ type, value });
  };
  add(
    TLV_ALPN,
    init.alpn === undefined ? undefined : encoder.encode(init.alpn),
  );
  add(
    TLV_AUTHORITY,
    init.authority === undefined ? undefined : encoder.encode(init.authority),
  );
  if (init.uniqueId && init.uniqueId.byteLength > MAX_UNIQUE_ID) {
    throw fail(`'uniqueId' must be at most ${MAX_UNIQUE_ID} bytes`);
  }
  add(TLV_UNIQUE_ID, init.uniqueId);
  add(
    TLV_NETNS,
    init.netns === undefined ? undefined : encoder.encode(init.netns),
  );
  const written = new Set(tlvs.map((tlv) => tlv.type));
  for (const tlv of init.tlvs ?? []) {
    const { type, value } = tlv;
    if (!Number.isInteger(type) || type < 0 || type > 0xff) {
      throw fail(`a TLV type must be from 0 to 255: current value is ${type}`);
    }
    if (!(value instanceof Uint8Array)) {
      throw fail(`the value of TLV 0x${type.toString(16)} must be bytes`);
    }
    if (!written.has(type) && type !== TLV_CRC32C) tlvs.push(tlv);
  }
  if (init.crc32c) tlvs.push({ type: TLV_CRC32C, value: new Uint8Array(4) });
  const addressBytes = addresses?.v2 ?? new Uint8Array(0);
  let size = 16 + addressBytes.byteLength;
  for (const { value } of tlvs) size += 3 + value.byteLength;
  if (size > MAX_V2_HEADER_SIZE) {
    throw fail(`the header of ${size} bytes exceeds ${MAX_V2_HEADER_SIZE}`);
  }
  const header = new Uint8Array(size);
  header.set(V2_SIGNATURE);
  header[12] = 0x20 | (command === "LOCAL" ? 0 : 1);
  header[13] = addresses?.family ?? 0;
  header[14] = (size - 16) >> 8;
  header[15] = (size - 16) & 0xff;
  header.set(addressBytes, 16);
  let offset = 16 + addressBytes.byteLength;
  let crcAt = -1;
  for (const { type, value } of tlvs) {
    header[offset] = type;
    header[offset + 1] = value.byteLength >> 8;
    header[offset + 2] = value.byteLength & 0xff;
    header.set(value, offset + 3);
    if (type === TLV_CRC32C && init.crc32c) crcAt = offset + 3;
    offset += 3 + value.byteLength;
  }
  if (crcAt >= 0) {
    new DataView(header.buffer).setUint32(crcAt, crc32c(header));
  }
  return header;
}

function fail(reason: string): TypeError {
  return new TypeError(`Cannot encode the PROXY protocol header as ${reason}`);
}

interface EncodedAddresses {
  family: number;
  transport: ProxyTransport;
  v1?: string;
  v2: Uint8Array;
}

function encodeAddresses(
  source: NetAddr,
  destination: NetAddr,
  transport: ProxyTransport | undefined,
): EncodedAddresses {
  if (source.transport === "unix" || destination.transport === "unix") {
    const kind = transport ?? "UNIX_STREAM";
    if (kind !== "UNIX_STREAM" && kind !== "UNIX_DGRAM") {
      throw fail(`Unix socket addresses cannot be sent as ${kind}`);
    }
    const bytes = new Uint8Array(2 * UNIX_ADDRESS_SIZE);
    [source, destination].forEach((address, i) => {
      const path = encoder.encode(address.path ?? "");
      if (path.byteLength >= UNIX_ADDRESS_SIZE) {
        throw fail(
          `a Unix socket path must be under ${UNIX_ADDRESS_SIZE} bytes`,
        );
      }
      bytes.set(path, i * UNIX_ADDRESS_SIZE);
    });
    return {
      family: kind === "UNIX_STREAM" ? 0x31 : 0x32,
      transport: kind,
      v2: bytes,
    };
  }
  for (const { port } of [source, destination]) {
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
      throw fail(
        `a port must be an integer from 0 to 65535: current value is ${port}`,
      );
    }
  }
  const v4 = [parseIPv4(source.hostname), parseIPv4(destination.hostname)];
  const wantsV6 = transport === "TCP6" || transport === "UDP6";
  if (v4[0] && v4[1] && !wantsV6) {
    const kind = transport ?? "TCP4";
    if (kind !== "TCP4" && kind !== "UDP4") {
      throw fail(`IPv4 addresses cannot be sent as ${kind}`);
    }
    const family = kind === "TCP4" ? 0x11 : 0x12;
    return ipAddresses(kind, family, [v4[0], v4[1]], source, destination);
  }
  // Mixed families are sent as IPv6, the IPv4 one IPv4-mapped.
  const v6 = [source.hostname, destination.hostname].map((hostname, i) => {
    const mapped = v4[i];
    if (mapped) {
      const bytes = new Uint8Array(16);
      bytes[10] = bytes[11] = 0xff;
      bytes.set(mapped, 12);
      return bytes;
    }
    const bytes = parseIPv6(hostname.replace(/^\[(.*)\]$/, "$1"));
    if (!bytes) {
      throw fail(
        `an address must be an IP address: current value is ${
          JSON.stringify(hostname)
        }`,
      );
    }
    return bytes;
  }) as [Uint8Array, Uint8Array];
  const kind = transport ?? "TCP6";
  if (kind !== "TCP6" && kind !== "UDP6") {
    throw fail(`IPv6 addresses cannot be sent as ${kind}`);
  }
  const family = kind === "TCP6" ? 0x21 : 0x22;
  return ipAddresses(kind, family, v6, source, destination);
}

/** The addresses of an IP header: 4 or 16 bytes each, then the ports. */
function ipAddresses(
  transport: ProxyTransport,
  family: number,
  ips: [Uint8Array, Uint8Array],
  source: NetAddr,
  destination: NetAddr,
): EncodedAddresses {
  const size = ips[0].byteLength;
  const bytes = new Uint8Array(2 * size + 4);
  bytes.set(ips[0], 0);
  bytes.set(ips[1], size);
  const view = new DataView(bytes.buffer);
  view.setUint16(2 * size, source.port);
  view.setUint16(2 * size + 2, destination.port);
  const format = size === 4 ? formatIPv4 : formatIPv6;
  return {
    family,
    transport,
    v1: `TCP${size === 4 ? 4 : 6} ${format(ips[0])} ${
      format(ips[1])
    } ${source.port} ${destination.port}`,
    v2: bytes,
  };
}

function encodeV1(
  init: ProxyHeaderInit,
  addresses: EncodedAddresses | undefined,
): Uint8Array {
  if (
    init.alpn !== undefined || init.authority !== undefined ||
    init.uniqueId !== undefined || init.netns !== undefined ||
    (init.tlvs !== undefined && init.tlvs.length > 0) || init.crc32c
  ) {
    throw fail("version 1 has no fields (TLVs): use version 2");
  }
  if (addresses && addresses.v1 === undefined) {
    throw fail(`version 1 cannot send ${addresses.transport} addresses`);
  }
  if (addresses && addresses.transport.startsWith("UDP")) {
    throw fail("version 1 cannot send UDP addresses");
  }
  return encoder.encode(`PROXY ${addresses?.v1 ?? "UNKNOWN"}\r\n`);
}
