/**
 * Run by P5 in a fresh process to price a pod watch on the launcher's side: opens K
 * server-filtered selector watches (`--selectors K`), or one watch of a whole namespace
 * (`--namespace-watch`), through the launcher's own code (PodSetWatch over client-node), waits
 * until every one has listed and sent its watch request, holds them for `--hold-ms`, and
 * prints `{"readyMs", "rssKiB", "hwmKiB", "sockets", "pods"}`: time from the first request
 * to all watching, resident and peak memory, open sockets, pods held. `--selectors 0`
 * loads the same code and credentials and opens nothing (the floor).
 *
 *   deno run --allow-all bench/lib/watch_probe.ts --kubeconfig PATH --namespace NS
 *     (--selectors K | --namespace-watch) [--node NAME] [--hold-ms MS]
 *
 * @module
 */
import {
  clientNodePodSource,
  loadKubeConfig,
  nodeFieldSelector,
  PodSetWatch,
} from "../../src/kube/mod.ts";
import { loadClientNode } from "../../src/kube/client_node.ts";

function option(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

function statusKiB(field: "VmHWM" | "VmRSS"): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
}

function openSockets(): number {
  let count = 0;
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      if (Deno.readLinkSync(`/proc/self/fd/${entry.name}`).startsWith("socket:")) count++;
    } catch { /* closed meanwhile */ }
  }
  return count;
}

const kube = await loadKubeConfig(option("--kubeconfig") ?? "auto");
await loadClientNode();
const namespace = option("--namespace") ?? "default";
const node = option("--node");
const holdMs = Number(option("--hold-ms") ?? 500);
const selectors = Deno.args.includes("--namespace-watch")
  ? [""]
  : Array.from({ length: Number(option("--selectors") ?? 0) }, (_, i) => `bench-p5-probe=${i}`);
const source = clientNodePodSource(kube);
const t0 = performance.now();
const watches = selectors.map((labelSelector) =>
  new PodSetWatch({
    source,
    namespace,
    labelSelector,
    ...(node ? { fieldSelector: nodeFieldSelector(node) } : {}),
    onChange: () => {},
    onFatal: (error) => {
      throw error;
    },
  })
);
for (const watch of watches) watch.start();
while (!watches.every((w) => w.stats.watches > 0)) {
  await new Promise((r) => setTimeout(r, 2));
}
const readyMs = performance.now() - t0;
await new Promise((r) => setTimeout(r, holdMs));
const figures = {
  readyMs,
  rssKiB: statusKiB("VmRSS"),
  hwmKiB: statusKiB("VmHWM"),
  sockets: openSockets(),
  pods: watches.reduce((n, w) => n + w.pods().length, 0),
};
await Promise.all(watches.map((w) => w.stop()));
Deno.stdout.writeSync(new TextEncoder().encode(`${JSON.stringify(figures)}\n`));
