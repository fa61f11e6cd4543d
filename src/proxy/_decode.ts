import {
  crc32c,
  MAX_UNIQUE_ID,
  SSL_CIPHER,
  SSL_CN,
  SSL_KEY_ALG,
  SSL_SIG_ALG,
  SSL_VERSION,
  TLV_ALPN,
  TLV_AUTHORITY,
  TLV_CRC32C,
  TLV_NETNS,
  TLV_SSL,
  TLV_UNIQUE_ID,
  UNIX_ADDRESS_SIZE,
} from "./_wire.ts";
import type { ProxyInfo, ProxySsl, ProxyTlv, ProxyTransport } from "./types.ts";
import type { NetAddr } from "../runtime/types.ts";
import { ProxyProtocolError } from "./errors.ts";
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from "./_ip.ts";

const text = new TextDecoder();

export function invalid(reason: string): ProxyProtocolError {
  return new ProxyProtocolError("PROXY_INVALID", reason);
}

const V1_PORT = /^(0|[1-9][0-9]{0,4})$/;

export function parseV1(header: Uint8Array): ProxyInfo {
  const length = header.byteLength;
  if (header[length - 2] !== 0x0d) {
    throw invalid("the version 1 header ends with LF, not CRLF");
  }
  for (let i = 0; i < length - 2; i++) {
    const byte = header[i]!;
    if (byte < 0x20 || byte > 0x7e) {
      throw invalid(
        `the version 1 header holds the byte 0x${
          byte.toString(16).padStart(2, "0")
        }`,
      );
    }
  }
  const fields = text.decode(header.subarray(0, length - 2)).split(" ");
  const transport = fields[1];
  if (transport === "UNKNOWN") {
    // The rest of the line is to be ignored.
    return v1Info("UNKNOWN", undefined, undefined);
  }
  if ((transport !== "TCP4" && transport !== "TCP6") || fields.length !== 6) {
    throw invalid(
      `the version 1 header is not "PROXY TCP4|TCP6 <source> <destination> <source port> <destination port>" nor "PROXY UNKNOWN"`,
    );
  }
  const parse = transport === "TCP4" ? parseIPv4 : parseIPv6;
  const format = transport === "TCP4" ? formatIPv4 : formatIPv6;
  const [, , source, destination, sourcePort, destinationPort] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const sourceBytes = parse(source);
  const destinationBytes = parse(destination);
  if (!sourceBytes || !destinationBytes) {
    throw invalid(
      `the version 1 header holds an address that is not ${
        transport === "TCP4" ? "IPv4" : "IPv6"
      }`,
    );
  }
  const port = (field: string) => {
    const value = V1_PORT.test(field) ? Number(field) : NaN;
    if (!(value <= 0xffff)) {
      throw invalid(`the version 1 header holds the port ${field}`);
    }
    return value;
  };
  return v1Info(
    transport,
    { hostname: format(sourceBytes), port: port(sourcePort) },
    { hostname: format(destinationBytes), port: port(destinationPort) },
  );
}

function v1Info(
  transport: ProxyTransport,
  source: NetAddr | undefined,
  destination: NetAddr | undefined,
): ProxyInfo {
  return {
    version: 1,
    command: "PROXY",
    transport,
    source,
    destination,
    tlvs: [],
  };
}

const FAMILIES: Readonly<Record<number, ProxyTransport>> = {
  0x00: "UNKNOWN",
  0x11: "TCP4",
  0x12: "UDP4",
  0x21: "TCP6",
  0x22: "UDP6",
  0x31: "UNIX_STREAM",
  0x32: "UNIX_DGRAM",
};
const ADDRESS_SIZES: Readonly<Record<string, number>> = {
  UNKNOWN: 0,
  TCP4: 12,
  UDP4: 12,
  TCP6: 36,
  UDP6: 36,
  UNIX_STREAM: 2 * UNIX_ADDRESS_SIZE,
  UNIX_DGRAM: 2 * UNIX_ADDRESS_SIZE,
};

export function parseV2(header: Uint8Array): ProxyInfo {
  const command = header[12]! & 0x0f;
  if (command > 1) {
    throw invalid(`the version 2 header has the command 0x${command}`);
  }
  const family = header[13]!;
  // Families are checked with LOCAL too, which ignores them.
  const transport = FAMILIES[family];
  if (transport === undefined) {
    throw invalid(
      `the version 2 header has the family and protocol 0x${
        family.toString(16).padStart(2, "0")
      }`,
    );
  }
  const addressSize = ADDRESS_SIZES[transport]!;
  if (header.byteLength - 16 < addressSize) {
    throw invalid(
      `the version 2 header is too short for its ${transport} addresses`,
    );
  }
  const view = new DataView(
    header.buffer,
    header.byteOffset,
    header.byteLength,
  );
  let source: NetAddr | undefined;
  let destination: NetAddr | undefined;
  if (addressSize === 12 || addressSize === 36) {
    // 4 or 16 bytes per address, then the two ports.
    const size = (addressSize - 4) / 2;
    const format = size === 4 ? formatIPv4 : formatIPv6;
    const at = (i: number): NetAddr => ({
      hostname: format(header.subarray(16 + i * size, 16 + (i + 1) * size)),
      port: view.getUint16(16 + 2 * size + 2 * i),
    });
    source = at(0);
    destination = at(1);
  } else if (transport !== "UNKNOWN") {
    source = unixAddress(header.subarray(16, 16 + UNIX_ADDRESS_SIZE));
    destination = unixAddress(
      header.subarray(16 + UNIX_ADDRESS_SIZE, 16 + 2 * UNIX_ADDRESS_SIZE),
    );
  }
  const tlvs = parseTlvs(header.subarray(16 + addressSize), "header");
  const info: {
    -readonly [Key in keyof ProxyInfo]: ProxyInfo[Key];
  } = {
    version: 2,
    command: command === 0 ? "LOCAL" : "PROXY",
    transport,
    source: command === 0 ? undefined : source,
    destination: command === 0 ? undefined : destination,
    tlvs,
  };
  let crc: ProxyTlv | undefined;
  for (const tlv of tlvs) {
    const { type, value } = tlv;
    if (type === TLV_ALPN) info.alpn = text.decode(value);
    else if (type === TLV_AUTHORITY) info.authority = text.decode(value);
    else if (type === TLV_UNIQUE_ID) {
      if (value.byteLength > MAX_UNIQUE_ID) {
        throw invalid(
          `the version 2 header has a unique id of ${value.byteLength} bytes, more than ${MAX_UNIQUE_ID}`,
        );
      }
      info.uniqueId = value;
    } else if (type === TLV_SSL) info.ssl = parseSsl(value);
    else if (type === TLV_NETNS) info.netns = text.decode(value);
    else if (type === TLV_CRC32C) {
      if (crc || value.byteLength !== 4) {
        throw invalid("the version 2 header has a malformed CRC32C field");
      }
      crc = tlv;
    }
  }
  if (crc) checkCrc(header, crc.value);
  return info;
}

function unixAddress(bytes: Uint8Array): NetAddr {
  const end = bytes.indexOf(0);
  return {
    transport: "unix",
    hostname: "",
    port: 0,
    path: text.decode(end < 0 ? bytes : bytes.subarray(0, end)),
  };
}

function parseTlvs(bytes: Uint8Array, where: string): ProxyTlv[] {
  const tlvs: ProxyTlv[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    if (bytes.byteLength - offset < 3) {
      throw invalid(`the version 2 ${where} ends inside a TLV's type and size`);
    }
    const type = bytes[offset]!;
    const size = (bytes[offset + 1]! << 8) | bytes[offset + 2]!;
    offset += 3;
    if (size > bytes.byteLength - offset) {
      throw invalid(
        `the version 2 ${where} has a TLV of ${size} bytes past its end`,
      );
    }
    // A copy: the value outlives the header's buffer, and must not keep it.
    tlvs.push({ type, value: bytes.slice(offset, offset + size) });
    offset += size;
  }
  return tlvs;
}

function parseSsl(value: Uint8Array): ProxySsl {
  if (value.byteLength < 5) {
    throw invalid("the version 2 header has an SSL field under 5 bytes");
  }
  const tlvs = parseTlvs(value.subarray(5), "SSL field");
  const ssl: { -readonly [Key in keyof ProxySsl]: ProxySsl[Key] } = {
    client: value[0]!,
    verify: new DataView(value.buffer, value.byteOffset, 5).getUint32(1),
    tlvs,
  };
  for (const { type, value } of tlvs) {
    if (type === SSL_VERSION) ssl.version = text.decode(value);
    else if (type === SSL_CN) ssl.cn = text.decode(value);
    else if (type === SSL_CIPHER) ssl.cipher = text.decode(value);
    else if (type === SSL_SIG_ALG) ssl.sigAlg = text.decode(value);
    else if (type === SSL_KEY_ALG) ssl.keyAlg = text.decode(value);
  }
  return ssl;
}

function checkCrc(header: Uint8Array, expected: Uint8Array): void {
  // The checksum of the header with its own field zeroed.
  const copy = header.slice();
  const at = findTlv(copy, TLV_CRC32C);
  copy.fill(0, at, at + 4);
  const sum = crc32c(copy);
  const given = new DataView(expected.buffer, expected.byteOffset, 4)
    .getUint32(0);
  if (sum !== given) {
    throw invalid("the version 2 header fails its CRC32C checksum");
  }
}

/** Where the value of the first TLV of `type` starts in a v2 header. */
function findTlv(header: Uint8Array, type: number): number {
  let offset = 16 + ADDRESS_SIZES[FAMILIES[header[13]!]!]!;
  for (;;) {
    const size = (header[offset + 1]! << 8) | header[offset + 2]!;
    if (header[offset] === type) return offset + 3;
    offset += 3 + size;
  }
}
