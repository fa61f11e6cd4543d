// Child processes of the memory benchmarks, which run on Deno: waiting for a
// line they print, and stopping them.
import type { ChildProcess } from "node:child_process";
import type { Buffer } from "node:buffer";

/** Resolves with the first stdout line matching `pattern`. */
export function waitForLine(
  child: ChildProcess,
  pattern: RegExp,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = "";
    const onData = (data: Buffer) => {
      text += data;
      const match = pattern.exec(text);
      if (match) {
        child.stdout!.off("data", onData);
        // Keep draining, so a chatty process never blocks on a full pipe.
        child.stdout!.resume();
        resolve(match);
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`exited with ${code}`)));
  });
}

/** Kills `child`, and resolves once it has exited. */
export function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
