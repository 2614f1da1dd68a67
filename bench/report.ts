// deno-lint-ignore-file no-console -- a script: prints where it wrote
/**
 * Turns raw benchmark figures into `results/latest.json` (fixed shape: machine, versions,
 * goals, runs), `docs/benchmarks.md` and `docs/benchmarks.svg`. Everything in the docs is
 * generated from the JSON, so they can be regenerated without measuring again:
 *
 *   deno run --allow-read --allow-write --allow-run bench/report.ts [results.json] [--out-dir docs]
 *
 * @module
 */
import { join } from "node:path";
import { ROOT } from "./lib/paths.ts";
import { renderSvg } from "./svg.ts";
import type { Goal, P3Figures, P5Figures, Results, Runs, SummaryJson } from "./lib/results.ts";

/** The goals, computed from the runs (P5's only when the results have P5). */
export function goalsFrom(runs: Runs): Goal[] {
  const ratioGoal = (
    id: Goal["id"],
    ours: number,
    baseline: number,
    unit: string,
    op: "<=" | ">=",
    limit: number,
    extra = true,
  ): Goal => {
    // Three significant digits: a ratio of 0.0035 must not round to 0.
    const ratio = Number((ours / baseline).toPrecision(3));
    return {
      id,
      ours,
      baseline,
      unit,
      ratio,
      goal: `${op} ${limit.toFixed(1)}`,
      met: extra && Number.isFinite(ratio) && (op === "<=" ? ratio <= limit : ratio >= limit),
    };
  };
  const absolute = (id: Goal["id"], ours: number, unit: string, limit: number): Goal => ({
    id,
    ours,
    baseline: null,
    unit,
    ratio: null,
    goal: `<= ${limit}`,
    met: Number.isFinite(ours) && ours <= limit,
  });
  const p1 = runs.P1.albums ?? Object.values(runs.P1)[0];
  const largest = String(Math.max(...runs.settings.p3Sizes));
  const p3 = runs.P3.sizes[largest];
  const lost = runs.P4.bytesLost.some((b) => b !== 0) || runs.P4.bytesLost.length === 0 ||
    (runs.P4.badLines ?? []).some((b) => b !== 0);
  return [
    ratioGoal("P1", p1.ours.p50, p1.baseline.p50, "ms", "<=", 0.5),
    ratioGoal("P2", runs.P2.ours.p50, runs.P2.baseline.p50, "ms", "<=", 1.0),
    absolute("P3-time", p3.allServingMs.p50, "ms", 3000),
    absolute("P3-rss", p3.launcherHwmMB.max, "MB", 120),
    ratioGoal("P4", runs.P4.oursMBps.p50, runs.P4.catCountedMBps.p50, "MB/s", ">=", 0.5, !lost),
    ...(runs.P5 ? p5Goals(runs.P5) : []),
  ];

  function p5Goals(p5: P5Figures): Goal[] {
    return [
      ratioGoal("P5-time", p5.crowdedStartToExecMs.p50, p5.emptyStartToExecMs.p50, "ms", "<=", 1.1),
      ratioGoal("P5-rss", p5.crowdedPeakRssMB.p50, p5.emptyPeakRssMB.p50, "MB", "<=", 1.1),
      absolute("P5-churn", p5.churn.launcherUnrelatedEvents, "events", 0),
    ];
  }
}

const fmt = (x: number | null | undefined, digits = 1) =>
  x === null || x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
const dist = (s: SummaryJson, d = 1) => `${fmt(s.p50, d)} / ${fmt(s.p90, d)} / ${fmt(s.max, d)}`;

/** Short name of the light workload (`tinyhttp`, …). */
function lightLabel(runs: Runs): string {
  return runs.P1.light?.workload ?? runs.settings.lightWorkload.split(" ")[0];
}

/** What each goal measures, for the table. */
const WHAT: Record<Goal["id"], string> = {
  "P1": "readiness → serving, p50 (albums workload)",
  "P2": "cold start → workload exec'd, p50 (the bundle)",
  "P3-time": "one launcher, N anchors → all serving, p50",
  "P3-rss": "launcher peak RSS (VmHWM) at N anchors, max",
  "P4":
    "log relay into a reader vs `cat` through the same pipe into the same reader, p50 (0 bytes lost, no interleaved lines)",
  "P5-time": "exec start → workload exec'd, N unrelated pods vs none, p50",
  "P5-rss": "launcher peak RSS, N unrelated pods vs none, p50",
  "P5-churn": "events for unrelated pods reaching the launcher's watch during churn",
};

/** Why a goal was missed (or how it was met), with the figures that show it. */
function note(goal: Goal, runs: Runs): string {
  const n = Math.max(...runs.settings.p3Sizes);
  switch (goal.id) {
    case "P1": {
      const a = runs.P1.albums ?? Object.values(runs.P1)[0];
      const l = runs.P1.light;
      const launcherOnly = `Launcher part alone (status write → workload exec'd): ours ${
        fmt(a.oursReadyToExec.p50)
      } ms vs baseline ${fmt(a.baselineReadyToExec.p50)} ms (ratio ${
        fmt(a.oursReadyToExec.p50 / a.baselineReadyToExec.p50, 2)
      }).`;
      const common =
        `Both arms then pay the workload's own start: albums takes ${
          fmt(a.oursExecToServing.p50)
        } ms (ours) / ${
          fmt(a.baselineExecToServing.p50)
        } ms (baseline) from exec to its first 200 ` +
        `(${fmt(a.workloadCpuMsAtServing.p50, 0)} ms of CPU: a Deno process start).`;
      const contention = a.oursExecToServing.p90 > a.baselineExecToServing.p90 * 1.2
        ? ` Ours' exec → serving spreads wider (p90 ${fmt(a.oursExecToServing.p90)} vs ${
          fmt(a.baselineExecToServing.p90)
        } ms): likely the launcher's own work right after the launch (a list + watch of the ` +
          `anchor pod for replacement, the port check) on the same cores as the ` +
          `starting workload.`
        : "";
      const light = l
        ? ` With the light workload (${l.workload}), whose start is ~1 ms, ` +
          `the ratio is ${fmt(l.ours.p50 / l.baseline.p50, 2)} (${fmt(l.ours.p50)} vs ${
            fmt(l.baseline.p50)
          } ms).`
        : "";
      const warm = ` While it waits for the pod, the launcher pays its one-time costs (the ` +
        `first namespace scan and the first spawn, ~8 ms together when paid after the status ` +
        `write), and it ends its watch request for the anchor only after the launch.`;
      return goal.met
        ? `Met. ${launcherOnly}${warm} ${common}${light}`
        : `Missed: the ratio is diluted by a cost both arms share. ${common} ${launcherOnly}${light}${contention}`;
    }
    case "P2": {
      const p2 = runs.P2;
      const b = p2.breakdown;
      const ratio = (x: SummaryJson | undefined) => x ? fmt(x.p50 / p2.baseline.p50, 2) : "–";
      const arms = `The bundle reaches the workload in ${fmt(p2.ours.p50)} ms (${
        ratio(p2.ours)
      }× the script's ${fmt(p2.baseline.p50)} ms); from source ${fmt(p2.source?.p50)} ms (${
        ratio(p2.source)
      }×); the floor, a Deno process doing one \`fetch()\` list, ${fmt(p2.floor?.p50)} ms (${
        ratio(p2.floor)
      }×).`;
      const parts = `Deno process start ${fmt(b.denoStartMs.p50)} ms; \`cplauncher --version\` ` +
        `${fmt(b.launcherVersionMs.p50)} ms from the bundle, ${
          fmt(b.sourceVersionMs?.p50)
        } ms from source; loading client-node ${fmt(b.bundleClientNodeImportMs?.p50)} ms ` +
        `from the bundle's chunk, ${fmt(b.clientNodeImportMs.p50)} ms from source; one ` +
        `\`kubectl get\` ${fmt(b.kubectlGetMs.p50)} ms.`;
      const how = `The first pod list goes out with \`fetch\` when the kubeconfig's ` +
        `credentials are of a form client-node would send identically (here a client ` +
        `certificate), and client-node is loaded after the workload started, for the watch.`;
      return goal.met
        ? `Met. ${arms} ${how} ${parts}`
        : `Missed. ${arms} ${how} What remains is the Deno start and loading the CLI ` +
          `(\`--version\`), the first TLS handshake and the list: ${parts}`;
    }
    case "P3-time": {
      const s = runs.P3.sizes[String(n)];
      return `${goal.met ? "Met" : "Missed"}: ${n} workloads (${lightLabel(runs)}) serving ` +
        `${fmt(s.allServingMs.p50, 0)} ms after the launcher started (first one after ${
          fmt(s.firstServingMs.p50, 0)
        } ms; the difference is resolving and launching the rest). Includes the launcher's ` +
        `own cold start (P2).${
          runs.P3.albums?.[String(n)]
            ? ` With the albums service as all ${n} workloads: ${
              fmt(runs.P3.albums[String(n)].allServingMs.p50, 0)
            } ms (${n} Deno processes starting at once on this machine).`
            : ""
        }`;
    }
    case "P3-rss": {
      const s = runs.P3.sizes[String(n)];
      const m = Math.min(...runs.settings.p3Sizes);
      const one = runs.P3.sizes[String(m)];
      const b = runs.P2.breakdown;
      const sizes = [...runs.settings.p3Sizes].sort((x, y) => x - y);
      const steps = sizes.slice(1).map((size, i) => {
        const from = sizes[i];
        const grow = (runs.P3.sizes[String(size)].launcherHwmMB.max -
          runs.P3.sizes[String(from)].launcherHwmMB.max) / (size - from);
        return `${from} → ${size}: ${fmt(grow, 1)} MB per added anchor`;
      });
      const floor = b.clientNodeHwmMB && b.denoEmptyHwmMB
        ? ` The floor is the runtime plus the Kubernetes client: a Deno process that evaluated ` +
          `an empty module peaks at ${fmt(b.denoEmptyHwmMB.p50)} MB, one that imported ` +
          `@kubernetes/client-node at ${fmt(b.clientNodeHwmMB.p50)} MB.`
        : "";
      const source = runs.P3.source?.[String(n)];
      const fromSource = source
        ? ` From source the same run peaks at ${fmt(source.launcherHwmMB.max)} MB (p50 ${
          fmt(source.launcherHwmMB.p50)
        }): the bundle loads one file per chunk instead of ~1,100 modules.`
        : "";
      const bundleFloor = b.bundleClientNodeHwmMB
        ? ` A Deno process that loaded only the bundle's client-node chunk peaks at ${
          fmt(b.bundleClientNodeHwmMB.p50)
        } MB.`
        : "";
      return `${goal.met ? "Met" : "Missed"}: peak RSS ${fmt(s.launcherHwmMB.max)} MB with ${n} ` +
        `anchors vs ${fmt(one.launcherHwmMB.max)} MB with ${m} (${steps.join("; ")}${
          Math.abs(s.launcherRssMB.p50 - s.launcherHwmMB.p50) < 1
            ? "; RSS one second after all serve equals the peak: the heap is not given back"
            : `; RSS one second after all serve: ${fmt(s.launcherRssMB.p50)} MB`
        }). Per anchor the ` +
        `launcher holds a child with its pipes and two relay streams (the pod watch is one per ` +
        `namespace, shared by all anchors); ` +
        `the early steps cost more than the later ones, which points at heap growth while the ` +
        `anchors resolve and start at once rather than at a steady per-anchor cost.${floor}${bundleFloor}${fromSource}`;
    }
    case "P5-time":
    case "P5-rss":
    case "P5-churn":
      return runs.P5 ? p5Note(goal, runs.P5) : "";
    case "P4": {
      const p = runs.P4;
      const bad = p.badLines ?? [];
      const lost = p.bytesLost.every((b) => b === 0)
        ? `0 bytes lost${
          bad.length ? `, ${bad.reduce((a, b) => a + b, 0)} interleaved or cut lines` : ""
        }`
        : `bytes lost: ${p.bytesLost.join(", ")}`;
      const vsPipe = fmt(p.oursMBps.p50 / p.catCountedMBps.p50, 2);
      const vsDevNull = fmt(p.oursMBps.p50 / p.catDevNullMBps.p50, 2);
      const ours = `ours relays ${fmt(p.oursMBps.p50, 0)} MB/s into the counting reader, ` +
        `\`cat\` through the same kind of pipe into the same reader ${
          fmt(p.catCountedMBps.p50, 0)
        } MB/s (${vsPipe}×)`;
      const explain =
        `For reference, \`cat > /dev/null\` moves ${
          fmt(p.catDevNullMBps.p50, 0)
        } MB/s (no pipe at all, a memory-bandwidth figure; ours is ${vsDevNull}× of it)${
          p.oursDevNullMBps
            ? ` and ours with its stdout on /dev/null ${fmt(p.oursDevNullMBps.p50, 0)} MB/s`
            : ""
        }. What the launcher adds to \`cat\`'s path is a second pipe hop (child → launcher ` +
        `→ its stdout) and per-line work: finding every newline, never interleaving two ` +
        `children's lines, prefixing \`[w]\` — ` +
        `${fmt(p.payloadBytes / runs.settings.p4LineBytes / 1e6, 2)} M lines for ` +
        `${fmt(p.payloadBytes / 1e6, 0)} MB of ${runs.settings.p4LineBytes}-byte lines.`;
      const how = `The relay takes a whole read of lines at a time; the text format's prefixes ` +
        `are put in by a WebAssembly SIMD loop (src/supervisor/line_prefix.wat, ~50 ns per ` +
        `line against ~200 ns for the best JavaScript loop); on Linux the workload's and the ` +
        `launcher's output pipes are widened to 1 MiB, so the launcher reads up to 1 MiB and ` +
        `writes 256 KiB batches (from 64 KiB each way: about 1.25× into the reader).`;
      const line = runs.settings.p4LineBytes;
      const perLine = (mbps: number) => (line / (mbps * 1e6)) * 1e9;
      const extra = `Per ${line}-byte line, \`cat\` into that reader takes ${
        fmt(perLine(p.catCountedMBps.p50), 0)
      } ns and ours ${fmt(perLine(p.oursMBps.p50), 0)} ns: the launcher adds ${
        fmt(perLine(p.oursMBps.p50) - perLine(p.catCountedMBps.p50), 0)
      } ns per line.`;
      return goal.met
        ? `Met, ${lost}: ${ours}. ${explain} ${how} ${extra}`
        : `Missed (${lost}): ${ours}. ${explain} ${how} ${extra} The reader is the same for ` +
          `both arms and ours with its stdout on /dev/null is faster than into the reader, so ` +
          `what limits ours is the second process on two cores: the launcher and the reader ` +
          `each want most of a core while \`cat\` and the kernel's pipe copies take the rest.`;
    }
  }
}

const kB = (bytes: number) => `${fmt(bytes / 1000, 1)} kB`;

/** What P5's launcher asks for, and what a namespace-wide query would bring instead. */
function p5Query(p5: P5Figures): string {
  return `The launcher asks for \`labelSelector=bench-p5=anchor\` and ` +
    `\`fieldSelector=spec.nodeName=p5-node\`: the answer is ${kB(p5.listBytes.anchorOnNode)} ` +
    `of JSON whatever else the namespace holds (listing the namespace would be ` +
    `${kB(p5.listBytes.namespace)}: ${p5.settings.unrelatedPods} pods of ~${p5.podJsonBytes} ` +
    `bytes; its pods on p5-node alone ${kB(p5.listBytes.namespaceOnNode)}).`;
}

function p5Note(goal: Goal, p5: P5Figures): string {
  const verdict = goal.met ? "Met" : "Missed";
  const n = p5.settings.unrelatedPods;
  switch (goal.id) {
    case "P5-time":
      return `${verdict}: \`exec\` reaches its workload in ${
        fmt(p5.crowdedStartToExecMs.p50)
      } ms ` +
        `(p90 ${fmt(p5.crowdedStartToExecMs.p90)}) with ${n} unrelated pods beside its anchor ` +
        `and ${fmt(p5.emptyStartToExecMs.p50)} ms (p90 ${fmt(p5.emptyStartToExecMs.p90)}) in ` +
        `an empty namespace, arms alternating in the same run. ${p5Query(p5)}`;
    case "P5-rss":
      return `${verdict}: peak RSS ${fmt(p5.crowdedPeakRssMB.p50)} MB (max ` +
        `${fmt(p5.crowdedPeakRssMB.max)}) with ${n} unrelated pods vs ` +
        `${fmt(p5.emptyPeakRssMB.p50)} MB (max ${fmt(p5.emptyPeakRssMB.max)}) without: ` +
        `discovery holds the anchor pod only, reduced to the fields resolution reads.`;
    default: {
      const c = p5.churn;
      return `${verdict}: in ${c.seconds} s of churn (${c.operations} creations and deletions ` +
        `of unrelated pods, some of them on the anchor's node) the launcher's watch delivered ` +
        `${c.launcherUnrelatedEvents} events for pods that cannot match, ` +
        `${c.launcherAnchorEvents} for its anchor (its status written once, mid-churn) and ` +
        `${c.launcherBookmarks} bookmark${c.launcherBookmarks === 1 ? "" : "s"}; the apiserver ` +
        `sent the launcher ` +
        `${kB(c.launcherBytes)} in all (TLS, every connection). A namespace watch ` +
        `(\`labelSelector=""\`, what the launcher opened before) received ` +
        `${c.namespaceWatchEvents} events, ${kB(c.namespaceWatchBytes)}, in the same time — ` +
        `once per launcher, so N nodes' launchers cost the apiserver N such streams.`;
    }
  }
}

/** P5's section: trials, churn, and the watch prices behind the hub's bound. */
function renderP5(p5: P5Figures, runs: Runs): string[] {
  const out: string[] = [];
  out.push("## P5 discovery in a crowded namespace");
  out.push("");
  out.push(
    "Two namespaces each hold one Ready anchor pod (`bench-p5=anchor` on node `p5-node`); " +
      `one also holds ${p5.settings.unrelatedPods} unrelated pods with other labels, spread ` +
      "over other node names (every tenth on `p5-node`). Clock from starting `cplauncher exec " +
      "--label bench-p5=anchor --namespace NS --node p5-node -- bash …` to the workload's " +
      "first instruction, as in P2; peak RSS is the launcher's VmHWM sampled every 20 ms until " +
      "it exits (the workload lives 0.5 s, so the launcher's watch of its anchor after the " +
      "start is included). Arms alternate trial by trial" +
      (p5.settings.trials > 1 ? ", after one warm-up each" : "") + ". p50 / p90 / max:",
  );
  out.push("");
  if (p5.notes.finishedAt !== runs.notes.finishedAt) {
    out.push(
      `P5 was measured in a run of its own (\`--only P5\`, finished ${p5.notes.finishedAt}, ` +
        `commit ${p5.notes.commit}, src digest ${p5.notes.srcDigest}${
          p5.notes.srcChangedDuringRun ? ", **src/ changed during that run**" : ""
        }); the other sections come from the run described at the end.`,
    );
    out.push("");
  }
  out.push(row(["namespace", "n", "start → exec (ms)", "peak RSS (MB)"]));
  out.push(row(["---", "---:", "---:", "---:"]));
  out.push(row([
    "anchor only",
    p5.emptyStartToExecMs.n,
    dist(p5.emptyStartToExecMs),
    dist(p5.emptyPeakRssMB),
  ]));
  out.push(row([
    `anchor + ${p5.settings.unrelatedPods} unrelated pods`,
    p5.crowdedStartToExecMs.n,
    dist(p5.crowdedStartToExecMs),
    dist(p5.crowdedPeakRssMB),
  ]));
  out.push("");
  const c = p5.churn;
  out.push(
    `Churn: one launcher stays running in the crowded namespace (log level trace, which logs ` +
      `every watch event) while one unrelated pod per second is created and one deleted, for ` +
      `${c.seconds} s; the anchor's status is written once midway. A TCP relay in front of the apiserver counts what it sends; a namespace ` +
      "watch in the benchmark process, through a relay of its own, shows what the launcher " +
      "used to receive.",
  );
  out.push("");
  out.push(row(["watch", "pod events", "of them unrelated", "bookmarks", "bytes received"]));
  out.push(row(["---", "---:", "---:", "---:", "---:"]));
  out.push(row([
    "the launcher's (selector + node)",
    c.launcherUnrelatedEvents + c.launcherAnchorEvents,
    c.launcherUnrelatedEvents,
    c.launcherBookmarks,
    c.launcherBytes,
  ]));
  out.push(row([
    'namespace (`labelSelector=""`)',
    c.namespaceWatchEvents,
    c.namespaceWatchEvents,
    "–",
    c.namespaceWatchBytes,
  ]));
  out.push("");
  out.push("### How many selector watches before one namespace watch");
  out.push("");
  out.push(
    "Anchors sharing a namespace (and node filter) each get a watch of their own selector up " +
      `to a bound (\`DEFAULT_SELECTOR_WATCHES\` in src/kube/pod_hub.ts, ` +
      `${p5.settings.selectorWatchBound} when this was measured); beyond it one watch of the ` +
      "namespace — still filtered by node when the anchors name one — serves them all and " +
      "selectors are matched in the launcher. What a watch costs the launcher, measured in a " +
      "fresh process that opens the watches through the launcher's code and holds them " +
      `(${p5.settings.probeRepetitions} runs each; p50):`,
  );
  out.push("");
  out.push(
    row(["watches", "sockets", "all watching (ms)", "RSS (MB)", "RSS over none (MB)", "pods held"]),
  );
  out.push(row(["---", "---:", "---:", "---:", "---:", "---:"]));
  const floor = p5.watchCosts.find((w) => w.kind === "selectors" && w.watches === 0);
  for (const w of p5.watchCosts) {
    const what = w.kind === "selectors"
      ? w.watches === 0
        ? "none (code and credentials loaded)"
        : `${w.watches} selector watch${w.watches === 1 ? "" : "es"}, node-filtered`
      : w.nodeFiltered
      ? "1 namespace watch, node-filtered"
      : "1 namespace watch, whole namespace";
    out.push(row([
      what,
      w.sockets,
      w.watches === 0 ? "–" : fmt(w.readyMs.p50),
      fmt(w.rssMB.p50),
      floor && w !== floor ? fmt(w.rssMB.p50 - floor.rssMB.p50) : "–",
      w.pods,
    ]));
  }
  out.push("");
  out.push(...p5BoundReasoning(p5));
  return out;
}

/**
 * The reasoning behind the hub's bound, from the watch prices: what one more selector watch
 * costs against what one namespace watch of a node costs.
 */
function p5BoundReasoning(p5: P5Figures): string[] {
  const selectors = p5.watchCosts.filter((w) => w.kind === "selectors" && w.watches > 0);
  const first = selectors[0];
  const most = selectors.at(-1);
  const onNode = p5.watchCosts.find((w) => w.kind === "namespace" && w.nodeFiltered);
  const whole = p5.watchCosts.find((w) => w.kind === "namespace" && !w.nodeFiltered);
  if (!first || !most || most.watches <= first.watches || !onNode || !whole) return [];
  const c = p5.churn;
  const perWatchMB = (most.rssMB.p50 - first.rssMB.p50) / (most.watches - first.watches);
  const perWatchMs = (most.readyMs.p50 - first.readyMs.p50) / (most.watches - first.watches);
  const perPodMB = (onNode.rssMB.p50 - first.rssMB.p50) / onNode.pods;
  const perEvent = c.namespaceWatchEvents > 0
    ? c.namespaceWatchBytes / c.namespaceWatchEvents
    : NaN;
  const bound = p5.settings.selectorWatchBound;
  return [
    `Each selector watch past the first adds one connection, ~${fmt(perWatchMB, 2)} MB of ` +
    `launcher memory and ~${fmt(perWatchMs, 1)} ms of start (${first.watches} → ` +
    `${most.watches} watches: ${fmt(first.rssMB.p50)} → ${fmt(most.rssMB.p50)} MB, ` +
    `${fmt(first.readyMs.p50, 0)} → ${fmt(most.readyMs.p50, 0)} ms), and for the apiserver ` +
    `one more watcher per launcher, on every node that runs one. A namespace watch is a ` +
    `single connection whose price follows the pods it covers instead: listing and holding ` +
    `${onNode.pods} pods of one node costs ${fmt(onNode.rssMB.p50 - first.rssMB.p50)} MB ` +
    `over one selector watch (~${fmt(perPodMB * 1000, 0)} kB per pod), the whole namespace ` +
    `(${whole.pods} pods) ${fmt(whole.rssMB.p50 - first.rssMB.p50)} MB and ` +
    `${fmt(whole.readyMs.p50, 0)} ms, and every change of any of those pods is streamed ` +
    `(~${fmt(perEvent, 0)} bytes per event here).`,
    "",
    `Hence the bound of ${bound}: ${bound} selector watches cost ~${
      fmt(perWatchMB * (bound - 1), 1)
    } MB and ${bound - 1} connections more than one; a namespace watch of one node at the ` +
    `kubelet's default limit of 110 pods, ~${fmt(perPodMB * 110, 1)} MB before its stream. ` +
    `Up to it — the usual launcher, with one to a few anchors per ` +
    `namespace — every anchor hears only about its own pod. Past it the connections keep ` +
    `growing with the anchors while one node-filtered namespace watch stays bounded by what ` +
    `one node runs; without a node the fallback covers the whole namespace, which is why ` +
    `node-bound anchors (\`\${NODE_NAME}\`) are the configuration to use, and why a launcher ` +
    `searching all namespaces never falls back.`,
    "",
  ];
}

/** The Markdown page. */
export function renderMarkdown(results: Results, svgName = "benchmarks.svg"): string {
  const { runs, machine, versions } = results;
  const out: string[] = [];
  out.push("# Benchmarks");
  out.push("");
  out.push(
    "<!-- Generated by bench/report.ts from bench/results/latest.json; do not edit by hand. -->",
  );
  out.push("");
  out.push(
    "Measured in one run of `deno task bench` on the machine below: a real kube-apiserver " +
      "and etcd on 127.0.0.1, real network namespaces on a private bridge, the launcher as " +
      "it ships: the bundle of `deno task bundle`, run with `deno run --allow-all " +
      "--no-config dist/cplauncher/main.js` (no deno.json, no node_modules; a warm code " +
      "cache, as a deployment that keeps its `DENO_DIR` has). P2 and P3 also run it from " +
      "source (`deno run src/main.ts`, as `deno task cplauncher`), as a column. The baseline is what " +
      "an operator scripts instead (`bench/baseline.sh`): `kubectl wait --for=condition=Ready " +
      "pod -l SEL`, `kubectl get pod -l SEL -o jsonpath='{.items[0].status.podIP}'`, the " +
      "namespace found with `ip -n NS -o -4 addr` over `ip netns list`, then `nsenter " +
      "--net=/var/run/netns/NS -- workload`. kubectl is built from the same `k8s.io/kubernetes` " +
      "module as the apiserver. Figures marked *modelled* were not run: they model the Go " +
      "cplauncher's design (pod and compartment each polled every 1 s).",
  );
  out.push("");
  if (runs.notes.srcChangedDuringRun) {
    out.push(
      "**Warning**: the launcher's `src/` changed while this run was measuring; the figures " +
        "mix two versions of it. Run `deno task bench` again on a quiet tree.",
    );
    out.push("");
  }
  if (runs.settings.smoke) {
    out.push("**Smoke run** (1–2 trials, small sizes): these figures only show the harness works.");
    out.push("");
  }
  out.push("## Goals");
  out.push("");
  out.push(row(["id", "what", "ours", "baseline", "unit", "ratio", "goal", "met"]));
  out.push(row(["---", "---", "---:", "---:", "---", "---:", "---", "---"]));
  for (const g of results.goals) {
    out.push(row([
      g.id,
      WHAT[g.id].replace("N anchors", `${Math.max(...runs.settings.p3Sizes)} anchors`)
        .replace("N unrelated", `${fmt(runs.P5?.settings.unrelatedPods, 0)} unrelated`),
      fmt(g.ours),
      fmt(g.baseline),
      g.unit,
      g.ratio === null ? "–" : g.ratio < 0.1 ? g.ratio.toPrecision(2) : fmt(g.ratio, 2),
      g.ratio === null ? `${g.goal} ${g.unit}` : `ratio ${g.goal}`,
      g.met ? "yes" : "**no**",
    ]));
  }
  out.push("");
  for (const g of results.goals) out.push(`- **${g.id}**: ${note(g, runs)}`);
  out.push("");
  out.push(`![Latency distributions, ours vs baseline](${svgName})`);
  out.push("");

  out.push("## P1 readiness → serving");
  out.push("");
  out.push(
    "The anchor pod is created not Ready; the contender is started and waits (cplauncher " +
      "`run` watching the selector; the script blocked in `kubectl wait`). Once its log shows " +
      "the watch is open (+300 ms), the client namespace starts polling `http://POD_IP:8080` " +
      "every 5 ms (a fresh TCP connection each time) and the clock starts as the pod's status " +
      "is written Ready with its IP (the PATCH a kubelet sends). Stop: the first HTTP 200. " +
      `Arms alternate trial by trial, one warm-up each. ms, p50 / p90 / max:`,
  );
  out.push("");
  out.push(row(["workload", "arm", "n", "ready → serving", "ready → exec", "exec → serving"]));
  out.push(row(["---", "---", "---:", "---:", "---:", "---:"]));
  for (const p of Object.values(runs.P1)) {
    out.push(row([
      p.workload,
      "ours",
      p.ours.n,
      dist(p.ours),
      dist(p.oursReadyToExec),
      dist(p.oursExecToServing),
    ]));
    out.push(row([
      p.workload,
      "baseline",
      p.baseline.n,
      dist(p.baseline),
      dist(p.baselineReadyToExec),
      dist(p.baselineExecToServing),
    ]));
    out.push(row([
      p.workload,
      "Go cplauncher, *modelled*",
      "–",
      dist(p.goModelled),
      "–",
      "–",
    ]));
  }
  out.push("");
  const any = Object.values(runs.P1)[0];
  if (any) out.push(`*Modelled*: ${any.goModelled.formula}`);
  out.push("");

  out.push("## P2 cold start → exec");
  out.push("");
  out.push(
    "The anchor pod is already Ready. Clock from starting the contender's process (`cplauncher " +
      "exec --label SEL -- WORKLOAD`, or the script) to the workload's first instruction: bash " +
      "stamps `$EPOCHREALTIME` (a builtin) and checks `/proc/self/ns/net` is the anchor's. " +
      "ms, p50 / p90 / max:",
  );
  out.push("");
  out.push(row(["arm", "n", "start → exec", "× baseline (p50)", "start → exit"]));
  out.push(row(["---", "---:", "---:", "---:", "---:"]));
  const x = (s?: SummaryJson) => (s ? fmt(s.p50 / runs.P2.baseline.p50, 2) : "–");
  out.push(row([
    "ours (bundle)",
    runs.P2.ours.n,
    dist(runs.P2.ours),
    x(runs.P2.ours),
    dist(runs.P2.oursToExit),
  ]));
  if (runs.P2.source) {
    out.push(
      row(["ours from source", runs.P2.source.n, dist(runs.P2.source), x(runs.P2.source), "–"]),
    );
  }
  out.push(row([
    "baseline",
    runs.P2.baseline.n,
    dist(runs.P2.baseline),
    "1.00",
    dist(runs.P2.baselineToExit),
  ]));
  if (runs.P2.floor) {
    out.push(row([
      "floor: Deno, one `fetch()` list",
      runs.P2.floor.n,
      dist(runs.P2.floor),
      x(runs.P2.floor),
      "–",
    ]));
  }
  out.push(
    row(["Go cplauncher, *modelled*", "–", dist(runs.P2.goModelled), x(runs.P2.goModelled), "–"]),
  );
  out.push("");
  const b = runs.P2.breakdown;
  out.push(row(["what", "p50", "p90"]));
  out.push(row(["---", "---:", "---:"]));
  const brow = (what: string, s: SummaryJson | undefined, unit: string) => {
    if (s) out.push(row([`${what}, ${unit}`, fmt(s.p50), fmt(s.p90)]));
  };
  brow("Deno process start to exit, empty module", b.denoStartMs, "ms");
  brow(
    "loading the bundle's client-node chunk in a fresh process",
    b.bundleClientNodeImportMs,
    "ms",
  );
  brow(
    '`import("@kubernetes/client-node")` from source in a fresh process',
    b.clientNodeImportMs,
    "ms",
  );
  brow(
    "`cplauncher --version`, bundle (CLI loaded, no Kubernetes client)",
    b.launcherVersionMs,
    "ms",
  );
  brow("`cplauncher --version`, from source", b.sourceVersionMs, "ms");
  brow("`kubectl get pod -l … -o jsonpath`", b.kubectlGetMs, "ms");
  brow("peak RSS of a Deno process, empty module", b.denoEmptyHwmMB, "MB");
  brow("peak RSS after loading the bundle's client-node chunk", b.bundleClientNodeHwmMB, "MB");
  brow("peak RSS after importing client-node from source", b.clientNodeHwmMB, "MB");
  out.push("");
  out.push(`*Modelled*: ${runs.P2.goModelled.formula}`);
  out.push("");

  out.push("## P3 scale");
  out.push("");
  const largest = String(Math.max(...runs.settings.p3Sizes));
  const albums = runs.P3.albums?.[largest];
  out.push(
    `One \`cplauncher run\` with N selector anchors (N Ready pods, N namespaces) and N ` +
      `workloads all on port 8080. Clock from starting the launcher to every pod IP ` +
      "answering 200 from the client namespace (each polled every 50 ms); RSS is the launcher " +
      "process's VmHWM one second later. The goal figures use a light workload, " +
      `${runs.P3.workload}, which starts in about a millisecond, so the time is the ` +
      "launcher's. The albums service (one Deno process per workload: " +
      `~${fmt(any?.workloadCpuMsAtServing.p50, 0)} ms of CPU and ~${
        fmt(any?.workloadRssMBAtServing.p50, 0)
      } MB each when it first answers, from P1) is run at N = ${largest} as well, to show what ` +
      `${largest} real Deno workloads add on ${machine.cpus} cores.`,
  );
  out.push("");
  out.push(
    row([
      "workload",
      "N",
      "n",
      "all serving (ms)",
      "first serving (ms)",
      "peak RSS (MB)",
      "SIGTERM → exit (ms)",
    ]),
  );
  out.push(row(["---", "---:", "---:", "---:", "---:", "---:", "---:"]));
  const p3row = (label: string, size: string, s: P3Figures) =>
    row([
      label,
      size,
      s.allServingMs.n,
      dist(s.allServingMs, 0),
      fmt(s.firstServingMs.p50, 0),
      `${fmt(s.launcherHwmMB.p50)} (max ${fmt(s.launcherHwmMB.max)})`,
      fmt(s.stopMs.p50, 0),
    ]);
  for (const [size, s] of Object.entries(runs.P3.sizes)) {
    out.push(p3row(lightLabel(runs), size, s));
  }
  const fromSource = runs.P3.source?.[largest];
  if (fromSource) out.push(p3row(`${lightLabel(runs)}, launcher from source`, largest, fromSource));
  if (albums) out.push(p3row("albums", largest, albums));
  out.push("");

  out.push("## P4 log relay");
  out.push("");
  out.push(
    `The workload \`cat\`s ${fmt(runs.P4.payloadBytes / 1e6, 0)} MB of ` +
      `${runs.settings.p4LineBytes}-byte log lines to its stdout; cplauncher (\`run\`, text ` +
      "format: `[w]` and a space before each line) relays it to its own stdout. Counted: the " +
      "benchmark reads and counts the launcher's stdout (bytes lost = payload − (bytes − 4 × " +
      "lines); every line must be one whole prefixed payload line, or it is counted as " +
      "interleaved or cut); throughput from the first relayed byte to the end. The goal's " +
      "baseline: `cat` of the same page-cached file through the same kind of pipe into the " +
      "same reader, checking its lines the same way. For reference: ours with its stdout on " +
      "/dev/null (from the workload's exec to the launcher's exit) and `cat` to /dev/null. " +
      "MB = 10^6 bytes; MB/s, p50 / p90 / max:",
  );
  out.push("");
  out.push(row(["arm", "n", "MB/s", "bytes lost", "bad lines"]));
  out.push(row(["---", "---:", "---:", "---:", "---:"]));
  if (runs.P4.oursDevNullMBps) {
    out.push(row([
      "ours, stdout on /dev/null (exec → exit)",
      runs.P4.oursDevNullMBps.n,
      dist(runs.P4.oursDevNullMBps, 0),
      "",
      "",
    ]));
  }
  out.push(row([
    "ours, counted (first byte → end)",
    runs.P4.oursMBps.n,
    dist(runs.P4.oursMBps, 0),
    runs.P4.bytesLost.join(", "),
    (runs.P4.badLines ?? []).join(", ") || "–",
  ]));
  out.push(row([
    "ours, counted (launcher start → end)",
    runs.P4.oursEndToEndMBps.n,
    dist(runs.P4.oursEndToEndMBps, 0),
    "",
    "",
  ]));
  out.push(
    row(["`cat` → /dev/null", runs.P4.catDevNullMBps.n, dist(runs.P4.catDevNullMBps, 0), "0", "–"]),
  );
  out.push(row([
    "`cat` → the same counting reader (the goal's baseline)",
    runs.P4.catCountedMBps.n,
    dist(runs.P4.catCountedMBps, 0),
    "0",
    "0",
  ]));
  out.push("");
  out.push(`Launcher peak RSS while relaying: ${fmt(runs.P4.launcherPeakRssMB.max)} MB.`);
  out.push("");

  if (runs.P5) out.push(...renderP5(runs.P5, runs));

  out.push("## Resolution scan");
  out.push("");
  out.push(
    "Time to map a pod IP to the namespace holding it, with N namespaces made by the benchmark " +
      "present (plus whatever else exists on the machine: *scanned* is every distinct namespace " +
      "our scan looked at, *named* the entries of /var/run/netns the baseline loop walks). Ours: " +
      "`findNamespaceOwning` (rtnetlink over FFI). Baseline: `bench/find_netns.sh` " +
      "(`ip -n NS -o -4 addr` per named namespace, first match). ms, p50 / p90 / max:",
  );
  out.push("");
  out.push(row(["N made", "scanned", "named", "ours", "baseline loop"]));
  out.push(row(["---:", "---:", "---:", "---:", "---:"]));
  for (const s of runs.scan) {
    out.push(row([s.made, s.scanned, s.named, dist(s.oursMs, 2), dist(s.baselineMs, 1)]));
  }
  out.push("");

  out.push("## Machine and versions");
  out.push("");
  out.push(row(["", ""]));
  out.push(row(["---", "---"]));
  for (const [k, v] of Object.entries(machine)) out.push(row([k, `\`${JSON.stringify(v)}\``]));
  for (const [k, v] of Object.entries(versions)) out.push(row([k, `\`${String(v)}\``]));
  out.push(row(["load average at end", `\`${JSON.stringify(runs.notes.loadAverageAtEnd)}\``]));
  out.push(
    row(["run took", `${fmt(runs.notes.durationSeconds, 0)} s, finished ${runs.notes.finishedAt}`]),
  );
  out.push("");
  out.push(
    "Reproduce: `deno task bench` (as root; `--trials N` for P1/P2, `--smoke` for a quick " +
      "check that writes to a temp dir). Raw figures: `bench/results/latest.json`.",
  );
  out.push("");
  return out.join("\n");
}

/** Writes `benchmarks.md` and `.svg`, formatted with the repo's `deno fmt` settings. */
export async function writeDocs(results: Results, docsDir: string): Promise<void> {
  await Deno.mkdir(docsDir, { recursive: true });
  const md = join(docsDir, "benchmarks.md");
  const svg = join(docsDir, "benchmarks.svg");
  await Deno.writeTextFile(md, renderMarkdown(results));
  await Deno.writeTextFile(svg, renderSvg(results));
  // Wrapped, aligned and indented as `deno fmt --check` expects (it formats SVG too), so the
  // generated files pass the repo's check as they are.
  const fmt = await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", "--config", join(ROOT, "deno.json"), md, svg],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!fmt.success) {
    throw new Error(`deno fmt of ${md} and ${svg} failed: ${new TextDecoder().decode(fmt.stderr)}`);
  }
}

/** Writes the three files: JSON to `jsonPath`, Markdown and SVG into `docsDir`. */
export async function writeOutputs(
  results: Results,
  jsonPath: string,
  docsDir: string,
): Promise<void> {
  await Deno.mkdir(join(jsonPath, ".."), { recursive: true });
  await Deno.writeTextFile(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  await writeDocs(results, docsDir);
}

if (import.meta.main) {
  const args = [...Deno.args];
  const outIndex = args.indexOf("--out-dir");
  const docsDir = outIndex >= 0 ? args.splice(outIndex, 2)[1] : join(ROOT, "docs");
  const jsonPath = args[0] ?? join(ROOT, "bench/results/latest.json");
  const results = JSON.parse(await Deno.readTextFile(jsonPath)) as Results;
  await writeDocs(results, docsDir);
  console.log(`wrote ${join(docsDir, "benchmarks.md")} and benchmarks.svg from ${jsonPath}`);
}
