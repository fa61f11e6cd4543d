// The runs, servers, load generators and measurements of the benchmark
// runner, in one place because its options, builds, load and report all
// speak of them.

export interface Run {
  name: string;
  size: number;
  pipeline: number;
  conns: number;
}

/**
 * tether's client as the load generator, against the buffered Go server,
 * next to the Go loadgen: the client's share of the loadgen's rate.
 */
export const CLIENT_RUN: Run = {
  name: "client",
  size: 64,
  pipeline: 64,
  conns: 1,
};

export const RUNS: Run[] = [
  { name: "small-pipe", size: 64, pipeline: 64, conns: 1 },
  { name: "small-fan", size: 64, pipeline: 16, conns: 50 },
  { name: "large", size: 65536, pipeline: 4, conns: 1 },
  { name: "ping-pong", size: 64, pipeline: 1, conns: 1 },
];

export interface ServerSpec {
  name: string;
  command: string;
  args: string[];
  /** The raw echo of the same runtime, for the ratio column. */
  baseline?: string;
}

export interface Loadgen {
  kind: string;
  command: string;
  prefix: string[];
}

export interface LoadgenResult {
  mode: string;
  conns: number;
  size: number;
  pipeline: number;
  seconds: number;
  msgs: number;
  msgs_per_s: number;
  mb_per_s: number;
  /** Absent from tether's client, which keeps no latencies. */
  p50_us?: number;
  p99_us?: number;
  errors: number;
  mismatch: number;
  cpu_s?: number;
}

export interface Measurement {
  rep: number;
  run: string;
  server: string;
  loadgen: string;
  /** The loadgen's result; absent if it printed none. */
  result?: LoadgenResult;
  /** Server CPU (utime + stime of its process tree) in clock ticks. */
  server_cpu_ticks?: number;
  server_cpu_ns_per_frame?: number;
  /** Percent of the machine's CPU stolen by the hypervisor during the load. */
  stolen_pct?: number;
  /** How many times the measurement was taken; the last one is kept. */
  attempts: number;
  error?: string;
}
