/**
 * P5 discovery in a crowded namespace: does the launcher's cost follow its anchors or the
 * namespace? Two namespaces each hold one Ready anchor pod (label `bench-p5=anchor`, node
 * `p5-node`); one of them also holds N unrelated pods with other labels, spread over other
 * node names (every tenth on `p5-node`).
 *
 * - Trials: `cplauncher exec --label bench-p5=anchor --namespace NS --node p5-node -- bash …`
 *   from process start to the workload's first instruction (as P2), and the launcher's peak
 *   RSS (VmHWM, sampled until it exits; the workload lives 0.5 s, so the launcher's watch of
 *   its anchor after the start is included). Arms alternate trial by trial.
 * - Churn: one launcher stays running in the crowded namespace (log level trace, which logs
 *   each watch event) while one unrelated pod per second is created and one deleted; a TCP
 *   relay counts the bytes the apiserver sends it. For comparison a namespace watch
 *   (`labelSelector=""`, what the launcher used to open) runs through a relay of its own.
 * - Watch costs: a fresh process opens K selector watches (or one namespace watch) through
 *   the launcher's code and reports time, memory and sockets: the measurement behind the
 *   hub's bound on selector watches per namespace.
 *
 * @module
 */
import { join } from "node:path";
import type { TestHost } from "../tests/support/netns.ts";
import { clientNodePodSource, loadKubeConfig, PodSetWatch } from "../src/kube/mod.ts";
import { startByteProxy } from "./lib/byte_proxy.ts";
import { type BenchContext, startOurs } from "./lib/context.ts";
import { BENCH_DIR, ROOT } from "./lib/paths.ts";
import { type BenchProcess, epochMs, procStatusKiB, runCommand, sleep } from "./lib/procs.ts";

/** The anchor's label selector and node. */
const SELECTOR = "bench-p5=anchor";
const NODE = "p5-node";
const ANCHOR = "p5-anchor";

/** One P5 trial. */
export interface P5Trial {
  readonly arm: "empty" | "crowded";
  readonly index: number;
  readonly ok: boolean;
  /** Process start → workload exec'd. */
  readonly startToExecMs?: number;
  /** The launcher's peak resident memory, KiB. */
  readonly peakRssKiB?: number;
  readonly error?: string;
}

/** What one launcher's watch received while unrelated pods came and went. */
export interface P5Churn {
  readonly seconds: number;
  /** Pods created plus pods deleted. */
  readonly operations: number;
  /** Bytes the apiserver sent the launcher during the churn (TLS records, all connections). */
  readonly launcherBytes: number;
  /** Watch events the launcher logged for pods other than its anchor. */
  readonly launcherUnrelatedEvents: number;
  /**
   * Watch events it logged for its anchor, whose status is written once mid-churn: the
   * proof that the count sees events that do arrive.
   */
  readonly launcherAnchorEvents: number;
  /** Bookmarks it logged. */
  readonly launcherBookmarks: number;
  /** The same for a namespace watch (`labelSelector=""`) in the bench process. */
  readonly namespaceWatchBytes: number;
  readonly namespaceWatchEvents: number;
}

/** The launcher-side price of watches opened by a fresh process (one sample). */
export interface P5WatchCost {
  /** `selectors`: K selector watches; `namespace`: one watch of every pod of the namespace. */
  readonly kind: "selectors" | "namespace";
  /** K (1 for a namespace watch). */
  readonly watches: number;
  /** Whether the watches carried `spec.nodeName=p5-node`. */
  readonly nodeFiltered: boolean;
  /** First request → every watch listed and watching. */
  readonly readyMs: number;
  readonly rssKiB: number;
  readonly hwmKiB: number;
  /** Open sockets of the process. */
  readonly sockets: number;
  /** Pods held. */
  readonly pods: number;
}

/** Everything P5 measured. */
export interface P5Output {
  readonly unrelatedPods: number;
  /** Size of one unrelated pod as JSON, bytes. */
  readonly podJsonBytes: number;
  /** Size of the list a query answers with (JSON), bytes, by what it asks for. */
  readonly listBytes: {
    readonly namespace: number;
    readonly namespaceOnNode: number;
    readonly anchorOnNode: number;
  };
  readonly trials: P5Trial[];
  readonly churn: P5Churn;
  readonly watchCosts: P5WatchCost[];
}

/** Sizes of a P5 run. */
export interface P5Settings {
  readonly unrelated: number;
  readonly trials: number;
  readonly warmup: boolean;
  readonly churnSeconds: number;
  /** Numbers of selector watches to price (0 is the floor). */
  readonly probeSizes: readonly number[];
  readonly probeRepetitions: number;
}

async function createAnchor(ctx: BenchContext, ns: string, host: TestHost): Promise<void> {
  await ctx.cluster.createNamespace(ns);
  await ctx.cluster.createPod(ns, {
    name: ANCHOR,
    labels: { "bench-p5": "anchor" },
    nodeName: NODE,
  });
  await ctx.cluster.setPodStatus(ns, ANCHOR, { ready: true, podIP: host.ip });
}

/** An unrelated pod: other labels, another node (every tenth on the anchor's node). */
function unrelated(i: number, prefix = "p5-other") {
  return {
    name: `${prefix}-${i}`,
    labels: { "bench-p5": `other-${i % 50}`, app: `app-${i % 20}` },
    nodeName: i % 10 === 0 ? NODE : `p5-node-${i % 20}`,
  };
}

async function createUnrelated(ctx: BenchContext, ns: string, count: number): Promise<void> {
  const parallel = 16;
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < count) await ctx.cluster.createPod(ns, unrelated(next++));
  }));
}

async function listBytes(ctx: BenchContext, ns: string, query: string): Promise<number> {
  const res = await ctx.cluster.api("GET", `/api/v1/namespaces/${ns}/pods?${query}`);
  return JSON.stringify(res.body).length;
}

/** `cplauncher exec` for the P5 anchor in `ns`, running `script` with bash. */
function startExec(
  ctx: BenchContext,
  ns: string,
  kubeconfig: string,
  extra: string[],
  script: string,
): BenchProcess {
  return startOurs([
    "exec",
    "--label",
    SELECTOR,
    "--namespace",
    ns,
    "--node",
    NODE,
    "--kubeconfig",
    kubeconfig,
    "--timeout",
    "60s",
    "--log-dir",
    join(ctx.dir, "p5-logs"),
    ...extra,
    "--",
    "bash",
    "-c",
    script,
  ]);
}

async function trial(
  ctx: BenchContext,
  host: TestHost,
  ns: string,
  arm: P5Trial["arm"],
  index: number,
): Promise<P5Trial> {
  const marker = `${ctx.dir}/p5-${arm}-${index}.exec`;
  const script = `t=$EPOCHREALTIME; if [[ /proc/self/ns/net -ef ${host.path} ]]; then r=in; ` +
    `else r=out; fi; echo "$t $r" > ${marker}; sleep 0.5`;
  const t0 = epochMs();
  const proc = startExec(ctx, ns, ctx.cluster.adminKubeconfigPath, [], script);
  let peak = 0;
  const deadline = performance.now() + 60_000;
  try {
    while (!proc.ended() && performance.now() < deadline) {
      peak = Math.max(peak, procStatusKiB(proc.pid, "VmHWM"));
      await sleep(20);
    }
    const status = await Promise.race([proc.status, sleep(1000).then(() => null)]);
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
      peakRssKiB: peak,
    };
  } catch (error) {
    return { arm, index, ok: false, error: String(error).slice(0, 2000) };
  } finally {
    await proc.stop();
  }
}

/** Watch events and bookmarks in the launcher's trace log (text format). */
function countWatchLog(
  text: string,
  ns: string,
): { unrelated: number; anchor: number; bookmarks: number } {
  let unrelatedEvents = 0;
  let anchorEvents = 0;
  const event = /watch event (ADDED|MODIFIED|DELETED) (\S+)\/(\S+) at resourceVersion/g;
  for (const m of text.matchAll(event)) {
    if (m[2] === ns && m[3] === ANCHOR) anchorEvents++;
    else unrelatedEvents++;
  }
  const bookmarks = [...text.matchAll(/watch bookmark at resourceVersion/g)].length;
  return { unrelated: unrelatedEvents, anchor: anchorEvents, bookmarks };
}

async function churn(ctx: BenchContext, ns: string, seconds: number): Promise<P5Churn> {
  const admin = await Deno.readTextFile(ctx.cluster.adminKubeconfigPath);
  const launcherRelay = startByteProxy(ctx.cluster.server);
  const namespaceRelay = startByteProxy(ctx.cluster.server);
  const launcherConfig = join(ctx.dir, "p5-launcher-relay.kubeconfig");
  const namespaceConfig = join(ctx.dir, "p5-namespace-relay.kubeconfig");
  await Deno.writeTextFile(launcherConfig, launcherRelay.kubeconfig(admin), { mode: 0o600 });
  await Deno.writeTextFile(namespaceConfig, namespaceRelay.kubeconfig(admin), { mode: 0o600 });
  const marker = `${ctx.dir}/p5-churn.exec`;
  const script = `echo started > ${marker}; exec sleep 3600`;
  const proc = startExec(ctx, ns, launcherConfig, ["--log-level", "trace"], script);
  let namespaceEvents = 0;
  const namespaceWatch = new PodSetWatch({
    source: clientNodePodSource(await loadKubeConfig(namespaceConfig)),
    namespace: ns,
    labelSelector: "",
    onChange: () => {},
    onFatal: (error) => ctx.log(`P5 namespace watch failed: ${error.message}`),
  });
  try {
    const deadline = performance.now() + 60_000;
    while (!(await Deno.stat(marker).then(() => true, () => false))) {
      if (proc.ended() || performance.now() > deadline) {
        throw new Error(`the churn launcher did not start: ${proc.stderr().slice(-1500)}`);
      }
      await sleep(20);
    }
    namespaceWatch.start();
    while (namespaceWatch.stats.watches === 0) await sleep(20);
    // The launcher opens its anchor watch right after the start; let both settle.
    await sleep(2000);
    const logOffset = proc.stderr().length;
    const launcherBefore = launcherRelay.counts().received;
    const namespaceBefore = namespaceRelay.counts().received;
    const eventsBefore = namespaceWatch.stats.events;
    let operations = 0;
    for (let i = 0; i < seconds; i++) {
      const started = performance.now();
      await ctx.cluster.createPod(ns, unrelated(i, "p5-churn"));
      operations++;
      if (i > 0) {
        await ctx.cluster.deletePod(ns, `p5-churn-${i - 1}`);
        operations++;
      }
      if (i === Math.floor(seconds / 2)) {
        // As a kubelet refreshing its status: an event the launcher must hear.
        await ctx.cluster.setPodStatus(ns, ANCHOR, { ready: true });
      }
      await sleep(Math.max(0, 1000 - (performance.now() - started)));
    }
    await ctx.cluster.deletePod(ns, `p5-churn-${seconds - 1}`);
    operations++;
    await sleep(1000); // the last events on their way
    namespaceEvents = namespaceWatch.stats.events - eventsBefore;
    const logged = countWatchLog(proc.stderr().slice(logOffset), ns);
    if (proc.ended()) throw new Error(`the churn launcher exited: ${proc.stderr().slice(-1500)}`);
    return {
      seconds,
      operations,
      launcherBytes: launcherRelay.counts().received - launcherBefore,
      launcherUnrelatedEvents: logged.unrelated,
      launcherAnchorEvents: logged.anchor,
      launcherBookmarks: logged.bookmarks,
      namespaceWatchBytes: namespaceRelay.counts().received - namespaceBefore,
      namespaceWatchEvents: namespaceEvents,
    };
  } finally {
    await proc.stop();
    await namespaceWatch.stop();
    await launcherRelay.close();
    await namespaceRelay.close();
  }
}

async function watchCost(
  ctx: BenchContext,
  ns: string,
  kind: P5WatchCost["kind"],
  watches: number,
  nodeFiltered: boolean,
): Promise<P5WatchCost> {
  const args = [
    "run",
    "--allow-all",
    join(BENCH_DIR, "lib/watch_probe.ts"),
    "--kubeconfig",
    ctx.cluster.adminKubeconfigPath,
    "--namespace",
    ns,
    ...(kind === "namespace" ? ["--namespace-watch"] : ["--selectors", String(watches)]),
    ...(nodeFiltered ? ["--node", NODE] : []),
  ];
  const r = await runCommand(Deno.execPath(), args, { cwd: ROOT });
  if (r.code !== 0) throw new Error(`watch probe (${kind} ${watches}) failed: ${r.stderr}`);
  const figures = JSON.parse(r.stdout) as Omit<P5WatchCost, "kind" | "watches" | "nodeFiltered">;
  return { kind, watches, nodeFiltered, ...figures };
}

/** Runs P5: setup, trials (alternating arms), the churn, then the watch costs. */
export async function runP5(
  ctx: BenchContext,
  host: TestHost,
  settings: P5Settings,
): Promise<P5Output> {
  const empty = "bench-p5-empty";
  const crowded = "bench-p5-crowded";
  await createAnchor(ctx, empty, host);
  await createAnchor(ctx, crowded, host);
  const t0 = performance.now();
  await createUnrelated(ctx, crowded, settings.unrelated);
  ctx.log(
    `P5: ${settings.unrelated} unrelated pods created in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s`,
  );
  const one = await ctx.cluster.getPod(crowded, unrelated(1).name);
  const sizes = {
    namespace: await listBytes(ctx, crowded, ""),
    namespaceOnNode: await listBytes(ctx, crowded, `fieldSelector=spec.nodeName%3D${NODE}`),
    anchorOnNode: await listBytes(
      ctx,
      crowded,
      `labelSelector=${encodeURIComponent(SELECTOR)}&fieldSelector=spec.nodeName%3D${NODE}`,
    ),
  };
  const namespaces = { empty, crowded } as const;
  if (settings.warmup) {
    for (const arm of ["empty", "crowded"] as const) {
      const t = await trial(ctx, host, namespaces[arm], arm, -1);
      if (!t.ok) throw new Error(`P5 warm-up (${arm}) failed: ${t.error}`);
    }
  }
  const trials: P5Trial[] = [];
  for (let i = 0; i < settings.trials; i++) {
    const arms = i % 2 === 0 ? ["empty", "crowded"] as const : ["crowded", "empty"] as const;
    for (const arm of arms) {
      const t = await trial(ctx, host, namespaces[arm], arm, i);
      trials.push(t);
      ctx.log(
        `P5 ${arm} #${i + 1}: ${
          t.ok
            ? `${t.startToExecMs!.toFixed(1)} ms, peak RSS ${(t.peakRssKiB! / 1024).toFixed(0)} MiB`
            : `FAILED ${t.error?.split("\n")[0]}`
        }`,
      );
    }
  }
  ctx.log(`P5 churn: ${settings.churnSeconds} s, 1 pod created and 1 deleted per second`);
  const churned = await churn(ctx, crowded, settings.churnSeconds);
  ctx.log(
    `P5 churn: launcher received ${churned.launcherBytes} bytes, ` +
      `${churned.launcherUnrelatedEvents} unrelated events; a namespace watch ` +
      `${churned.namespaceWatchBytes} bytes, ${churned.namespaceWatchEvents} events`,
  );
  const watchCosts: P5WatchCost[] = [];
  for (let r = 0; r < settings.probeRepetitions; r++) {
    for (const k of settings.probeSizes) {
      watchCosts.push(await watchCost(ctx, crowded, "selectors", k, true));
    }
    watchCosts.push(await watchCost(ctx, crowded, "namespace", 1, true));
    watchCosts.push(await watchCost(ctx, crowded, "namespace", 1, false));
  }
  return {
    unrelatedPods: settings.unrelated,
    podJsonBytes: JSON.stringify(one).length,
    listBytes: sizes,
    trials,
    churn: churned,
    watchCosts,
  };
}
