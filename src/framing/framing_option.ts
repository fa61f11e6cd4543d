import type { Framing } from "./framing.ts";
import { lengthPrefixed } from "./length_prefixed.ts";
import { lineDelimited } from "./line_delimited.ts";

/**
 * A wire format: `"length"` for {@linkcode lengthPrefixed} with its defaults
 * (4-byte big-endian length), `"line"` for {@linkcode lineDelimited} with its
 * defaults, or any {@linkcode Framing}.
 *
 * @example The same echo over three wire formats
 * ```ts
 * import { connect, type FramingOption, listen } from "@tether/tcp";
 * import { lengthPrefixed } from "@tether/tcp/framing";
 * import assert from "node:assert/strict";
 *
 * const framings: FramingOption[] = [
 *   "length",
 *   "line",
 *   lengthPrefixed({ headerSize: 2, maxFrameSize: 1024 }),
 * ];
 * for (const framing of framings) {
 *   await using server = await listen({
 *     hostname: "127.0.0.1",
 *     port: 0,
 *     framing,
 *     handler: async (conn) => {
 *       for await (const frame of conn) conn.send(frame);
 *     },
 *   });
 *   await using conn = await connect({ port: server.addr.port, framing });
 *   await conn.send("hi");
 *   for await (const frame of conn) {
 *     assert.equal(new TextDecoder().decode(frame), "hi");
 *     break;
 *   }
 * }
 * ```
 */
export type FramingOption = "length" | "line" | Framing;

/** Turns a {@linkcode FramingOption} into a {@linkcode Framing}. */
export function resolveFraming(framing: FramingOption | undefined): Framing {
  if (framing === undefined || framing === "length") return lengthPrefixed();
  if (framing === "line") return lineDelimited();
  if (
    typeof framing === "object" && typeof framing.createDecoder === "function"
  ) {
    return framing;
  }
  throw new TypeError(
    `Cannot use framing as it must be "length", "line" or a Framing: current value is ${
      JSON.stringify(framing)
    }`,
  );
}
