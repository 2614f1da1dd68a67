/**
 * P2 cold start to exec: the anchor pod is already Ready; from starting the contender's
 * process to the workload process running in the anchor's namespace.
 *
 * Ours: `cplauncher exec --label … -- WORKLOAD` (from source, as `deno task cplauncher`).
 * Baseline: `bench/baseline.sh`. The workload is bash whose first action records
 * `$EPOCHREALTIME` (a builtin: no process start before the stamp) and whether
 * `/proc/self/ns/net` is the anchor's namespace, then exits; the contender exits with it.
 *
 * Also measured, to explain our figure: a Deno process's own start, the import of
 * `@kubernetes/client-node` in a fresh process, `cplauncher --version`, and a `kubectl get`
 * (a Go client's start + one API call, the input of the modelled Go figure).
 *
 * @module
 */
import type { TestHost } from "../tests/support/netns.ts";
import { type BenchContext, startBaseline, startOurs } from "./lib/context.ts";
import { BENCH_DIR, LAUNCHER_MAIN, ROOT } from "./lib/paths.ts";
import { epochMs, runCommand } from "./lib/procs.ts";

/** One P2 trial. */
export interface P2Trial {
  readonly arm: "ours" | "baseline";
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
  /** `await import("@kubernetes/client-node")` in a fresh process. */
  readonly clientNodeImportMs: number[];
  /** Wall time of `cplauncher --version` (no Kubernetes client loaded). */
  readonly launcherVersionMs: number[];
  /** Wall time of `kubectl get pod -l … -o jsonpath=…`. */
  readonly kubectlGetMs: number[];
  /** Peak RSS of a Deno process that evaluated an empty module, KiB. */
  readonly denoEmptyHwmKiB: number[];
  /** Peak RSS of a Deno process after importing client-node, KiB. */
  readonly clientNodeHwmKiB: number[];
}

async function trial(
  ctx: BenchContext,
  host: TestHost,
  selector: string,
  arm: "ours" | "baseline",
  index: number,
): Promise<P2Trial> {
  const marker = `${ctx.dir}/p2-${arm}-${index}.exec`;
  const script = `t=$EPOCHREALTIME; if [[ /proc/self/ns/net -ef ${host.path} ]]; then r=in; ` +
    `else r=out; fi; echo "$t $r" > ${marker}`;
  const command = ["bash", "-c", script];
  const t0 = epochMs();
  const proc = arm === "ours"
    ? startOurs([
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
    ])
    : startBaseline(ctx, selector, command);
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

/** Runs P2: `trials` per arm, alternating, after one warm-up each; then the breakdown. */
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
    if (warmup) {
      for (const arm of ["ours", "baseline"] as const) {
        const t = await trial(ctx, host, selector, arm, -1);
        if (!t.ok) throw new Error(`P2 warm-up (${arm}) failed: ${t.error}`);
      }
    }
    const out: P2Trial[] = [];
    for (let i = 0; i < trials; i++) {
      const arms = i % 2 === 0 ? ["ours", "baseline"] as const : ["baseline", "ours"] as const;
      for (const arm of arms) {
        const t = await trial(ctx, host, selector, arm, i);
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
    launcherVersionMs: [],
    kubectlGetMs: [],
    denoEmptyHwmKiB: [],
    clientNodeHwmKiB: [],
  };
  const probe = `${BENCH_DIR}lib/startup_probe.ts`;
  const deno = (args: string[]) => runCommand(Deno.execPath(), args, { cwd: ROOT });
  for (let i = 0; i < samples; i++) {
    const empty = await deno(["run", "--allow-all", probe, "--empty"]);
    if (empty.code !== 0) throw new Error(`startup probe failed: ${empty.stderr}`);
    out.denoStartMs.push(empty.ms);
    out.denoEmptyHwmKiB.push((JSON.parse(empty.stdout) as { hwmKiB: number }).hwmKiB);
    const r = await deno(["run", "--allow-all", probe]);
    if (r.code !== 0) throw new Error(`startup probe failed: ${r.stderr}`);
    const figures = JSON.parse(r.stdout) as { importMs: number; hwmKiB: number };
    out.clientNodeImportMs.push(figures.importMs);
    out.clientNodeHwmKiB.push(figures.hwmKiB);
    const v = await deno(["run", "--allow-all", LAUNCHER_MAIN, "--version"]);
    if (v.code !== 0) throw new Error(`cplauncher --version failed: ${v.stderr}`);
    out.launcherVersionMs.push(v.ms);
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
