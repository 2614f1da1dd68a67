/**
 * P1 readiness-to-serving: an anchor pod becomes Ready (its status write, as a kubelet
 * would) → the workload answers HTTP 200 on the pod IP from the client namespace.
 *
 * Ours: `cplauncher run -c CONFIG` already waiting on the anchor selector. Baseline:
 * `bench/baseline.sh` already blocked in `kubectl wait`. Each trial uses a fresh pod (not
 * Ready) in the same anchor namespace; the contender is started, the benchmark waits until
 * it is watching (its own log says so) plus 300 ms, starts the client's polling (every 5 ms),
 * then writes the status. Arms alternate trial by trial.
 *
 * @module
 */
import { albumsCommand } from "../tests/support/albums_scenario.ts";
import type { TestHost } from "../tests/support/netns.ts";
import {
  type BenchContext,
  markExec,
  readMarker,
  startBaseline,
  startOurs,
  waitNetnsEmpty,
  writeConfig,
} from "./lib/context.ts";
import { type BenchProcess, epochMs, procCpuMs, procStatusKiB, sleep } from "./lib/procs.ts";

/** Which workload a P1 trial starts. */
export type P1Workload = "albums" | "light";

/** One P1 trial. */
export interface P1Trial {
  readonly arm: "ours" | "baseline";
  readonly workload: P1Workload;
  readonly index: number;
  readonly ok: boolean;
  /** Status write → first HTTP 200 from the client namespace. */
  readonly readyToServingMs?: number;
  /** Status write → workload exec'd (its marker). */
  readonly readyToExecMs?: number;
  /** Workload exec → first HTTP 200. */
  readonly execToServingMs?: number;
  /** How long the status PATCH took to return. */
  readonly statusWriteMs?: number;
  /** CPU time the workload had used when it first answered. */
  readonly workloadCpuMs?: number;
  /** Its resident memory then, KiB. */
  readonly workloadRssKiB?: number;
  readonly error?: string;
}

async function trial(
  ctx: BenchContext,
  host: TestHost,
  arm: "ours" | "baseline",
  workload: P1Workload,
  index: number,
): Promise<P1Trial> {
  const name = `p1-${arm === "ours" ? "o" : "b"}-${workload}-${index}`;
  const selector = `bench-p1=${name}`;
  const marker = `${ctx.dir}/${name}.exec`;
  const url = workload === "albums" ? `http://${host.ip}:8080/albums` : `http://${host.ip}:8080/`;
  const command = markExec(
    marker,
    workload === "albums" ? albumsCommand(8080) : ctx.light.command(8080),
  );
  await ctx.cluster.createPod(ctx.namespace, { name, labels: { "bench-p1": name } });
  let proc: BenchProcess | undefined;
  try {
    if (arm === "ours") {
      const config = await writeConfig(ctx, name, {
        kubernetes: { kubeconfig: ctx.cluster.adminKubeconfigPath },
        anchors: { a: { selector, namespace: ctx.namespace, timeout: "120s" } },
        workloads: { w: { anchor: "a", command, port: 8080, restart: { policy: "never" } } },
      });
      proc = startOurs(["--log-level", "debug", "run", "-c", config]);
      await proc.waitFor(/anchor a: waiting/, 60_000);
    } else {
      proc = startBaseline(ctx, selector, command, { BASELINE_KUBECTL_V: "6" });
      await proc.waitFor(/watch=true/, 60_000);
    }
    await sleep(300);
    const probe = ctx.prober.probe([url], 30_000, 5);
    const t0 = epochMs();
    await ctx.cluster.setPodStatus(ctx.namespace, name, { ready: true, podIP: host.ip });
    const statusWriteMs = epochMs() - t0;
    const answer = await probe;
    const served = answer.times[0];
    const exec = await readMarker(marker);
    if (served === null || exec === null) {
      return {
        arm,
        workload,
        index,
        ok: false,
        error: `${served === null ? "never served" : "no exec marker"}: ${
          proc.stderr().slice(-1500)
        }`,
      };
    }
    return {
      arm,
      workload,
      index,
      ok: true,
      readyToServingMs: served - t0,
      readyToExecMs: exec.at - t0,
      execToServingMs: served - exec.at,
      statusWriteMs,
      workloadCpuMs: procCpuMs(exec.pid) ?? undefined,
      workloadRssKiB: procStatusKiB(exec.pid, "VmRSS"),
    };
  } catch (error) {
    return { arm, workload, index, ok: false, error: String(error).slice(0, 2000) };
  } finally {
    await proc?.stop();
    await ctx.cluster.deletePod(ctx.namespace, name).catch(() => {});
    await waitNetnsEmpty(host);
  }
}

/** Runs P1: `trials` per arm per workload, arms alternating, after one warm-up each. */
export async function runP1(
  ctx: BenchContext,
  host: TestHost,
  workloads: readonly P1Workload[],
  trials: number,
  warmup: boolean,
): Promise<P1Trial[]> {
  if (warmup) {
    for (const workload of workloads) {
      for (const arm of ["ours", "baseline"] as const) {
        const t = await trial(ctx, host, arm, workload, -1);
        if (!t.ok) throw new Error(`P1 warm-up (${arm}, ${workload}) failed: ${t.error}`);
      }
    }
  }
  const out: P1Trial[] = [];
  for (let i = 0; i < trials; i++) {
    for (const workload of workloads) {
      const arms = i % 2 === 0 ? ["ours", "baseline"] as const : ["baseline", "ours"] as const;
      for (const arm of arms) {
        const t = await trial(ctx, host, arm, workload, i);
        out.push(t);
        ctx.log(
          `P1 ${workload} ${arm} #${i + 1}: ${
            t.ok ? `${t.readyToServingMs!.toFixed(1)} ms` : `FAILED ${t.error?.split("\n")[0]}`
          }`,
        );
      }
    }
  }
  return out;
}
