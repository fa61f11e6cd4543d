// The two conversations the runner has with its children, a server's first
// line (its address) and a loadgen's last line (its result), each bounded in
// time so that a hung child costs one measurement, never the sitting.
import type { Loadgen, LoadgenResult, Run, ServerSpec } from "./_model.ts";
import { drain, spawn, stop, Tail, within } from "./_processes.ts";

export interface RunningServer {
  spec: ServerSpec;
  child: Deno.ChildProcess;
  addr: string;
  stderr: Tail;
}

export async function startServer(
  spec: ServerSpec,
  startTimeout: number,
): Promise<RunningServer> {
  const child = spawn(spec.command, spec.args);
  const stderr = new Tail();
  drain(child.stderr, stderr);
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let buffered = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), startTimeout);
  });
  try {
    while (!buffered.includes("\n")) {
      const next = await Promise.race([reader.read(), timeout]);
      if (next === "timeout") {
        throw new Error(`no address within ${startTimeout} ms`);
      }
      if (next.done) throw new Error("exited before printing its address");
      buffered += next.value;
    }
  } catch (error) {
    await stop(child);
    throw new Error(
      `${spec.name}: ${(error as Error).message}\n${stderr.text}`.trimEnd(),
    );
  } finally {
    clearTimeout(timer);
  }
  // Keep draining stdout so the server never blocks on a full pipe.
  (async () => {
    try {
      while (!(await reader.read()).done) { /* discard */ }
    } catch {
      // The server is gone.
    }
  })();
  const line = buffered.slice(0, buffered.indexOf("\n")).trim();
  const match = /^listening on (.+:\d+)$/.exec(line);
  if (!match) {
    await stop(child);
    throw new Error(`${spec.name}: unexpected first line: ${line}`);
  }
  return { spec, child, addr: match[1]!, stderr };
}

export async function runLoadgen(
  loadgen: Loadgen,
  addr: string,
  run: Run,
  ms: number,
): Promise<{ result?: LoadgenResult; error?: string }> {
  const child = spawn(loadgen.command, [
    ...loadgen.prefix,
    "--addr",
    addr,
    "--mode",
    "lp",
    "--size",
    String(run.size),
    "--pipeline",
    String(run.pipeline),
    "--conns",
    String(run.conns),
    "--duration",
    String(ms),
  ]);
  const stdout = new Tail(100_000);
  const stderr = new Tail();
  const drained = Promise.all([
    drain(child.stdout, stdout),
    drain(child.stderr, stderr),
  ]);
  // The loadgen bounds itself (5 s to connect, 5 s to drain); this is the
  // backstop for a loadgen that hangs anyway.
  const limit = ms + 20_000;
  const status = await within(child.status, limit);
  if (!status) {
    await stop(child);
    return { error: `loadgen killed after ${limit} ms` };
  }
  await within(drained, 2000);
  const line = stdout.text.trim().split("\n").pop() ?? "";
  let result: LoadgenResult | undefined;
  try {
    result = JSON.parse(line) as LoadgenResult;
  } catch {
    return {
      error: `loadgen exited ${status.code} without a result: ${
        (stderr.text || stdout.text).trim().slice(-500)
      }`,
    };
  }
  if (!status.success) {
    return {
      result,
      error: `loadgen exited ${status.code}: errors ${result.errors}, ` +
        `mismatch ${result.mismatch}`,
    };
  }
  return { result };
}
