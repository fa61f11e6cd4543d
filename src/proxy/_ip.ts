/**
 * IP addresses as text and as bytes, strictly: the PROXY protocol and the
 * trusted networks allow no leading zeros, no octal and no host names.
 */

/** The bytes of a dotted IPv4 address, or `undefined` if it is not one. */
export function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes[i] = value;
  }
  return bytes;
}

/**
 * The 16 bytes of an IPv6 address: hexadecimal groups of up to 4 digits, at
 * most one `::`, and an optional dotted IPv4 tail (as `inet_ntop` writes
 * IPv4-mapped addresses).
 */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (text.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(text)) return undefined;
  let tail: Uint8Array | undefined;
  let head = text;
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".")) {
    tail = parseIPv4(text.slice(lastColon + 1));
    if (!tail) return undefined;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string) => half === "" ? [] : half.split(":");
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  const count = left.length + right.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined;
  const words = [...left, ...Array(8 - count).fill("0"), ...right];
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const word = words[i]!;
    if (!/^[0-9A-Fa-f]{1,4}$/.test(word)) return undefined;
    const value = parseInt(word, 16);
    bytes[2 * i] = value >> 8;
    bytes[2 * i + 1] = value & 0xff;
  }
  if (tail) bytes.set(tail, 12);
  return bytes;
}

/** A dotted IPv4 address. */
export function formatIPv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/**
 * An IPv6 address as RFC 5952 writes it: lower case, the longest run of two
 * or more zero groups as `::`, and IPv4-mapped addresses with a dotted tail.
 */
export function formatIPv6(bytes: Uint8Array): string {
  if (isMapped(bytes)) return `::ffff:${formatIPv4(bytes.subarray(12))}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = words.map((word) => word.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${
    hex.slice(bestStart + bestLength).join(":")
  }`;
}

function isMapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * The 16 bytes of an IPv4 or IPv6 address, IPv4 as IPv4-mapped IPv6, so that
 * one comparison serves both; brackets and a zone (`%eth0`) are ignored.
 * `undefined` for anything else, such as a host name.
 */
export function ipKey(address: string): Uint8Array | undefined {
  let text = address;
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  const v4 = parseIPv4(text);
  if (!v4) return parseIPv6(text);
  const bytes = new Uint8Array(16);
  bytes[10] = bytes[11] = 0xff;
  bytes.set(v4, 12);
  return bytes;
}

/** A network: its first address as {@linkcode ipKey} bytes, and its bits. */
export interface Network {
  readonly key: Uint8Array;
  readonly bits: number;
}

/**
 * Parses `10.0.0.0/8`, `::1/128` or a bare address (all its bits). An IPv4
 * network also matches the same addresses IPv4-mapped.
 *
 * @throws {TypeError} If it is not an address with an optional prefix length.
 */
export function parseNetwork(cidr: string): Network {
  const slash = cidr.indexOf("/");
  const address = slash < 0 ? cidr : cidr.slice(0, slash);
  const key = ipKey(address);
  const v4 = parseIPv4(address) !== undefined;
  const max = v4 ? 32 : 128;
  const prefix = slash < 0 ? String(max) : cidr.slice(slash + 1);
  const bits = /^(0|[1-9][0-9]{0,2})$/.test(prefix) ? Number(prefix) : NaN;
  // `::ffff:10.0.0.0/8` would be every IPv4 address, not 10/8.
  const mappedTooWide = !v4 && key !== undefined && bits < 96 &&
    key.subarray(0, 10).every((byte) => byte === 0) && key[10] === 0xff &&
    key[11] === 0xff;
  if (!key || !(bits <= max) || address.includes("%") || mappedTooWide) {
    throw new TypeError(
      `Cannot listen as 'proxyProtocol.trusted' must hold IP addresses or networks such as "10.0.0.0/8": current value is ${
        JSON.stringify(cidr)
      }`,
    );
  }
  return { key, bits: v4 ? bits + 96 : bits };
}

/** Whether the address `key` lies in `network`. */
export function inNetwork(key: Uint8Array, network: Network): boolean {
  const { bits } = network;
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) {
    if (key[i] !== network.key[i]) return false;
  }
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (key[whole]! & mask) === (network.key[whole]! & mask);
}
