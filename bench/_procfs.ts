// Process accounting for the benchmark runner, from Linux's /proc: the CPU
// time of a server's process tree, the CPU the hypervisor stole, and
// signals to a whole tree. Everything degrades to "unknown" without /proc.

/** Parent pid of every process, from /proc; empty where there is no /proc. */
function processTable(): Map<number, number> {
  const parents = new Map<number, number>();
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      const fields = readStat(Number(entry.name));
      if (fields) parents.set(Number(entry.name), Number(fields[1]));
    }
  } catch {
    // No /proc.
  }
  return parents;
}

/** `pid` and all its descendants. */
function processTree(pid: number): number[] {
  const parents = processTable();
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parents) {
      if (parent === tree[i]) tree.push(child);
    }
  }
  return tree;
}

/** The fields of /proc/<pid>/stat after the command name (field 3 on). */
function readStat(pid: number): string[] | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/**
 * CPU time of a process tree in clock ticks: utime + stime (fields 14, 15) of
 * every live process, plus cutime + cstime (16, 17) for children it reaped.
 * Undefined where /proc is missing.
 */
export function treeTicks(pid: number): number | undefined {
  if (!readStat(pid)) return undefined;
  let ticks = 0;
  for (const member of processTree(pid)) {
    const fields = readStat(member);
    if (!fields) continue;
    for (const index of [11, 12, 13, 14]) ticks += Number(fields[index]);
  }
  return ticks;
}

/**
 * The machine's CPU ticks from /proc/stat: all of them, and those stolen by
 * the hypervisor for other guests. Undefined where /proc is missing.
 */
export function machineTicks(): { total: number; steal: number } | undefined {
  try {
    const cpu = Deno.readTextFileSync("/proc/stat").split("\n")[0]!;
    const fields = cpu.trim().split(/\s+/).slice(1).map(Number);
    return {
      total: fields.reduce((sum, n) => sum + n, 0),
      steal: fields[7] ?? 0,
    };
  } catch {
    return undefined;
  }
}

/** The percent of the CPU stolen between two readings of `machineTicks()`. */
export function stolenPercent(
  before: { total: number; steal: number } | undefined,
  after: { total: number; steal: number } | undefined,
): number | undefined {
  return before && after && after.total > before.total
    ? (after.steal - before.steal) / (after.total - before.total) * 100
    : undefined;
}

/** Sends `signal` to `pid` and every process under it, deepest first. */
export function signalTree(pid: number, signal: Deno.Signal): void {
  // Descendants first, each by its own pid; all were started by this runner.
  for (const member of processTree(pid).reverse()) {
    try {
      Deno.kill(member, signal);
    } catch {
      // Already gone.
    }
  }
}

/** How many clock ticks the CPU times of /proc count per second. */
export async function clockTicksPerSecond(): Promise<number> {
  try {
    const output = await new Deno.Command("getconf", {
      args: ["CLK_TCK"],
      stdin: "null",
      stderr: "null",
    }).output();
    const value = Number(new TextDecoder().decode(output.stdout).trim());
    if (output.success && Number.isInteger(value) && value > 0) return value;
  } catch {
    // No getconf.
  }
  return 100; // USER_HZ on every Linux this runs on.
}
