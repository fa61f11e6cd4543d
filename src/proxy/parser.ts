import { invalid, parseV1, parseV2 } from "./_decode.ts";
import { V1_SIGNATURE, V2_SIGNATURE } from "./_wire.ts";
import { ProxyProtocolError } from "./errors.ts";
import type {
  ProxyInfo,
  ProxyParseResult,
  ProxyParserOptions,
} from "./types.ts";
/** The longest version 1 header, its CRLF included. */
export const MAX_V1_HEADER_SIZE: number = 107;
/** The longest version 2 header: 16 bytes, then up to 65 535. */
export const MAX_V2_HEADER_SIZE: number = 16 + 0xffff;

/**
 * Reads a PROXY protocol header from chunks as they arrive, split anywhere.
 * It holds only the bytes of the header (at most 107 for version 1 and
 * `maxHeaderSize` for version 2) and never takes a byte past it: those are
 * handed back as {@linkcode ProxyParseResult.rest}.
 *
 * @example A header split over chunks, followed by data
 * ```ts
 * import { encodeProxyHeader, ProxyHeaderParser } from "@tether/tcp/proxy";
 * import assert from "node:assert/strict";
 *
 * const header = encodeProxyHeader({
 *   source: { hostname: "192.0.2.1", port: 1000 },
 *   destination: { hostname: "192.0.2.2", port: 80 },
 * });
 * const parser = new ProxyHeaderParser();
 * assert.equal(parser.push(header.subarray(0, 10)), undefined);
 * const result = parser.push(
 *   new Uint8Array([...header.subarray(10), 0x68, 0x69]),
 * );
 * assert.equal(result?.info.source?.port, 1000);
 * assert.deepEqual([...result!.rest], [0x68, 0x69]);
 * ```
 */
export class ProxyHeaderParser {
  #versions: readonly (1 | 2)[];
  #maxHeaderSize: number;
  // The header so far: 16 bytes until the size of a version 2 header is
  // known, then exactly its size; version 1 uses 107.
  #buffer = new Uint8Array(16);
  #length = 0;
  #version: 1 | 2 | undefined;
  #size = 0;
  #done = false;

  /**
   * Creates a parser for one connection's header.
   *
   * @param options The versions to accept and the largest header.
   * @throws {TypeError} If `versions` lists anything but 1 and 2.
   * @throws {RangeError} If `maxHeaderSize` is out of range.
   */
  constructor(options: ProxyParserOptions = {}) {
    const { versions = [1, 2], maxHeaderSize = MAX_V2_HEADER_SIZE } = options;
    if (
      !Array.isArray(versions) || versions.length === 0 ||
      versions.some((version) => version !== 1 && version !== 2)
    ) {
      throw new TypeError(
        `Cannot read PROXY protocol headers as 'versions' must list 1, 2 or both: current value is ${
          JSON.stringify(versions)
        }`,
      );
    }
    if (
      !Number.isInteger(maxHeaderSize) || maxHeaderSize < 16 ||
      maxHeaderSize > MAX_V2_HEADER_SIZE
    ) {
      throw new RangeError(
        `Cannot read PROXY protocol headers as 'maxHeaderSize' must be an integer from 16 to ${MAX_V2_HEADER_SIZE}: current value is ${maxHeaderSize}`,
      );
    }
    this.#versions = versions;
    this.#maxHeaderSize = maxHeaderSize;
  }

  /**
   * The version whose signature the bytes so far start with, once it is
   * certain; `undefined` before.
   */
  get version(): 1 | 2 | undefined {
    return this.#version;
  }

  /** The bytes held: those of the header read so far. */
  get buffered(): number {
    return this.#length;
  }

  /**
   * Takes the next bytes of the stream.
   *
   * @param chunk The bytes, of any length; the parser keeps no reference.
   * @returns The header and the rest of `chunk` once the header is complete,
   * or `undefined` while it needs more bytes.
   * @throws {ProxyProtocolError} `PROXY_MISSING` if the stream does not start
   * with a header, `PROXY_INVALID` if the header is malformed, too large or
   * of a version not accepted.
   */
  push(chunk: Uint8Array): ProxyParseResult | undefined {
    if (this.#done) {
      throw new TypeError(
        "Cannot read more of a PROXY protocol header as it is complete",
      );
    }
    let offset = 0;
    while (offset < chunk.byteLength) {
      if (this.#version === undefined) {
        // The signature, a byte at a time: a stream that is not a header is
        // refused as soon as a byte says so.
        const byte = chunk[offset++]!;
        this.#buffer[this.#length++] = byte;
        this.#detect(byte);
        continue;
      }
      if (this.#version === 1) {
        const at = chunk.indexOf(0x0a, offset);
        const room = MAX_V1_HEADER_SIZE - this.#length;
        const end = at < 0 ? chunk.byteLength : at + 1;
        // No CRLF within 107 bytes: refused as soon as that is certain.
        if (end - offset > room || (at < 0 && end - offset === room)) {
          throw invalid(
            `the version 1 header has no CRLF within ${MAX_V1_HEADER_SIZE} bytes`,
          );
        }
        this.#buffer.set(chunk.subarray(offset, end), this.#length);
        this.#length += end - offset;
        offset = end;
        if (at >= 0) return this.#finish(parseV1(this.#header()), chunk, end);
        continue;
      }
      if (this.#size === 0 && this.#length < 16) {
        const take = Math.min(16 - this.#length, chunk.byteLength - offset);
        this.#buffer.set(chunk.subarray(offset, offset + take), this.#length);
        this.#length += take;
        offset += take;
        if (this.#length === 16) this.#sizeV2();
        continue;
      }
      const take = Math.min(
        this.#size - this.#length,
        chunk.byteLength - offset,
      );
      this.#buffer.set(chunk.subarray(offset, offset + take), this.#length);
      this.#length += take;
      offset += take;
      if (this.#length === this.#size) {
        return this.#finish(parseV2(this.#header()), chunk, offset);
      }
    }
    // A version 2 header of 16 bytes ends with its fixed part.
    if (this.#version === 2 && this.#length === this.#size) {
      return this.#finish(parseV2(this.#header()), chunk, offset);
    }
    return undefined;
  }

  /**
   * The stream ended: throws unless nothing was read.
   *
   * @throws {ProxyProtocolError} `PROXY_INVALID` for a header cut off,
   * `PROXY_MISSING` for a stream that ended inside the signature.
   */
  end(): void {
    if (this.#done || this.#length === 0) return;
    if (this.#version === undefined) {
      throw new ProxyProtocolError(
        "PROXY_MISSING",
        `the stream ended after ${this.#length} bytes, inside a PROXY protocol signature`,
      );
    }
    throw invalid(
      `the stream ended inside the version ${this.#version} header after ${this.#length} bytes`,
    );
  }

  #detect(byte: number): void {
    const at = this.#length - 1;
    const v2 = at < 12 && V2_SIGNATURE[at] === byte &&
      this.#buffer[0] === V2_SIGNATURE[0];
    const v1 = at < 6 && V1_SIGNATURE[at] === byte &&
      this.#buffer[0] === V1_SIGNATURE[0];
    if (!v1 && !v2) {
      throw new ProxyProtocolError(
        "PROXY_MISSING",
        "the stream does not start with a PROXY protocol header",
      );
    }
    const version = v2 && at === 11 ? 2 : v1 && at === 5 ? 1 : undefined;
    if (version === undefined) return;
    if (!this.#versions.includes(version)) {
      throw invalid(`PROXY protocol version ${version} is not accepted`);
    }
    this.#version = version;
    if (version === 1) {
      const buffer = new Uint8Array(MAX_V1_HEADER_SIZE);
      buffer.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = buffer;
    }
  }

  #sizeV2(): void {
    const buffer = this.#buffer;
    if (buffer[12]! >> 4 !== 2) {
      throw invalid(
        `the version 2 header says version ${buffer[12]! >> 4}`,
      );
    }
    const size = 16 + ((buffer[14]! << 8) | buffer[15]!);
    if (size > this.#maxHeaderSize) {
      throw invalid(
        `the version 2 header of ${size} bytes is larger than the limit of ${this.#maxHeaderSize} bytes`,
      );
    }
    this.#size = size;
    if (size > 16) {
      const grown = new Uint8Array(size);
      grown.set(buffer);
      this.#buffer = grown;
    }
  }

  #header(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }

  #finish(
    info: ProxyInfo,
    chunk: Uint8Array,
    end: number,
  ): ProxyParseResult {
    this.#done = true;
    this.#buffer = new Uint8Array(0);
    return { info, rest: chunk.subarray(end) };
  }
}

/**
 * Reads the header at the start of `bytes`.
 *
 * @param bytes The first bytes of a connection.
 * @param options The versions to accept and the largest header.
 * @returns The header and its size in bytes, or `undefined` if `bytes` end
 * before it does.
 * @throws {ProxyProtocolError} As {@linkcode ProxyHeaderParser.push}.
 */
export function parseProxyHeader(
  bytes: Uint8Array,
  options?: ProxyParserOptions,
): { info: ProxyInfo; length: number } | undefined {
  const result = new ProxyHeaderParser(options).push(bytes);
  return result && {
    info: result.info,
    length: bytes.byteLength - result.rest.byteLength,
  };
}
