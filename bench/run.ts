/**
 * The end-to-end benchmark: echo servers driven over loopback by a load
 * generator, in interleaved repetitions, summarised as one markdown table.
 *
 *     deno task bench [--reps 3] [--duration 3000] [--only small-pipe,tether]
 *                     [--json results.json] [--no-go] [--loadgen auto|go|bun]
 *                     [--max-steal 10] [--retries 3]
 *
 * Servers: tether's examples/echo_server.ts on Deno, Bun and Node (compiled
 * with tsc first), the raw byte echoes of bench/servers/ on the same three,
 * and, when `go` is on PATH, the Go anchors of bench/go/echo.go (plain and
 * -bufio). Each is started once,
 * checked before every measurement and restarted if it died.
 *
 * Load: bench/go/loadgen.go when Go is available (it costs the least CPU on
 * a machine the server shares), else bench/loadgen.ts on Bun. With Go, the
 * `client` run also drives the buffered Go server with tether's client
 * (bench/client_load.ts on Deno and on Bun) next to the Go loadgen.
 *
 * Every repetition runs every (run, server) pair once, servers in a rotated
 * order, so slow phases of a noisy machine hit all servers alike; the table
 * shows medians over repetitions, and each ratio to the raw echo is the
 * median of the ratios within one repetition. On a virtual machine, a
 * measurement during which the hypervisor gave more than `--max-steal`
 * percent of the CPU to other guests is taken again, up to `--retries`
 * times: such a measurement says more about the neighbours than about the
 * server. Server CPU is the utime + stime of the
 * server's process tree from /proc/<pid>/stat, read before and after each
 * measurement, in clock ticks (1/100 s on Linux).
 */
import { sleep } from "./_children.ts";
import {
  clockTicksPerSecond,
  machineTicks,
  stolenPercent,
  treeTicks,
} from "./_procfs.ts";
import {
  buildGo,
  clientLoadgens,
  findBun,
  pickLoadgen,
  serverSpecs,
} from "./_builds.ts";
import { runLoadgen, type RunningServer, startServer } from "./_load.ts";
import {
  CLIENT_RUN,
  type Loadgen,
  type Measurement,
  type Run,
  RUNS,
  type ServerSpec,
} from "./_model.ts";
import { parseOptions } from "./_options.ts";
import {
  alive,
  cleanup,
  installCleanup,
  isShuttingDown,
  log,
} from "./_processes.ts";
import { describe, jsonReport, report } from "./_report.ts";

const options = parseOptions();
const { reps, duration, warmup, maxSteal, retries, matches } = options;
installCleanup();

async function main(): Promise<void> {
  const go = await buildGo(options.noGo);
  const bun = findBun();
  const loadgen = pickLoadgen(options.loadgen, go, bun);
  const allServers = await serverSpecs(go, bun);

  const filterRuns = [...RUNS, CLIENT_RUN].some((run) => matches(run.name));
  const filterServers = allServers.some((server) => matches(server.name));
  const runs = filterRuns ? RUNS.filter((run) => matches(run.name)) : RUNS;
  const goBufio = allServers.find((server) => server.name === "go-bufio");
  // The client run needs the buffered Go server and the Go loadgen.
  let clients: Loadgen[] = [];
  if ((!filterRuns || matches(CLIENT_RUN.name)) && go && goBufio) {
    clients = clientLoadgens(go, bun);
  } else if (filterRuns && matches(CLIENT_RUN.name)) {
    log("the client run needs go on PATH: skipped");
  }
  const specs = filterServers
    ? allServers.filter((server) => matches(server.name))
    : allServers;

  const ticksPerSecond = await clockTicksPerSecond();
  log(
    `loadgen: ${loadgen.kind} | servers: ${
      specs.map((s) => s.name).join(", ")
    }` +
      ` | runs: ${
        runs.map((r) => r.name).join(", ")
      } | ${reps} reps of ${duration} ms`,
  );

  const running = new Map<string, RunningServer>();
  const ensure = async (spec: ServerSpec): Promise<RunningServer> => {
    const current = running.get(spec.name);
    if (current && alive(current.child)) return current;
    if (current) {
      log(`${spec.name} had exited; restarting it\n${current.stderr.text}`);
    }
    const started = await startServer(spec, options.startTimeout);
    running.set(spec.name, started);
    return started;
  };
  for (const spec of specs) {
    const server = await ensure(spec);
    log(`${spec.name} listening on ${server.addr} (pid ${server.child.pid})`);
  }

  if (warmup > 0) {
    log(`warming up: ${warmup} ms per run and server`);
    for (const spec of specs) {
      for (const run of runs) {
        const server = await ensure(spec);
        const { error } = await runLoadgen(loadgen, server.addr, run, warmup);
        if (error) log(`warm-up ${run.name} on ${spec.name}: ${error}`);
      }
    }
  }

  /** One measurement of `run` on `spec`, with the CPU stolen meanwhile. */
  const measure = async (
    rep: number,
    run: Run,
    spec: ServerSpec,
    using: Loadgen,
    attempts: number,
  ): Promise<Measurement> => {
    const measurement: Measurement = {
      rep,
      run: run.name,
      server: spec.name,
      loadgen: using.kind,
      attempts,
    };
    try {
      const server = await ensure(spec);
      const machineBefore = machineTicks();
      const before = treeTicks(server.child.pid);
      const { result, error } = await runLoadgen(
        using,
        server.addr,
        run,
        duration,
      );
      const after = treeTicks(server.child.pid);
      const stolen = stolenPercent(machineBefore, machineTicks());
      if (stolen !== undefined) measurement.stolen_pct = stolen;
      if (result) measurement.result = result;
      if (error) measurement.error = error;
      if (before !== undefined && after !== undefined && result) {
        measurement.server_cpu_ticks = after - before;
        if (result.msgs > 0) {
          measurement.server_cpu_ns_per_frame = (after - before) *
            (1e9 / ticksPerSecond) / result.msgs;
        }
      }
    } catch (error) {
      measurement.error = (error as Error).message;
    }
    return measurement;
  };
  const disturbed = (measurement: Measurement): boolean =>
    measurement.stolen_pct !== undefined && measurement.stolen_pct > maxSteal;

  const measurements: Measurement[] = [];
  let repeated = 0;
  const total = reps * (runs.length * specs.length + clients.length);
  /** Measures, taking it again while too much CPU was stolen. */
  const record = async (
    rep: number,
    run: Run,
    spec: ServerSpec,
    using: Loadgen,
    label: string,
  ): Promise<void> => {
    let measurement = await measure(rep, run, spec, using, 1);
    while (disturbed(measurement) && measurement.attempts <= retries) {
      log(`${label}: ${describe(measurement)}; taking it again`);
      repeated++;
      // A neighbour's burst often lasts a few seconds: let it pass.
      await sleep(1000);
      measurement = await measure(
        rep,
        run,
        spec,
        using,
        measurement.attempts + 1,
      );
    }
    measurements.push(measurement);
    log(`[${measurements.length}/${total}] ${label}: ${describe(measurement)}`);
    await sleep(100);
  };
  const ticksBefore = machineTicks();
  for (let rep = 1; rep <= reps; rep++) {
    for (const run of runs) {
      // Rotate the order each repetition so no server always goes first.
      const shift = (rep - 1 + runs.indexOf(run)) % specs.length;
      const order = [...specs.slice(shift), ...specs.slice(0, shift)];
      for (const spec of order) {
        await record(
          rep,
          run,
          spec,
          loadgen,
          `rep ${rep} ${run.name} ${spec.name}`,
        );
      }
    }
    for (const client of clients) {
      await record(
        rep,
        CLIENT_RUN,
        goBufio!,
        client,
        `rep ${rep} client ${client.kind}`,
      );
    }
  }

  const stolen = stolenPercent(ticksBefore, machineTicks());
  const sitting = {
    loadgen: loadgen.kind,
    reps,
    duration,
    ticksPerSecond,
    runs,
    specs,
    clients,
    measurements,
    stolen,
    repeated,
    maxSteal,
    stillDisturbed: measurements.filter(disturbed).length,
  };
  console.log(report(sitting));

  if (options.json) {
    const dump = jsonReport(sitting);
    if (options.json === "-") console.log(dump);
    else {
      await Deno.writeTextFile(options.json, dump + "\n");
      log(`wrote ${measurements.length} measurements to ${options.json}`);
    }
  }

  const failed = measurements.filter((m) => m.error).length;
  if (failed > 0) {
    log(`${failed} of ${measurements.length} measurements failed`);
    Deno.exitCode = 1;
  }
}

try {
  await main();
} catch (error) {
  if (!isShuttingDown()) {
    console.error(error instanceof Error ? error.message : error);
  }
  Deno.exitCode = 1;
} finally {
  await cleanup();
}
