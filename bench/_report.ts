// The sitting as the runner prints it, medians and per-repetition ratios in
// markdown tables and every measurement as JSON, apart from the measuring so
// that the figures can be read the same way whatever produced them.
import type {
  Loadgen,
  LoadgenResult,
  Measurement,
  Run,
  ServerSpec,
} from "./_model.ts";
import { CLIENT_RUN } from "./_model.ts";

/** What a sitting measured, and the conditions it measured it in. */
export interface Sitting {
  loadgen: string;
  reps: number;
  duration: number;
  ticksPerSecond: number;
  runs: Run[];
  specs: ServerSpec[];
  clients: Loadgen[];
  measurements: Measurement[];
  /** Percent of the machine's CPU stolen over the whole sitting. */
  stolen: number | undefined;
  /** How many measurements were taken again for too much CPU stolen. */
  repeated: number;
  maxSteal: number;
  /** How many kept measurements still had more than `maxSteal` stolen. */
  stillDisturbed: number;
}

export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[mid]
    : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function formatNumber(value: number | undefined, digits = 0): string {
  if (value === undefined || !Number.isFinite(value)) return "—";
  return value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** One measurement in a log line. */
export function describe(measurement: Measurement): string {
  const r = measurement.result;
  return (r
    ? `${formatNumber(r.msgs_per_s)} frames/s, ` +
      (r.p50_us === undefined ? "" : `p50 ${r.p50_us} µs, `) +
      `${formatNumber(measurement.server_cpu_ns_per_frame)} ns/frame`
    : "no result") +
    (measurement.stolen_pct === undefined
      ? ""
      : `, ${formatNumber(measurement.stolen_pct, 1)} % stolen`) +
    (measurement.error ? ` (${measurement.error})` : "");
}

/** The successful result of the measurement of repetition `rep` that `match` picks. */
function resultIn(
  measurements: Measurement[],
  rep: number,
  match: (measurement: Measurement) => boolean,
): LoadgenResult | undefined {
  return measurements.find((m) =>
    m.rep === rep && m.result && !m.error && match(m)
  )?.result;
}

/**
 * The median over repetitions of `mine(rep) / base(rep)`, taken within each
 * repetition, where both servers met the machine in nearly the same state:
 * a ratio of medians could pair one's good phase with the other's bad one.
 */
function medianRatio(
  reps: number,
  mine: (rep: number) => number | undefined,
  base: (rep: number) => number | undefined,
): number | undefined {
  const ratios: number[] = [];
  for (let rep = 1; rep <= reps; rep++) {
    const value = mine(rep);
    const baseValue = base(rep);
    if (value !== undefined && baseValue) ratios.push(value / baseValue);
  }
  return median(ratios);
}

interface Row {
  run: string;
  server: string;
  framesPerS?: number | undefined;
  mbPerS?: number | undefined;
  p50?: number | undefined;
  p99?: number | undefined;
  nsPerFrame?: number | undefined;
  serverCpu?: number | undefined;
  loadgenCpu?: number | undefined;
  problems: number;
  measured: number;
}

/** The medians of every (run, server) pair, runs first. */
function serverRows(sitting: Sitting): Row[] {
  const { measurements, ticksPerSecond } = sitting;
  const rows: Row[] = [];
  for (const run of sitting.runs) {
    for (const spec of sitting.specs) {
      const mine = measurements.filter((m) =>
        m.run === run.name && m.server === spec.name
      );
      const ok = mine.filter((m) => m.result && !m.error);
      const results = ok.map((m) => m.result!);
      const pick = (f: (r: LoadgenResult) => number | undefined) =>
        median(
          results.map(f).filter((v): v is number => v !== undefined),
        );
      rows.push({
        run: run.name,
        server: spec.name,
        framesPerS: pick((r) => r.msgs_per_s),
        mbPerS: pick((r) => r.mb_per_s),
        p50: pick((r) => r.p50_us),
        p99: pick((r) => r.p99_us),
        nsPerFrame: median(
          ok.map((m) => m.server_cpu_ns_per_frame).filter((v): v is number =>
            v !== undefined
          ),
        ),
        serverCpu: median(
          ok.filter((m) => m.server_cpu_ticks !== undefined).map((m) =>
            m.server_cpu_ticks! / ticksPerSecond / m.result!.seconds * 100
          ),
        ),
        loadgenCpu: pick((r) =>
          r.cpu_s === undefined ? undefined : r.cpu_s / r.seconds * 100
        ),
        problems: mine.length - ok.length,
        measured: mine.length,
      });
    }
  }
  return rows;
}

/** The "vs raw" cell of `row`: its ratio to the raw echo of its runtime. */
function ratioCell(sitting: Sitting, row: Row): string {
  const baseline = sitting.specs.find((s) => s.name === row.server)!.baseline;
  if (baseline === undefined) return "—";
  const pingPong = row.run === "ping-pong";
  const f = pingPong
    ? (r: LoadgenResult) => r.p50_us
    : (r: LoadgenResult) => r.msgs_per_s;
  const value = (name: string) => (rep: number) => {
    const result = resultIn(
      sitting.measurements,
      rep,
      (m) => m.run === row.run && m.server === name,
    );
    return result && f(result);
  };
  const ratio = medianRatio(sitting.reps, value(row.server), value(baseline));
  return ratio === undefined
    ? "—"
    : `${pingPong ? "p50 " : ""}×${formatNumber(ratio, 2)}`;
}

/**
 * The client run as markdown: each load generator's median frames/s against
 * the buffered Go server, and its rate over the Go loadgen's, the median of
 * the ratios within each repetition.
 */
function clientTable(sitting: Sitting): string[] {
  const { measurements, reps } = sitting;
  const rate = (kind: string, rep: number) =>
    resultIn(
      measurements,
      rep,
      (m) => m.run === CLIENT_RUN.name && m.loadgen === kind,
    )?.msgs_per_s;
  const lines = [
    `client: ${CLIENT_RUN.size}-byte frames, ${CLIENT_RUN.pipeline} in flight, ` +
    "one connection, against go-bufio; tether-* is bench/client_load.ts " +
    "(one createClient(), echoes read in batches).",
    "",
    "| load generator | frames/s | vs Go loadgen |",
    "| --- | ---: | ---: |",
  ];
  for (const client of sitting.clients) {
    const rates: number[] = [];
    for (let rep = 1; rep <= reps; rep++) {
      const mine = rate(client.kind, rep);
      if (mine !== undefined) rates.push(mine);
    }
    const ratio = medianRatio(
      reps,
      (rep) => rate(client.kind, rep),
      (rep) => rate("go", rep),
    );
    lines.push(
      `| ${client.kind} | ${formatNumber(median(rates))} | ${
        ratio === undefined ? "—" : `×${formatNumber(ratio, 2)}`
      } |`,
    );
  }
  return lines;
}

/** The sitting as markdown: a summary line, the server table, the client table. */
export function report(sitting: Sitting): string {
  const { measurements, reps, duration, ticksPerSecond, stolen } = sitting;
  const rows = serverRows(sitting);
  // On a shared VM another guest can take CPU time in the middle of a run:
  // figures from a sitting with much of it stolen do not compare.
  const lines = [
    `loadgen: ${
      sitting.loadgen === "go"
        ? "Go (bench/go/loadgen.go)"
        : "Bun (bench/loadgen.ts)"
    }; ` +
    `medians of ${reps} interleaved repetitions of ${duration} ms; ` +
    `server CPU from /proc in ticks of ${1000 / ticksPerSecond} ms` +
    (stolen === undefined
      ? "."
      : `; CPU stolen by the hypervisor during the runs: ${
        formatNumber(stolen, 1)
      } %; ${sitting.repeated} measurement(s) taken again for more than ${sitting.maxSteal} % ` +
        `stolen, ${sitting.stillDisturbed} of ${measurements.length} kept above it.`),
  ];
  if (rows.length > 0) {
    lines.push(
      "",
      "| run | server | frames/s | MB/s | p50 µs | p99 µs | server CPU ns/frame | vs raw (same runtime) | server CPU % | loadgen CPU % |",
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
  }
  for (const row of rows) {
    const problems = row.problems > 0
      ? ` (${row.problems}/${row.measured} failed)`
      : "";
    lines.push(
      `| ${row.run} | ${row.server}${problems} | ${
        formatNumber(row.framesPerS)
      } | ${formatNumber(row.mbPerS, 1)} | ${formatNumber(row.p50)} | ${
        formatNumber(row.p99)
      } | ${formatNumber(row.nsPerFrame)} | ${ratioCell(sitting, row)} | ${
        formatNumber(row.serverCpu)
      } | ${formatNumber(row.loadgenCpu)} |`,
    );
  }
  if (rows.length > 0) {
    lines.push(
      "",
      "vs raw: frames/s over the raw echo of the same runtime (higher is better); " +
        "for ping-pong, p50 over the raw echo's p50 (lower is better); " +
        "the median of the ratios within each repetition.",
    );
  }
  if (sitting.clients.length > 0) lines.push("", ...clientTable(sitting));
  return lines.join("\n");
}

/** Every measurement of the sitting as JSON, for `--json`. */
export function jsonReport(sitting: Sitting): string {
  return JSON.stringify(
    {
      loadgen: sitting.loadgen,
      reps: sitting.reps,
      duration_ms: sitting.duration,
      clock_ticks_per_s: sitting.ticksPerSecond,
      measurements: sitting.measurements,
    },
    null,
    2,
  );
}
