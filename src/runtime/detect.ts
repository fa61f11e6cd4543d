import type { Runtime } from "./types.ts";

let detected: Promise<Runtime> | undefined;

/**
 * Finds the adapter for the runtime this code runs on, loading it on first
 * use so that no runtime pays for another's adapter.
 *
 * Deno is checked before Bun, and both before Node: Deno and Bun each expose
 * a `process` that claims to be Node.
 *
 * @returns The adapter of the current runtime.
 * @throws {TypeError} If the runtime is neither Deno, Bun nor Node.
 *
 * @example Finding the runtime
 * ```ts
 * import { detectRuntime } from "@tether/tcp/runtime";
 * import assert from "node:assert/strict";
 *
 * const runtime = await detectRuntime();
 * assert.ok(["deno", "bun", "node"].includes(runtime.name));
 * ```
 */
export function detectRuntime(): Promise<Runtime> {
  return detected ??= load();
}

async function load(): Promise<Runtime> {
  const global = globalThis as {
    Deno?: { version?: { deno?: string } };
    Bun?: unknown;
    process?: { versions?: { node?: string } };
  };
  if (typeof global.Deno?.version?.deno === "string") {
    return (await import("./deno.ts")).denoRuntime;
  }
  if (global.Bun !== undefined) {
    return (await import("./bun.ts")).bunRuntime;
  }
  if (typeof global.process?.versions?.node === "string") {
    return (await import("./node.ts")).nodeRuntime;
  }
  throw new TypeError(
    "Cannot detect the runtime as neither Deno, Bun nor Node is present: pass a `runtime` option",
  );
}
