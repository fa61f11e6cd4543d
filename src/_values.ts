// Conversions of the values the public API accepts, shared by its layers.

const encoder = new TextEncoder();

/** A frame given as text, as its UTF-8 bytes; bytes as they are. */
export function toBytes(frame: Uint8Array | string): Uint8Array {
  return typeof frame === "string" ? encoder.encode(frame) : frame;
}

/** `values` without the keys whose value is `undefined`. */
export function defined<T extends object>(
  values: T,
): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(
    Object.entries(values).filter(([, value]) => value !== undefined),
  ) as { [K in keyof T]?: Exclude<T[K], undefined> };
}
