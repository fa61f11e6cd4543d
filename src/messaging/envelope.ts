import { resolveFraming } from "../framing/framing_option.ts";
import { InvalidFrameError } from "../errors.ts";
import { ProtocolError } from "./errors.ts";
import type { Framing } from "../framing/framing.ts";

/**
 * The version of the messaging protocol this code speaks, sent in the hello.
 *
 * @example Reading a peer's hello
 * ```ts
 * import { decodeEnvelope, encodeEnvelope, PROTOCOL_VERSION } from "./envelope.ts";
 * import assert from "node:assert/strict";
 *
 * const hello = encodeEnvelope({
 *   kind: "hello",
 *   version: PROTOCOL_VERSION,
 *   role: "server",
 * });
 * assert.deepEqual(decodeEnvelope(hello), {
 *   kind: "hello",
 *   version: 1,
 *   role: "server",
 * });
 * ```
 */
export const PROTOCOL_VERSION = 1;

/**
 * One frame of the messaging protocol, decoded. See the README for the
 * bytes of each kind.
 *
 * @example Replying to a request by hand
 * ```ts
 * import { decodeEnvelope, type Envelope, encodeEnvelope } from "./envelope.ts";
 * import assert from "node:assert/strict";
 *
 * const frame = encodeEnvelope({
 *   kind: "request",
 *   id: 7,
 *   payload: new TextEncoder().encode("time?"),
 * });
 * const request = decodeEnvelope(frame);
 * assert.equal(request.kind, "request");
 * const reply: Envelope = {
 *   kind: "response",
 *   id: request.id,
 *   payload: new TextEncoder().encode("noon"),
 * };
 * assert.deepEqual([...encodeEnvelope(reply).subarray(0, 5)], [3, 0, 0, 0, 7]);
 * ```
 */
export type Envelope =
  /**
   * The first frame each way: the protocol's magic, its version and which
   * end sends it.
   */
  | { kind: "hello"; version: number; role: "client" | "server" }
  /** A one-way message: a push from the server, or a send from the client. */
  | { kind: "data"; payload: Uint8Array }
  /** A request from the client, to be answered under the same `id`. */
  | { kind: "request"; id: number; payload: Uint8Array }
  /** The server's reply to request `id`. */
  | { kind: "response"; id: number; payload: Uint8Array }
  /** The server's handler for request `id` failed. */
  | { kind: "error"; id: number; code: string; message: string }
  /** A heartbeat, answered with a pong. */
  | { kind: "ping" }
  /** The answer to a ping. */
  | { kind: "pong" }
  /**
   * The server stops accepting requests on this connection: those with ids
   * from `nextId` on were not handled, and the client should reconnect.
   */
  | { kind: "goaway"; nextId: number };

/** The kind byte of each envelope; a hello starts with the magic instead. */
export const KIND = {
  data: 0x01,
  request: 0x02,
  response: 0x03,
  error: 0x04,
  ping: 0x05,
  pong: 0x06,
  goaway: 0x07,
} as const;

// "tether": its first byte, 0x74, is no kind, so a hello cannot be mistaken
// for any other envelope.
const MAGIC = [0x74, 0x65, 0x74, 0x68, 0x65, 0x72];
const HELLO_SIZE = MAGIC.length + 2;
const ROLE_CLIENT = 0x01;
const ROLE_SERVER = 0x02;
/** Bytes before the payload of a request or a response. */
export const ID_HEADER_SIZE = 5;
/** The longest `code` of an error envelope, in UTF-8 bytes. */
export const MAX_ERROR_CODE_SIZE = 255;

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** A ping, sent as is: one byte. */
export const PING: Uint8Array = new Uint8Array([KIND.ping]);
/** A pong, sent as is: one byte. */
export const PONG: Uint8Array = new Uint8Array([KIND.pong]);

/**
 * Encodes an envelope into the payload of one frame.
 *
 * @param envelope The envelope.
 * @returns The frame's payload.
 * @throws {RangeError} If an id or the version is out of range.
 * @throws {InvalidFrameError} If an error's `code` exceeds 255 UTF-8 bytes.
 *
 * @example A push message
 * ```ts
 * import { encodeEnvelope } from "./envelope.ts";
 * import assert from "node:assert/strict";
 *
 * const frame = encodeEnvelope({
 *   kind: "data",
 *   payload: new TextEncoder().encode("hi"),
 * });
 * assert.deepEqual([...frame], [0x01, 0x68, 0x69]);
 * ```
 */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  switch (envelope.kind) {
    case "hello": {
      const { version } = envelope;
      if (!Number.isInteger(version) || version < 0 || version > 255) {
        throw new RangeError(
          `Cannot encode hello as 'version' must be an integer between 0 and 255: current value is ${version}`,
        );
      }
      return new Uint8Array([
        ...MAGIC,
        version,
        envelope.role === "client" ? ROLE_CLIENT : ROLE_SERVER,
      ]);
    }
    case "data":
      return withHeader(KIND.data, 1, envelope.payload);
    case "request":
    case "response":
      return withId(KIND[envelope.kind], envelope.id, envelope.payload);
    case "error":
      return encodeError(envelope.id, envelope.code, envelope.message);
    case "ping":
      return PING.slice();
    case "pong":
      return PONG.slice();
    case "goaway":
      return withId(KIND.goaway, envelope.nextId, new Uint8Array(0));
  }
}

/**
 * Decodes the payload of one frame into an envelope. Payloads are views of
 * `frame`, not copies.
 *
 * @param frame The frame's payload.
 * @returns The envelope.
 * @throws {ProtocolError} If the frame is not a valid envelope.
 *
 * @example Telling replies from pushes
 * ```ts
 * import { decodeEnvelope } from "./envelope.ts";
 * import assert from "node:assert/strict";
 *
 * const envelope = decodeEnvelope(new Uint8Array([0x03, 0, 0, 0, 1, 0x2a]));
 * assert.equal(envelope.kind, "response");
 * if (envelope.kind === "response") {
 *   assert.equal(envelope.id, 1);
 *   assert.deepEqual([...envelope.payload], [0x2a]);
 * }
 * ```
 */
export function decodeEnvelope(frame: Uint8Array): Envelope {
  const size = frame.byteLength;
  if (size === 0) {
    throw new ProtocolError(
      "Cannot decode envelope as the frame is empty: every envelope starts with a kind byte",
    );
  }
  const kind = frame[0]!;
  switch (kind) {
    case MAGIC[0]:
      return decodeHello(frame);
    case KIND.data:
      return { kind: "data", payload: frame.subarray(1) };
    case KIND.request:
    case KIND.response: {
      const id = readId(frame, ID_HEADER_SIZE);
      const payload = frame.subarray(ID_HEADER_SIZE);
      return kind === KIND.request
        ? { kind: "request", id, payload }
        : { kind: "response", id, payload };
    }
    case KIND.error:
      return decodeError(frame);
    case KIND.ping:
    case KIND.pong:
      exactSize(frame, 1);
      return { kind: kind === KIND.ping ? "ping" : "pong" };
    case KIND.goaway:
      exactSize(frame, ID_HEADER_SIZE);
      return { kind: "goaway", nextId: readId(frame, ID_HEADER_SIZE) };
    default:
      throw new ProtocolError(
        `Cannot decode envelope as its kind is unknown: current value is 0x${
          hex(kind)
        }`,
      );
  }
}

/**
 * Resolves the framing option of a messaging client or server, refusing
 * framings that cannot carry every envelope: lines (an id may contain a
 * newline) and fixed sizes.
 */
export function envelopeFraming(
  action: string,
  option: "length" | Framing | undefined,
): Framing {
  const framing = resolveFraming(option);
  try {
    framing.check(new Uint8Array([KIND.data, 0x0a]));
    framing.check(PING);
  } catch (error) {
    throw new TypeError(
      `Cannot ${action} as its framing must carry frames of any size and content, as "length" does: current value is ${framing.name}`,
      { cause: error },
    );
  }
  return framing;
}

/**
 * Writes `id` into a request or response envelope made by
 * {@linkcode encodeEnvelope}: an id is known only once the request is
 * written to a connection.
 */
export function writeId(frame: Uint8Array, id: number): void {
  frame[1] = id >>> 24;
  frame[2] = id >>> 16;
  frame[3] = id >>> 8;
  frame[4] = id;
}

function withHeader(
  kind: number,
  header: number,
  payload: Uint8Array,
): Uint8Array {
  const frame = new Uint8Array(header + payload.byteLength);
  frame[0] = kind;
  frame.set(payload, header);
  return frame;
}

function withId(kind: number, id: number, payload: Uint8Array): Uint8Array {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff_ffff) {
    throw new RangeError(
      `Cannot encode envelope as an id must be an integer between 0 and ${0xffff_ffff}: current value is ${id}`,
    );
  }
  const frame = withHeader(kind, ID_HEADER_SIZE, payload);
  writeId(frame, id);
  return frame;
}

function encodeError(id: number, code: string, message: string): Uint8Array {
  const codeBytes = encoder.encode(code);
  if (codeBytes.byteLength > MAX_ERROR_CODE_SIZE) {
    throw new InvalidFrameError(
      `Cannot encode error envelope as its code exceeds ${MAX_ERROR_CODE_SIZE} bytes: current value is ${codeBytes.byteLength} bytes`,
    );
  }
  const messageBytes = encoder.encode(message);
  const body = new Uint8Array(
    1 + codeBytes.byteLength + messageBytes.byteLength,
  );
  body[0] = codeBytes.byteLength;
  body.set(codeBytes, 1);
  body.set(messageBytes, 1 + codeBytes.byteLength);
  return withId(KIND.error, id, body);
}

/**
 * Decodes a hello: the first frame each way. Anything else, such as the
 * first frame of a peer that does not speak the protocol, is refused.
 */
export function decodeHello(
  frame: Uint8Array,
): Extract<Envelope, { kind: "hello" }> {
  const magic = MAGIC.every((byte, i) => frame[i] === byte);
  if (!magic || frame.byteLength !== HELLO_SIZE) {
    throw new ProtocolError(
      `Cannot start the tether protocol as the peer's frame is not a hello: it has ${frame.byteLength} bytes starting with 0x${
        hex(...frame.subarray(0, 8))
      }`,
    );
  }
  const role = frame[HELLO_SIZE - 1]!;
  if (role !== ROLE_CLIENT && role !== ROLE_SERVER) {
    throw new ProtocolError(
      `Cannot start the tether protocol as the hello names an unknown role: current value is 0x${
        hex(role)
      }`,
    );
  }
  return {
    kind: "hello",
    version: frame[MAGIC.length]!,
    role: role === ROLE_CLIENT ? "client" : "server",
  };
}

function decodeError(frame: Uint8Array): Envelope {
  const id = readId(frame, ID_HEADER_SIZE + 1);
  const codeSize = frame[ID_HEADER_SIZE]!;
  const codeEnd = ID_HEADER_SIZE + 1 + codeSize;
  if (codeEnd > frame.byteLength) {
    throw new ProtocolError(
      `Cannot decode error envelope as its code of ${codeSize} bytes overruns the frame: current size is ${frame.byteLength} bytes`,
    );
  }
  try {
    return {
      kind: "error",
      id,
      code: strictDecoder.decode(frame.subarray(ID_HEADER_SIZE + 1, codeEnd)),
      message: strictDecoder.decode(frame.subarray(codeEnd)),
    };
  } catch (error) {
    throw new ProtocolError(
      "Cannot decode error envelope as its code or message is not valid UTF-8",
      { cause: error },
    );
  }
}

/** Reads the id of a frame that must have at least `minSize` bytes. */
function readId(frame: Uint8Array, minSize: number): number {
  if (frame.byteLength < minSize) {
    throw new ProtocolError(
      `Cannot decode envelope of kind 0x${
        hex(frame[0]!)
      } as it needs at least ${minSize} bytes: current size is ${frame.byteLength} bytes`,
    );
  }
  return ((frame[1]! << 24) | (frame[2]! << 16) | (frame[3]! << 8) |
    frame[4]!) >>> 0;
}

function exactSize(frame: Uint8Array, size: number): void {
  if (frame.byteLength !== size) {
    throw new ProtocolError(
      `Cannot decode envelope of kind 0x${
        hex(frame[0]!)
      } as it must have exactly ${size} bytes: current size is ${frame.byteLength} bytes`,
    );
  }
}

function hex(...bytes: number[]): string {
  return bytes.map((byte) => byte.toString(16).padStart(2, "0")).join("");
}
