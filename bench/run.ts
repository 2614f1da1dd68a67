// deno-lint-ignore-file no-console -- a benchmark script: progress on stderr, paths on stdout
/**
 * `deno task bench`: measures cplauncher side by side with what an operator scripts
 * instead, on this machine, with a real kube-apiserver and real network namespaces, and
 * writes `bench/results/latest.json`, `docs/benchmarks.md` and `docs/benchmarks.svg`. The
 * launcher measured is the shipped bundle (built by `scripts/bundle.ts` at the start of the
 * run, into the run's scratch folder); P2 and P3 also run it from source, as a column.
 *
 *   deno run --allow-all bench/run.ts [--trials N] [--smoke] [--out DIR]
 *
 * `--trials N`: trials per arm of P1, P2 and P5 (default 30). `--smoke`: 1 trial of each and
 * small sizes, results into a fresh temp dir (or `--out DIR`), never into the repo.
 * `--out DIR`: write `latest.json`, `benchmarks.md` and `benchmarks.svg` into DIR instead.
 * `--only P5`: run P5 alone and merge it into the existing `latest.json` (the other figures
 * stay as they were measured; the report says P5 came from a run of its own).
 * Needs root (network namespaces) and the kube test binaries (built on first use).
 * Everything it creates — namespaces, the apiserver and etcd, processes, temp files — is
 * removed at the end, also when a benchmark fails or the run is interrupted.
 *
 * @module
 */
import { join } from "node:path";
import { startKubeCluster } from "../tests/support/kube_cluster.ts";
import { albumsCommand } from "../tests/support/albums_scenario.ts";
import type { KubeCluster } from "../tests/support/kube_cluster.ts";
import { createTestNetwork, type TestNetwork } from "../tests/support/netns.ts";
import { type BenchContext, type LightWorkload, useBundle } from "./lib/context.ts";
import { machineInfo, sourceState, versionInfo } from "./lib/env.ts";
import { BENCH_DIR, ROOT } from "./lib/paths.ts";
import { type Prober, startProber } from "./lib/prober.ts";
import { runCommand, stopAll } from "./lib/procs.ts";
import { monteCarlo, round, summarize } from "./lib/stats.ts";
import { type P1Trial, type P1Workload, runP1 } from "./p1_readiness.ts";
import { type P2Trial, runP2 } from "./p2_cold_start.ts";
import { makeP3Anchors, type P3Trial, runP3 } from "./p3_scale.ts";
import { LINE_BYTES, type P4Trial, runP4 } from "./p4_relay.ts";
import { type P5Output, type P5Settings, runP5 } from "./p5_discovery.ts";
import type { P1Figures, P3Figures, P5Figures, Results, Runs } from "./lib/results.ts";
import { DEFAULT_SELECTOR_WATCHES } from "../src/kube/pod_hub.ts";
import type { SourceState } from "./lib/env.ts";
import { goalsFrom, writeOutputs } from "./report.ts";
import { build, CLI_ENTRY, readBuildInfo } from "../scripts/bundle.ts";
import { runScan, type ScanSize } from "./scan.ts";

interface Options {
  smoke: boolean;
  trials: number;
  out?: string;
  /** Run only this benchmark and merge it into the existing results. */
  only?: "P5";
}

function parseArgs(args: string[]): Options {
  const options: Options = { smoke: false, trials: 30 };
  let trialsGiven = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--smoke") options.smoke = true;
    else if (a === "--trials" || a.startsWith("--trials=")) {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[++i];
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--trials: '${v}' is not a count ≥ 1`);
      options.trials = n;
      trialsGiven = true;
    } else if (a === "--out" || a.startsWith("--out=")) {
      options.out = a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[++i];
    } else if (a === "--only" || a.startsWith("--only=")) {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[++i];
      if (v?.toUpperCase() !== "P5") throw new Error(`--only: '${v}' is not P5 (the only choice)`);
      options.only = "P5";
    } else if (a === "--help" || a === "-h") {
      console.log("usage: deno task bench [--trials N] [--smoke] [--out DIR] [--only P5]");
      Deno.exit(0);
    } else throw new Error(`unknown argument '${a}' (see --help)`);
  }
  if (options.smoke && !trialsGiven) options.trials = 1;
  return options;
}

const started = performance.now();
function log(message: string): void {
  const s = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  console.error(`[bench ${s}s] ${message}`);
}

/** Compiles tinyhttp; without a C compiler, python3's http.server serves instead. */
async function lightWorkload(dir: string): Promise<LightWorkload> {
  const bin = join(dir, "tinyhttp");
  const cc = await runCommand("cc", ["-O2", "-o", bin, join(BENCH_DIR, "workloads/tinyhttp.c")])
    .catch(() => null);
  if (cc?.code === 0) {
    return {
      name: "tinyhttp (bench/workloads/tinyhttp.c, cc -O2)",
      label: "tinyhttp",
      command: (port) => [bin, String(port)],
    };
  }
  log(`no C compiler (${cc?.stderr.trim() ?? "cc not found"}): using python3 -m http.server`);
  const py = await runCommand("python3", ["-c", "import sys; print(sys.executable)"]);
  if (py.code !== 0) throw new Error("neither cc nor python3 is available for the light workload");
  const python = py.stdout.trim();
  return {
    name: `python3 -m http.server (${python})`,
    label: "python3 http.server",
    command: (port) => [python, "-m", "http.server", String(port), "--bind", "0.0.0.0", "-d", dir],
  };
}

function p1Figures(
  trials: P1Trial[],
  workload: P1Workload,
  name: string,
  apiGet: number[],
): P1Figures {
  const ok = trials.filter((t) => t.ok && t.workload === workload);
  const of = (arm: string, key: keyof P1Trial) =>
    ok.filter((t) => t.arm === arm).map((t) => t[key] as number);
  const execToServing = of("ours", "execToServingMs");
  const model = monteCarlo(
    [apiGet, { uniform: [0, 1000] }, { uniform: [0, 1000] }, execToServing],
    20_000,
    1,
  );
  return {
    workload: name,
    ours: summarize(of("ours", "readyToServingMs")),
    baseline: summarize(of("baseline", "readyToServingMs")),
    oursReadyToExec: summarize(of("ours", "readyToExecMs")),
    baselineReadyToExec: summarize(of("baseline", "readyToExecMs")),
    oursExecToServing: summarize(execToServing),
    baselineExecToServing: summarize(of("baseline", "execToServingMs")),
    workloadCpuMsAtServing: summarize(
      ok.map((t) => t.workloadCpuMs).filter((v): v is number => v !== undefined),
      0,
    ),
    workloadRssMBAtServing: summarize(
      ok.map((t) => (t.workloadRssKiB ?? 0) * 1024 / 1e6).filter((v) => v > 0),
    ),
    goModelled: {
      ...summarize(model),
      modelled: true,
      formula: "API GET latency (measured from this machine's apiserver, sampled) + U(0, 1 s) " +
        "until the next 1 s pod poll + U(0, 1 s) until the next 1 s compartment poll + the " +
        "workload's exec → serving (measured in our runs, sampled); 20,000 draws, seed 1. " +
        "Not run: it models the Go cplauncher's polling design.",
    },
    failures: trials.filter((t) => !t.ok && t.workload === workload).length,
    samples: {
      ours: of("ours", "readyToServingMs").map((v) => round(v)),
      baseline: of("baseline", "readyToServingMs").map((v) => round(v)),
    },
  };
}

function p5Figures(
  output: P5Output,
  settings: P5Settings,
  source: SourceState,
  srcChangedDuringRun: boolean,
): P5Figures {
  const ok = output.trials.filter((t) => t.ok);
  const of = (arm: "empty" | "crowded", key: "startToExecMs" | "peakRssKiB") =>
    ok.filter((t) => t.arm === arm).map((t) =>
      key === "peakRssKiB" ? t[key]! * 1024 / 1e6 : t[key]!
    );
  const costs = new Map<string, P5Output["watchCosts"]>();
  for (const c of output.watchCosts) {
    const key = `${c.kind} ${c.watches} ${c.nodeFiltered}`;
    costs.set(key, [...costs.get(key) ?? [], c]);
  }
  return {
    settings: {
      unrelatedPods: output.unrelatedPods,
      trials: settings.trials,
      churnSeconds: settings.churnSeconds,
      probeSizes: [...settings.probeSizes],
      probeRepetitions: settings.probeRepetitions,
      selectorWatchBound: DEFAULT_SELECTOR_WATCHES,
    },
    podJsonBytes: output.podJsonBytes,
    listBytes: output.listBytes,
    emptyStartToExecMs: summarize(of("empty", "startToExecMs")),
    crowdedStartToExecMs: summarize(of("crowded", "startToExecMs")),
    emptyPeakRssMB: summarize(of("empty", "peakRssKiB")),
    crowdedPeakRssMB: summarize(of("crowded", "peakRssKiB")),
    churn: output.churn,
    watchCosts: [...costs.values()].map((samples) => ({
      kind: samples[0].kind,
      watches: samples[0].watches,
      nodeFiltered: samples[0].nodeFiltered,
      readyMs: summarize(samples.map((c) => c.readyMs)),
      rssMB: summarize(samples.map((c) => c.rssKiB * 1024 / 1e6), 2),
      sockets: summarize(samples.map((c) => c.sockets), 0).p50,
      pods: samples[0].pods,
    })),
    failures: output.trials.length - ok.length,
    samples: {
      empty: of("empty", "startToExecMs").map((v) => round(v)),
      crowded: of("crowded", "startToExecMs").map((v) => round(v)),
    },
    notes: {
      finishedAt: new Date().toISOString(),
      loadAverageAtEnd: Deno.loadavg().map((x) => round(x, 2)),
      commit: source.commit,
      srcDigest: source.srcDigest,
      srcChangedDuringRun,
    },
  };
}

/** The sizes of P5 for a full or a smoke run. */
function p5Settings(options: Options): P5Settings {
  return options.smoke
    ? {
      unrelated: 100,
      trials: options.trials,
      warmup: false,
      churnSeconds: 3,
      probeSizes: [0, 2],
      probeRepetitions: 1,
    }
    : {
      unrelated: 3000,
      trials: options.trials,
      warmup: true,
      churnSeconds: 60,
      probeSizes: [0, 1, 2, 4, 8, 16, 32],
      probeRepetitions: 3,
    };
}

function buildRuns(input: {
  options: Options;
  light: LightWorkload;
  p1Workloads: P1Workload[];
  p3Sizes: number[];
  p3Trials: number;
  p4Bytes: number;
  p4Trials: number;
  scanSizes: number[];
  scanRepetitions: number;
  apiGet: number[];
  p1: P1Trial[];
  p2: { trials: P2Trial[]; breakdown: import("./p2_cold_start.ts").P2Breakdown };
  p3: P3Trial[];
  p4: P4Trial[];
  p5: P5Figures;
  p5Trials: P5Output["trials"];
  scan: ScanSize[];
}): Runs {
  const { options, light } = input;
  const p1: Record<string, P1Figures> = {};
  for (const w of input.p1Workloads) {
    p1[w] = p1Figures(input.p1, w, w === "albums" ? "albums" : light.label, input.apiGet);
  }
  const p2ok = input.p2.trials.filter((t) => t.ok);
  const p2of = (arm: string, key: "startToExecMs" | "startToExitMs") =>
    p2ok.filter((t) => t.arm === arm).map((t) => t[key]!);
  const mb = (kib: number[]) => kib.map((k) => k * 1024 / 1e6);
  const b = input.p2.breakdown;
  const p3 = (workload: string, sizes: number[], build: "bundle" | "source" = "bundle") => {
    const out: Record<string, P3Figures> = {};
    for (const n of sizes) {
      const all = input.p3.filter((t) =>
        t.workload === workload && t.anchors === n && (t.build ?? "bundle") === build
      );
      const ok = all.filter((t) => t.ok);
      out[String(n)] = {
        allServingMs: summarize(ok.map((t) => t.allServingMs!)),
        firstServingMs: summarize(ok.map((t) => t.firstServingMs!)),
        launcherHwmMB: summarize(ok.map((t) => t.launcherHwmKiB! * 1024 / 1e6)),
        launcherRssMB: summarize(ok.map((t) => t.launcherRssKiB! * 1024 / 1e6)),
        stopMs: summarize(ok.map((t) => t.stopMs!)),
        failures: all.length - ok.length,
      };
    }
    return out;
  };
  const p4ok = input.p4.filter((t) => t.ok);
  const p4of = (arm: P4Trial["arm"], key: "mbPerSecond" | "endToEndMbPerSecond") =>
    p4ok.filter((t) => t.arm === arm).map((t) => t[key]!);
  return {
    settings: {
      smoke: options.smoke,
      trials: options.trials,
      p1Workloads: input.p1Workloads,
      p3Sizes: input.p3Sizes,
      p3Trials: input.p3Trials,
      p4Bytes: input.p4Bytes,
      p4LineBytes: LINE_BYTES,
      p4Trials: input.p4Trials,
      scanSizes: input.scanSizes,
      scanRepetitions: input.scanRepetitions,
      lightWorkload: light.name,
    },
    apiGetMs: summarize(input.apiGet, 2),
    P1: p1,
    P2: {
      ours: summarize(p2of("ours", "startToExecMs")),
      baseline: summarize(p2of("baseline", "startToExecMs")),
      source: summarize(p2of("source", "startToExecMs")),
      floor: summarize(p2of("floor", "startToExecMs")),
      oursToExit: summarize(p2of("ours", "startToExitMs")),
      baselineToExit: summarize(p2of("baseline", "startToExitMs")),
      breakdown: {
        denoStartMs: summarize(b.denoStartMs),
        clientNodeImportMs: summarize(b.clientNodeImportMs),
        bundleClientNodeImportMs: summarize(b.bundleClientNodeImportMs),
        launcherVersionMs: summarize(b.launcherVersionMs),
        sourceVersionMs: summarize(b.sourceVersionMs),
        kubectlGetMs: summarize(b.kubectlGetMs),
        denoEmptyHwmMB: summarize(mb(b.denoEmptyHwmKiB)),
        clientNodeHwmMB: summarize(mb(b.clientNodeHwmKiB)),
        bundleClientNodeHwmMB: summarize(mb(b.bundleClientNodeHwmKiB)),
      },
      goModelled: {
        ...summarize(b.kubectlGetMs),
        modelled: true,
        formula: "a Go client's start + loading the kubeconfig + one API request, measured as " +
          "`kubectl get pod -l … -o jsonpath` (sampled), assuming the Go launcher polls the " +
          "pod and the compartment once right at start; each 1 s poll it sleeps before its " +
          "first try would add U(0, 1 s). Not run.",
      },
      failures: input.p2.trials.filter((t) => !t.ok).length,
      samples: {
        ours: p2of("ours", "startToExecMs").map((v) => round(v)),
        baseline: p2of("baseline", "startToExecMs").map((v) => round(v)),
        source: p2of("source", "startToExecMs").map((v) => round(v)),
        floor: p2of("floor", "startToExecMs").map((v) => round(v)),
      },
    },
    P3: {
      workload: light.name,
      sizes: p3(light.label, input.p3Sizes),
      albums: p3("albums", [Math.max(...input.p3Sizes)]),
      source: p3(light.label, [Math.max(...input.p3Sizes)], "source"),
    },
    P4: {
      payloadBytes: input.p4Bytes,
      oursDevNullMBps: summarize(p4of("ours-devnull", "mbPerSecond")),
      oursMBps: summarize(p4of("ours", "mbPerSecond")),
      oursEndToEndMBps: summarize(p4of("ours", "endToEndMbPerSecond")),
      catDevNullMBps: summarize(p4of("cat-devnull", "mbPerSecond")),
      catCountedMBps: summarize(p4of("cat-counted", "mbPerSecond")),
      bytesLost: p4ok.filter((t) => t.arm === "ours").map((t) => t.bytesLost!),
      badLines: p4ok.filter((t) => t.arm === "ours").map((t) => t.badLines ?? 0),
      launcherPeakRssMB: summarize(
        p4ok.filter((t) => t.arm.startsWith("ours")).map((t) => t.peakRssKiB! * 1024 / 1e6),
      ),
      failures: input.p4.filter((t) => !t.ok).length,
    },
    P5: input.p5,
    scan: input.scan.map((s) => ({
      made: s.made,
      scanned: s.scanned,
      named: s.named,
      oursMs: summarize(s.oursMs, 3),
      baselineMs: summarize(s.baselineMs, 2),
    })),
    notes: {
      loadAverageAtEnd: Deno.loadavg().map((x) => round(x, 2)),
      durationSeconds: round((performance.now() - started) / 1000, 0),
      finishedAt: new Date().toISOString(),
      srcChangedDuringRun: false,
    },
    trials: {
      P1: input.p1.map(roundFields),
      P2: input.p2.trials.map(roundFields),
      P3: input.p3.map(roundFields),
      P4: input.p4.map(roundFields),
      P5: input.p5Trials.map(roundFields),
    },
  };
}

function roundFields<T extends object>(t: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(t)) out[k] = typeof v === "number" ? round(v, 2) : v;
  return out as T;
}

/** The results P5 is merged into with `--only P5`. */
async function readResults(path: string): Promise<Results> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    throw new Error(`--only: no results at ${path} to merge into (run the full benchmark once)`);
  }
  const results = JSON.parse(text) as Results;
  if (!results.runs?.notes || !Array.isArray(results.goals)) {
    throw new Error(`--only: ${path} is not a results file of bench/run.ts`);
  }
  return results;
}

/** Writes the three files and reports each goal. */
async function finish(results: Results, jsonPath: string, docsDir: string): Promise<void> {
  await writeOutputs(results, jsonPath, docsDir);
  for (const g of results.goals) {
    log(
      `${g.id.padEnd(8)} ours ${g.ours} ${g.unit}, baseline ${g.baseline ?? "–"}, ratio ${
        g.ratio ?? "–"
      } (goal ${g.goal}): ${g.met ? "met" : "MISSED"}`,
    );
  }
  console.log(jsonPath);
  console.log(join(docsDir, "benchmarks.md"));
  console.log(join(docsDir, "benchmarks.svg"));
}

async function main(): Promise<number> {
  const options = parseArgs(Deno.args);
  if (Deno.build.os !== "linux") throw new Error("the benchmarks run on Linux only");
  if (Deno.uid() !== 0) throw new Error("the benchmarks need root (network namespaces)");
  const smoke = options.smoke;
  const p1Workloads: P1Workload[] = ["albums", "light"];
  const p3Sizes = smoke ? [1, 2] : [1, 10, 50];
  const p3Trials = smoke ? 1 : 3;
  const p4Bytes = smoke ? 2_000_000 : 200_000_000;
  const p4Trials = smoke ? 1 : 3;
  const scanSizes = smoke ? [1, 3] : [1, 10, 100];
  const scanRepetitions = smoke ? 2 : 20;
  const outDir = options.out ??
    (smoke ? await Deno.makeTempDir({ prefix: "cplauncher-bench-smoke-" }) : undefined);
  const jsonPath = outDir ? join(outDir, "latest.json") : join(ROOT, "bench/results/latest.json");
  const docsDir = outDir ?? join(ROOT, "docs");

  const dir = await Deno.makeTempDir({ prefix: "cplauncher-bench-" });
  let cluster: KubeCluster | undefined;
  let network: TestNetwork | undefined;
  let prober: Prober | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = () => {
    cleaned ??= (async () => {
      await prober?.stop().catch(() => {});
      await stopAll();
      await network?.remove().catch((e) => log(`network cleanup: ${e}`));
      await cluster?.stop().catch((e) => log(`cluster cleanup: ${e}`));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
    return cleaned;
  };
  const onSignal = () => {
    log("interrupted: removing everything the run made");
    cleanup().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    log("building the bundle (as deno task bundle does) for this run");
    const built = await build(join(dir, "dist"));
    const bundleInfo = await readBuildInfo(built.cli);
    useBundle(join(built.cli, CLI_ENTRY));
    const machine = await machineInfo();
    const source = await sourceState();
    const light = await lightWorkload(dir);
    log(`light workload: ${light.name}`);
    const merging = options.only ? await readResults(jsonPath) : undefined;

    if (!merging) log(`resolution scan with ${scanSizes.join(" / ")} namespaces`);
    const scan = merging ? [] : await runScan(scanSizes, scanRepetitions, log);

    log("starting kube-apiserver and etcd on 127.0.0.1");
    cluster = await startKubeCluster();
    const namespace = "bench";
    await cluster.createNamespace(namespace);
    const version = await cluster.api<{ gitVersion?: string }>("GET", "/version");
    const versions = {
      ...await versionInfo(cluster.binDir, version.body.gitVersion ?? "?", light.name, source),
      cplauncherBundle: `deno task bundle: ${Object.keys(bundleInfo?.files ?? {}).length} files, ${
        (Object.values(bundleInfo?.files ?? {}).reduce((a, b) => a + b, 0) / 1e6).toFixed(2)
      } MB, source digest ${built.sourceDigest}`,
    };
    network = await createTestNetwork("cplbn");
    const net = network;
    const client = await net.addHost("client", net.addr(200));
    let next = 10;
    const addHost = (name: string) => net.addHost(name, net.addr(next++));
    prober = await startProber(client.netns);
    const ctx: BenchContext = {
      smoke,
      trials: options.trials,
      cluster,
      namespace,
      network: net,
      client,
      prober,
      dir,
      kubeEnv: {
        PATH: `${cluster.binDir}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
        KUBECONFIG: cluster.adminKubeconfigPath,
      },
      light,
      log,
      addHost,
    };

    const p5Sizes = p5Settings(options);
    const measureP5 = async () => {
      log(`P5 discovery: ${p5Sizes.unrelated} unrelated pods, ${options.trials} trials per arm`);
      const output = await runP5(ctx, await addHost("p5"), p5Sizes);
      const after = await sourceState();
      return {
        output,
        figures: p5Figures(output, p5Sizes, source, after.srcDigest !== source.srcDigest),
      };
    };
    if (merging) {
      const { output, figures } = await measureP5();
      merging.runs.P5 = figures;
      merging.runs.trials.P5 = output.trials.map(roundFields);
      merging.goals = goalsFrom(merging.runs);
      await finish(merging, jsonPath, docsDir);
      return 0;
    }

    // The API latency a poller pays per request (input of the modelled Go figures).
    await cluster.createPod(namespace, { name: "api-latency" });
    const apiGet: number[] = [];
    for (let i = 0; i < (smoke ? 5 : 50); i++) {
      const t0 = performance.now();
      await cluster.getPod(namespace, "api-latency");
      apiGet.push(performance.now() - t0);
    }

    log(`P2 cold start → exec: ${options.trials} trials per arm`);
    const p2 = await runP2(ctx, await addHost("p2"), options.trials, !smoke, smoke ? 2 : 10);

    log(`P1 readiness → serving: ${options.trials} trials per arm and workload`);
    const p1 = await runP1(ctx, await addHost("p1"), p1Workloads, options.trials, !smoke);

    log(`P4 log relay: ${p4Bytes / 1e6} MB, ${p4Trials} trials`);
    const p4 = await runP4(ctx, await addHost("p4"), p4Bytes, p4Trials);

    const largest = Math.max(...p3Sizes);
    log(`P3 scale: ${p3Sizes.join(" / ")} anchors (creating ${largest} anchors)`);
    const hosts = await makeP3Anchors(ctx, largest);
    const p3 = await runP3(ctx, hosts, { ...light, path: "/" }, p3Sizes, p3Trials);
    log(`P3 from source (a column): ${largest} anchors`);
    p3.push(...await runP3(ctx, hosts, { ...light, path: "/" }, [largest], p3Trials, "source"));
    log(`P3 with the albums service as every workload: ${largest} anchors`);
    p3.push(
      ...await runP3(
        ctx,
        hosts,
        {
          label: "albums",
          command: albumsCommand,
          path: "/albums",
        },
        [largest],
        p3Trials,
      ),
    );

    // Last: its thousands of pods stay in the apiserver until the end of the run.
    const p5 = await measureP5();

    const runs = buildRuns({
      options,
      light,
      p1Workloads,
      p3Sizes,
      p3Trials,
      p4Bytes,
      p4Trials,
      scanSizes,
      scanRepetitions,
      apiGet,
      p1,
      p2,
      p3,
      p4,
      p5: p5.figures,
      p5Trials: p5.output.trials,
      scan,
    });
    const after = await sourceState();
    runs.notes.srcChangedDuringRun = after.srcDigest !== source.srcDigest;
    if (runs.notes.srcChangedDuringRun) {
      log(
        `WARNING: src/ changed during the run (${source.srcDigest} → ${after.srcDigest}, ` +
          `commit ${source.commit} → ${after.commit}): the figures mix two versions`,
      );
    }
    await finish({ machine, versions, goals: goalsFrom(runs), runs }, jsonPath, docsDir);
    return 0;
  } finally {
    await cleanup();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    console.error(`bench: ${error instanceof Error ? error.stack ?? error.message : error}`);
    Deno.exit(1);
  }
}
