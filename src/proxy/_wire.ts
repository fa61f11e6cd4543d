// The constants of the PROXY protocol's wire format, and its checksum.
/** The 12 bytes that start a version 2 header. */
export const V2_SIGNATURE = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);
/** `PROXY `, which starts a version 1 header. */
export const V1_SIGNATURE = new Uint8Array([
  0x50,
  0x52,
  0x4f,
  0x58,
  0x59,
  0x20,
]);

export const TLV_ALPN = 0x01;
export const TLV_AUTHORITY = 0x02;
export const TLV_CRC32C = 0x03;
// 0x04, PP2_TYPE_NOOP, is padding: kept in `tlvs` like any other.
export const TLV_UNIQUE_ID = 0x05;
export const TLV_SSL = 0x20;
export const SSL_VERSION = 0x21;
export const SSL_CN = 0x22;
export const SSL_CIPHER = 0x23;
export const SSL_SIG_ALG = 0x24;
export const SSL_KEY_ALG = 0x25;
export const TLV_NETNS = 0x30;
/** The longest `uniqueId` the specification allows. */
export const MAX_UNIQUE_ID = 128;
/** The size of each address of the `UNIX` families. */
export const UNIX_ADDRESS_SIZE = 108;

let crcTable: Uint32Array | undefined;

/** CRC-32C (Castagnoli), as RFC 4960 Appendix B computes it. */
export function crc32c(bytes: Uint8Array): number {
  const table = crcTable ??= (() => {
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
    return table;
  })();
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.byteLength; i++) {
    crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}
