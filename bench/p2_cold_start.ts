/**
 * P2 cold start to exec: the anchor pod is already Ready; from starting the contender's
 * process to the workload process running in the anchor's namespace.
 *
 * Ours: `cplauncher exec --label … -- WORKLOAD`, the shipped bundle (`deno run --no-config
 * dist/cplauncher/main.js`) and, as a column, from source (`deno run src/main.ts`).
 * Baseline: `bench/baseline.sh`. The workload is bash whose first action records
 * `$EPOCHREALTIME` (a builtin: no process start before the stamp) and whether
 * `/proc/self/ns/net` is the anchor's namespace, then exits; the contender exits with it.
 * Floor: a Deno process that only lists the pod with one `fetch()` (bench/lib/fetch_floor.ts)
 * and stamps the answer — what any Deno launcher pays at least.
 *
 * Also measured, to explain our figure: a Deno process's own start, loading
 * `@kubernetes/client-node` in a fresh process (the bundle's chunk, and from source),
 * `cplauncher --version` (bundle and source), and a `kubectl get` (a Go client's start + one
 * API call, the input of the modelled Go figure).
 *
 * @module
 */
import { join } from "node:path";
import { parse } from "yaml";
import type { TestHost } from "../tests/support/netns.ts";
import {
  type BenchContext,
  bundleEntryPath,
  type LauncherBuild,
  launcherCommand,
  startBaseline,
  startOurs,
} from "./lib/context.ts";
import { BENCH_DIR, ROOT } from "./lib/paths.ts";
import { epochMs, runCommand, spawn } from "./lib/procs.ts";

/** The contenders of P2. */
export type P2Arm = "ours" | "source" | "baseline" | "floor";

/** One P2 trial. */
export interface P2Trial {
  /** `ours` is the bundle; `source` the same launcher run from source. */
  readonly arm: P2Arm;
  readonly index: number;
  readonly ok: boolean;
  /** Process start → workload exec'd. */
  readonly startToExecMs?: number;
  /** Process start → contender exited (after the workload). */
  readonly startToExitMs?: number;
  readonly error?: string;
}

/** The breakdown figures (each a list of samples, ms). */
export interface P2Breakdown {
  /** `deno run` of an empty module: process start → module evaluated. */
  readonly denoStartMs: number[];
  /** `await import("@kubernetes/client-node")` in a fresh process, from source. */
  readonly clientNodeImportMs: number[];
  /** Importing the bundle's client-node chunk in a fresh process. */
  readonly bundleClientNodeImportMs: number[];
  /** Wall time of the bundle's `cplauncher --version` (no Kubernetes client loaded). */
  readonly launcherVersionMs: number[];
  /** The same from source. */
  readonly sourceVersionMs: number[];
  /** Wall time of `kubectl get pod -l … -o jsonpath=…`. */
  readonly kubectlGetMs: number[];
  /** Peak RSS of a Deno process that evaluated an empty module, KiB. */
  readonly denoEmptyHwmKiB: number[];
  /** Peak RSS of a Deno process after importing client-node from source, KiB. */
  readonly clientNodeHwmKiB: number[];
  /** Peak RSS of a Deno process after importing the bundle's client-node chunk, KiB. */
  readonly bundleClientNodeHwmKiB: number[];
}

/** What the floor arm needs: the list URL and the admin credentials as PEM files. */
interface FloorInputs {
  readonly url: string;
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

async function floorInputs(ctx: BenchContext, selector: string): Promise<FloorInputs> {
  const config = parse(await Deno.readTextFile(ctx.cluster.adminKubeconfigPath)) as {
    clusters: { cluster: { server: string; "certificate-authority-data": string } }[];
    users: { user: { "client-certificate-data": string; "client-key-data": string } }[];
  };
  const write = async (name: string, base64: string) => {
    const path = join(ctx.dir, `p2-floor-${name}.pem`);
    await Deno.writeTextFile(path, atob(base64));
    return path;
  };
  const { cluster } = config.clusters[0];
  const { user } = config.users[0];
  return {
    url: `${cluster.server}/api/v1/namespaces/${ctx.namespace}/pods?labelSelector=${
      encodeURIComponent(selector)
    }`,
    ca: await write("ca", cluster["certificate-authority-data"]),
    cert: await write("cert", user["client-certificate-data"]),
    key: await write("key", user["client-key-data"]),
  };
}

async function trial(
  ctx: BenchContext,
  host: TestHost,
  selector: string,
  floor: FloorInputs,
  arm: P2Arm,
  index: number,
): Promise<P2Trial> {
  const marker = `${ctx.dir}/p2-${arm}-${index}.exec`;
  const script = `t=$EPOCHREALTIME; if [[ /proc/self/ns/net -ef ${host.path} ]]; then r=in; ` +
    `else r=out; fi; echo "$t $r" > ${marker}`;
  const command = ["bash", "-c", script];
  const execArgs = [
    "exec",
    "--label",
    selector,
    "--namespace",
    ctx.namespace,
    "--kubeconfig",
    ctx.cluster.adminKubeconfigPath,
    "--timeout",
    "60s",
    "--",
    ...command,
  ];
  const t0 = epochMs();
  const proc = arm === "ours" || arm === "source"
    ? startOurs(execArgs, {}, arm === "ours" ? "bundle" : "source")
    : arm === "baseline"
    ? startBaseline(ctx, selector, command)
    : spawn(Deno.execPath(), [
      "run",
      "--allow-all",
      "--no-config",
      `${BENCH_DIR}lib/fetch_floor.ts`,
      floor.url,
      floor.ca,
      floor.cert,
      floor.key,
      marker,
    ]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const status = await Promise.race([
      proc.status,
      new Promise<null>((r) => timer = setTimeout(() => r(null), 60_000)),
    ]);
    const t1 = epochMs();
    if (status === null || status.code !== 0) {
      return {
        arm,
        index,
        ok: false,
        error: `exit ${status?.code ?? "timeout"}: ${proc.stderr().slice(-1500)}`,
      };
    }
    const [time, where] = (await Deno.readTextFile(marker)).trim().split(/\s+/);
    if (arm === "floor") {
      if (where !== host.ip) return { arm, index, ok: false, error: `listed ${where}` };
      return { arm, index, ok: true, startToExecMs: Number(time) - t0, startToExitMs: t1 - t0 };
    }
    if (where !== "in") {
      return { arm, index, ok: false, error: "the workload did not run in the anchor's netns" };
    }
    return {
      arm,
      index,
      ok: true,
      startToExecMs: Number(time.replace(",", ".")) * 1000 - t0,
      startToExitMs: t1 - t0,
    };
  } catch (error) {
    return { arm, index, ok: false, error: String(error).slice(0, 2000) };
  } finally {
    clearTimeout(timer);
    await proc.stop();
  }
}

/** The arms in the order of trial `i` (rotated, so no arm always follows the same one). */
function armOrder(i: number): P2Arm[] {
  const arms: P2Arm[] = ["ours", "baseline", "source", "floor"];
  return [...arms.slice(i % arms.length), ...arms.slice(0, i % arms.length)];
}

/** Runs P2: `trials` per arm, rotating the order, after one warm-up each; then the breakdown. */
export async function runP2(
  ctx: BenchContext,
  host: TestHost,
  trials: number,
  warmup: boolean,
  breakdownSamples: number,
): Promise<{ trials: P2Trial[]; breakdown: P2Breakdown }> {
  const selector = "bench-p2=anchor";
  await ctx.cluster.createPod(ctx.namespace, {
    name: "p2-anchor",
    labels: { "bench-p2": "anchor" },
  });
  await ctx.cluster.setPodStatus(ctx.namespace, "p2-anchor", { ready: true, podIP: host.ip });
  try {
    const floor = await floorInputs(ctx, selector);
    if (warmup) {
      for (const arm of armOrder(0)) {
        const t = await trial(ctx, host, selector, floor, arm, -1);
        if (!t.ok) throw new Error(`P2 warm-up (${arm}) failed: ${t.error}`);
      }
    }
    const out: P2Trial[] = [];
    for (let i = 0; i < trials; i++) {
      for (const arm of armOrder(i)) {
        const t = await trial(ctx, host, selector, floor, arm, i);
        out.push(t);
        ctx.log(
          `P2 ${arm} #${i + 1}: ${
            t.ok ? `${t.startToExecMs!.toFixed(1)} ms` : `FAILED ${t.error?.split("\n")[0]}`
          }`,
        );
      }
    }
    return { trials: out, breakdown: await breakdown(ctx, selector, breakdownSamples) };
  } finally {
    await ctx.cluster.deletePod(ctx.namespace, "p2-anchor").catch(() => {});
  }
}

/** Measures what our cold start is made of (and a Go client's start, for the model). */
async function breakdown(
  ctx: BenchContext,
  selector: string,
  samples: number,
): Promise<P2Breakdown> {
  const out: P2Breakdown = {
    denoStartMs: [],
    clientNodeImportMs: [],
    bundleClientNodeImportMs: [],
    launcherVersionMs: [],
    sourceVersionMs: [],
    kubectlGetMs: [],
    denoEmptyHwmKiB: [],
    clientNodeHwmKiB: [],
    bundleClientNodeHwmKiB: [],
  };
  const probe = `${BENCH_DIR}lib/startup_probe.ts`;
  const bundleDir = join(bundleEntryPath(), "..");
  const chunk = [...Deno.readDirSync(bundleDir)].find((e) => e.name.startsWith("client_node_api-"));
  if (!chunk) throw new Error(`no client-node chunk in ${bundleDir}`);
  const deno = (args: string[]) => runCommand(Deno.execPath(), args, { cwd: ROOT });
  const probeRun = async (args: string[]) => {
    const r = await deno(args);
    if (r.code !== 0) throw new Error(`startup probe failed: ${r.stderr}`);
    return { ms: r.ms, ...JSON.parse(r.stdout) as { importMs: number; hwmKiB: number } };
  };
  const version = async (build: LauncherBuild) => {
    const [program, ...rest] = launcherCommand(build);
    const v = await runCommand(program, [...rest, "--version"], { cwd: ROOT });
    if (v.code !== 0) throw new Error(`cplauncher --version failed: ${v.stderr}`);
    return v.ms;
  };
  for (let i = 0; i < samples; i++) {
    const empty = await probeRun(["run", "--allow-all", "--no-config", probe, "--empty"]);
    out.denoStartMs.push(empty.ms);
    out.denoEmptyHwmKiB.push(empty.hwmKiB);
    const source = await probeRun(["run", "--allow-all", probe]);
    out.clientNodeImportMs.push(source.importMs);
    out.clientNodeHwmKiB.push(source.hwmKiB);
    const bundled = await probeRun([
      "run",
      "--allow-all",
      "--no-config",
      probe,
      "--chunk",
      join(bundleDir, chunk.name),
    ]);
    out.bundleClientNodeImportMs.push(bundled.importMs);
    out.bundleClientNodeHwmKiB.push(bundled.hwmKiB);
    out.launcherVersionMs.push(await version("bundle"));
    out.sourceVersionMs.push(await version("source"));
    const k = await runCommand(`${ctx.cluster.binDir}/kubectl`, [
      "get",
      "pod",
      "-l",
      selector,
      "-n",
      ctx.namespace,
      "-o",
      "jsonpath={.items[0].status.podIP}",
    ], { env: ctx.kubeEnv });
    if (k.code !== 0) throw new Error(`kubectl get failed: ${k.stderr}`);
    out.kubectlGetMs.push(k.ms);
  }
  return out;
}
