/**
 * P3 scale: one `cplauncher run` with N selector anchors (each its own Ready pod and
 * network namespace) and N workloads, all listening on port 8080 — the same port in N
 * namespaces. From starting the launcher to every pod IP answering HTTP 200 from the
 * client namespace; then the launcher's peak RSS (VmHWM) after one more second of
 * supervising. The goal figures use the light workload (a start of ~1 ms, so the figure is
 * the launcher's); the largest size is also run with the albums service (a Deno process
 * per workload) to show what a real workload adds on this machine.
 *
 * @module
 */
import type { TestHost } from "../tests/support/netns.ts";
import {
  type BenchContext,
  type LauncherBuild,
  startOurs,
  waitNetnsEmpty,
  writeConfig,
} from "./lib/context.ts";
import { epochMs, procStatusKiB, sleep } from "./lib/procs.ts";

/** The workload of a P3 run. */
export interface P3Workload {
  /** Short label (`tinyhttp`, `albums`). */
  readonly label: string;
  /** Command line for a port. */
  command(port: number): string[];
  /** Path that answers 200. */
  readonly path: string;
}

/** One P3 trial. */
export interface P3Trial {
  readonly workload: string;
  /** The bundle (the goal's figures) or the launcher run from source. */
  readonly build?: LauncherBuild;
  readonly anchors: number;
  readonly index: number;
  readonly ok: boolean;
  /** Launcher start → the last of the N pod IPs answered 200. */
  readonly allServingMs?: number;
  /** Launcher start → the first one answered. */
  readonly firstServingMs?: number;
  /** Peak resident memory of the launcher process, KiB. */
  readonly launcherHwmKiB?: number;
  /** Its resident memory at the end, KiB. */
  readonly launcherRssKiB?: number;
  /** SIGTERM → launcher exited (all N workloads stopped). */
  readonly stopMs?: number;
  readonly error?: string;
}

/** Creates `count` Ready anchor pods `p3-i` (label `bench-p3=i`) with namespaces of their own. */
export async function makeP3Anchors(ctx: BenchContext, count: number): Promise<TestHost[]> {
  const hosts: TestHost[] = [];
  for (let i = 0; i < count; i++) {
    const host = await ctx.addHost(`s${i}`);
    await ctx.cluster.createPod(ctx.namespace, { name: `p3-${i}`, labels: { "bench-p3": `${i}` } });
    await ctx.cluster.setPodStatus(ctx.namespace, `p3-${i}`, { ready: true, podIP: host.ip });
    hosts.push(host);
  }
  return hosts;
}

async function trial(
  ctx: BenchContext,
  hosts: readonly TestHost[],
  workload: P3Workload,
  n: number,
  index: number,
  build: LauncherBuild,
): Promise<P3Trial> {
  const base = { workload: workload.label, build, anchors: n, index };
  const anchors: Record<string, unknown> = {};
  const workloads: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    anchors[`a${i}`] = { selector: `bench-p3=${i}`, namespace: ctx.namespace, timeout: "120s" };
    workloads[`w${i}`] = {
      anchor: `a${i}`,
      command: workload.command(8080),
      port: 8080,
      restart: { policy: "on-failure" },
      stopTimeout: "5s",
    };
  }
  const config = await writeConfig(ctx, `p3-${workload.label}-${n}-${index}`, {
    kubernetes: { kubeconfig: ctx.cluster.adminKubeconfigPath },
    anchors,
    workloads,
  });
  const urls = hosts.slice(0, n).map((h) => `http://${h.ip}:8080${workload.path}`);
  // 50 ms between rounds: N fresh connections per round must not starve the launcher.
  const probe = ctx.prober.probe(urls, 60_000, 50);
  const t0 = epochMs();
  const proc = startOurs(["run", "-c", config], {}, build);
  try {
    const answer = await probe;
    if (answer.times.some((t) => t === null)) {
      const missing = answer.times.filter((t) => t === null).length;
      return {
        ...base,
        ok: false,
        error: `${missing} of ${n} never served: ${proc.stderr().slice(-2000)}`,
      };
    }
    const times = answer.times as number[];
    await sleep(1000);
    const hwm = procStatusKiB(proc.pid, "VmHWM");
    const rss = procStatusKiB(proc.pid, "VmRSS");
    const stopAt = performance.now();
    Deno.kill(proc.pid, "SIGTERM"); // the launcher alone: it stops its workloads itself
    const status = await Promise.race([
      proc.status,
      sleep(20_000).then(() => null),
    ]);
    const stopMs = performance.now() - stopAt;
    return {
      ...base,
      ok: status !== null && status.code === 0,
      allServingMs: Math.max(...times) - t0,
      firstServingMs: Math.min(...times) - t0,
      launcherHwmKiB: hwm,
      launcherRssKiB: rss,
      stopMs,
      ...(status === null || status.code !== 0
        ? { error: `launcher did not stop cleanly (${status?.code ?? "timeout"})` }
        : {}),
    };
  } catch (error) {
    return { ...base, ok: false, error: String(error).slice(0, 2000) };
  } finally {
    await proc.stop();
    for (const h of hosts.slice(0, n)) await waitNetnsEmpty(h);
  }
}

/**
 * Runs P3 for each size in `sizes` (needs `hosts.length` ≥ the largest), `trials` each, with
 * the bundle unless `build` says otherwise.
 */
export async function runP3(
  ctx: BenchContext,
  hosts: readonly TestHost[],
  workload: P3Workload,
  sizes: readonly number[],
  trials: number,
  build: LauncherBuild = "bundle",
): Promise<P3Trial[]> {
  const out: P3Trial[] = [];
  for (const n of sizes) {
    for (let i = 0; i < trials; i++) {
      const t = await trial(ctx, hosts, workload, n, i, build);
      out.push(t);
      ctx.log(
        `P3 ${workload.label}${build === "source" ? " (source)" : ""} ×${n} #${i + 1}: ${
          t.ok
            ? `all serving after ${t.allServingMs!.toFixed(0)} ms, launcher peak RSS ${
              (t.launcherHwmKiB! / 1024).toFixed(0)
            } MiB`
            : `FAILED ${t.error?.split("\n")[0]}`
        }`,
      );
    }
  }
  return out;
}
