/**
 * What every benchmark gets: the cluster, the namespaces, the client prober, the workloads,
 * and helpers to start the contenders (cplauncher's bundle, or from source; the baseline
 * script).
 *
 * @module
 */
import { join } from "node:path";
import { stringify } from "yaml";
import type { KubeCluster } from "../../tests/support/kube_cluster.ts";
import type { TestHost, TestNetwork } from "../../tests/support/netns.ts";
import { run } from "../../tests/support/netns.ts";
import { BENCH_DIR, LAUNCHER_BUNDLE, LAUNCHER_MAIN, ROOT } from "./paths.ts";
import type { Prober } from "./prober.ts";
import { type BenchProcess, sleep, spawn, type SpawnOptions } from "./procs.ts";

/** The lightweight HTTP workload (compiled tinyhttp, or python3's http.server). */
export interface LightWorkload {
  /** What it is, for the report. */
  readonly name: string;
  /** A short label for tables and the chart. */
  readonly label: string;
  /** Its command line for `port`. */
  command(port: number): string[];
}

/** Shared state of a benchmark run. */
export interface BenchContext {
  readonly smoke: boolean;
  /** Trials per arm of P1 and P2. */
  readonly trials: number;
  readonly cluster: KubeCluster;
  /** Kubernetes namespace of the anchor pods. */
  readonly namespace: string;
  readonly network: TestNetwork;
  /** The client namespace (where the prober runs). */
  readonly client: TestHost;
  readonly prober: Prober;
  /** Scratch folder (configs, markers, payloads). */
  readonly dir: string;
  /** Environment of the baseline: `kubectl` on PATH, KUBECONFIG. */
  readonly kubeEnv: Record<string, string>;
  readonly light: LightWorkload;
  /** Progress message on stderr. */
  log(message: string): void;
  /** A new anchor namespace on the bridge with the next free address. */
  addHost(name: string): Promise<TestHost>;
}

/** The baseline operator script. */
export const BASELINE_SCRIPT = join(BENCH_DIR, "baseline.sh");
/** The baseline's namespace lookup on its own (for the scan benchmark). */
export const FIND_NETNS_SCRIPT = join(BENCH_DIR, "find_netns.sh");

/** How the launcher is run: the shipped bundle, or from source (`deno task cplauncher`). */
export type LauncherBuild = "bundle" | "source";

let bundleEntry = LAUNCHER_BUNDLE;

/**
 * Measures the bundle whose entry is `entry` (the run builds one of its own, so tests
 * rebuilding `dist/` meanwhile cannot change what is measured).
 */
export function useBundle(entry: string): void {
  bundleEntry = entry;
}

/** The entry module of the bundle being measured. */
export function bundleEntryPath(): string {
  return bundleEntry;
}

/** The command line that starts the launcher of `build`, before its own arguments. */
export function launcherCommand(build: LauncherBuild): string[] {
  // The bundle as users run it: no deno.json, no import map, no node_modules.
  return build === "bundle"
    ? [Deno.execPath(), "run", "--allow-all", "--no-config", bundleEntry]
    : [Deno.execPath(), "run", "--allow-all", LAUNCHER_MAIN];
}

/** Starts `cplauncher ARGS` (the bundle unless `build` says otherwise) in its own process group. */
export function startOurs(
  args: string[],
  options: SpawnOptions = {},
  build: LauncherBuild = "bundle",
): BenchProcess {
  const [program, ...rest] = launcherCommand(build);
  return spawn(program, [...rest, ...args], { cwd: ROOT, ...options });
}

/** Starts the baseline script for the anchor `selector`, running `command` when found. */
export function startBaseline(
  ctx: BenchContext,
  selector: string,
  command: string[],
  extraEnv: Record<string, string> = {},
): BenchProcess {
  return spawn("bash", [BASELINE_SCRIPT, selector, ctx.namespace, "120s", "--", ...command], {
    env: { ...ctx.kubeEnv, ...extraEnv },
  });
}

/** Writes a launcher config (YAML) into the scratch folder and returns its path. */
export async function writeConfig(
  ctx: BenchContext,
  name: string,
  config: Record<string, unknown>,
): Promise<string> {
  const path = join(ctx.dir, `${name}.yaml`);
  await Deno.writeTextFile(path, stringify({ apiVersion: "cplauncher/v1", ...config }));
  return path;
}

/**
 * Wraps `command` so that its first action is writing `$EPOCHREALTIME $$` (bash builtins,
 * no process start) to `marker`, then exec's the real workload in place (same pid).
 */
export function markExec(marker: string, command: string[]): string[] {
  return ["bash", "-c", 'echo "$EPOCHREALTIME $$" > "$0"; exec "$@"', marker, ...command];
}

/** Reads a marker of {@linkcode markExec}: the exec time (epoch ms) and the pid. */
export async function readMarker(marker: string): Promise<{ at: number; pid: number } | null> {
  try {
    const [time, pid] = (await Deno.readTextFile(marker)).trim().split(/\s+/);
    return { at: Number(time.replace(",", ".")) * 1000, pid: Number(pid) };
  } catch {
    return null;
  }
}

/** Waits until no process is left in `host`'s namespace (SIGKILLs stragglers after 10 s). */
export async function waitNetnsEmpty(host: TestHost, ms = 10_000): Promise<void> {
  const pids = async () =>
    (await run("ip", ["netns", "pids", host.netns])).stdout.split(/\s+/).filter(Boolean);
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if ((await pids()).length === 0) return;
    await sleep(50);
  }
  for (const pid of await pids()) {
    try {
      Deno.kill(Number(pid), "SIGKILL");
    } catch { /* gone */ }
  }
  await sleep(100);
}
