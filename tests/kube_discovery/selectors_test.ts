// deno-lint-ignore-file no-console -- test output for people reading the run
/**
 * Discovery asks the apiserver for the anchor's pods only: label selectors per anchor and
 * `spec.nodeName` for node-bound anchors, checked against a real kube-apiserver + etcd by
 * recording what the launcher's source asked for and what came back.
 */
import assert from "node:assert/strict";
import {
  clientNodePodSource,
  type LoadedKubeConfig,
  type PodQuery,
  PodSetWatch,
  PodWatchHub,
  resolvePodAnchor,
} from "../../src/kube/mod.ts";
import {
  adminKube,
  freshNamespace,
  RecordingSource,
  SHARED,
  sharedCluster,
  stopSharedCluster,
} from "./shared.ts";

type Spec = Parameters<typeof resolvePodAnchor>[2];
const spec = (namespace: string, extra: Partial<Spec> = {}): Spec => ({
  selector: "app=anchor",
  namespace,
  node: "node-a",
  pick: "exactly-one",
  timeoutMs: 10_000,
  ...extra,
});

async function recording(): Promise<{ kube: LoadedKubeConfig; source: RecordingSource }> {
  const kube = await adminKube();
  return { kube, source: new RecordingSource(clientNodePodSource(kube)) };
}

/** `namespace|labels|fields` of a query. */
const filters = (q: PodQuery) => `${q.namespace}|${q.labelSelector}|${q.fieldSelector ?? ""}`;

/** Creates `count` pods no anchor selector matches, on other nodes and on node-a. */
async function unrelatedPods(ns: string, count: number): Promise<void> {
  const c = await sharedCluster();
  for (let i = 0; i < count; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, count - i) }, (_, j) =>
        c.createPod(ns, {
          name: `other-${i + j}`,
          labels: { app: `other-${(i + j) % 7}` },
          nodeName: (i + j) % 5 === 0 ? "node-a" : `node-${(i + j) % 3}`,
        })),
    );
  }
}

async function readyPod(
  ns: string,
  name: string,
  ip: string,
  extra: { node?: string | null; labels?: Record<string, string> } = {},
): Promise<void> {
  const c = await sharedCluster();
  await c.createPod(ns, {
    name,
    labels: extra.labels ?? { app: "anchor" },
    // null: not scheduled yet (no spec.nodeName).
    ...(extra.node === null
      ? { spec: { nodeName: undefined } }
      : { nodeName: extra.node ?? "node-a" }),
  });
  await c.setPodStatus(ns, name, { ready: true, podIP: ip });
}

async function relabel(ns: string, name: string, labels: Record<string, string>): Promise<void> {
  const c = await sharedCluster();
  const res = await c.api("PATCH", `/api/v1/namespaces/${ns}/pods/${name}`, {
    metadata: { labels },
  }, { contentType: "application/merge-patch+json" });
  assert.ok(res.ok, `relabel ${name}: ${res.status} ${JSON.stringify(res.body)}`);
}

/** Binds an unscheduled pod to `node`, as the scheduler does. */
async function bind(ns: string, name: string, node: string): Promise<void> {
  const c = await sharedCluster();
  const res = await c.api("POST", `/api/v1/namespaces/${ns}/pods/${name}/binding`, {
    apiVersion: "v1",
    kind: "Binding",
    metadata: { name },
    target: { apiVersion: "v1", kind: "Node", name: node },
  });
  assert.ok(res.ok, `bind ${name}: ${res.status} ${JSON.stringify(res.body)}`);
}

async function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test({
  name: "the anchor is found among 200 unrelated pods; list and watch carry both selectors",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("crowd");
    await unrelatedPods(ns, 200);
    await readyPod(ns, "anchor-0", "10.201.0.1");
    const { kube, source } = await recording();
    const hub = new PodWatchHub(source);
    try {
      const resolved = await resolvePodAnchor(kube, "a", spec(ns), { hub });
      assert.equal(resolved.pod, "anchor-0");
      assert.deepEqual(source.lists, [{
        query: {
          namespace: ns,
          labelSelector: "app=anchor",
          fieldSelector: "spec.nodeName=node-a",
        },
        pods: 1,
      }]);
      // Followed afterwards (as the supervisor follows a resolved anchor): the watch too.
      let seen: string[] = [];
      const stop = hub.subscribe(ns, "app=anchor", {
        onChange: (pods) => seen = pods.map((p) => p.name),
        onFatal: (error) => assert.fail(error.message),
      }, { node: "node-a" });
      await until(() => source.watches.length === 1, "the watch");
      assert.deepEqual(seen, ["anchor-0"]);
      assert.deepEqual(source.watches.map(filters), [`${ns}|app=anchor|spec.nodeName=node-a`]);
      assert.deepEqual(source.lists.map((l) => l.pods), [1, 1]);
      await stop();
    } finally {
      await hub.close();
    }
  },
});

Deno.test({
  name:
    "churn of unrelated pods delivers no event to the anchor's watch (a namespace watch sees it)",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("churn");
    const c = await sharedCluster();
    await unrelatedPods(ns, 20);
    await readyPod(ns, "anchor-0", "10.201.1.1");
    const { source } = await recording();
    const hub = new PodWatchHub(source);
    const control = new RecordingSource(clientNodePodSource(await adminKube()));
    const namespaceWatch = new PodSetWatch({
      source: control,
      namespace: ns,
      labelSelector: "",
      onChange: () => {},
      onFatal: (error) => assert.fail(error.message),
    });
    let seen: string[] = [];
    const stop = hub.subscribe(ns, "app=anchor", {
      onChange: (pods) => seen = pods.map((p) => p.name),
      onFatal: (error) => assert.fail(error.message),
    }, { node: "node-a" });
    namespaceWatch.start();
    try {
      await until(() => seen.length === 1 && namespaceWatch.stats.watches === 1, "both watches");
      for (let i = 0; i < 10; i++) {
        await c.createPod(ns, {
          name: `churn-${i}`,
          labels: { app: "churn" },
          nodeName: i % 2 ? "node-a" : "node-b",
        });
        await c.deletePod(ns, `churn-${i}`);
      }
      await until(() => control.events.length >= 20, "the namespace watch's 20 events");
      // The anchor's watch hears about its own pod: a change of it arrives, and nothing else.
      await c.setPodStatus(ns, "anchor-0", { ready: false });
      await until(() => source.events.length > 0, "the anchor's own change");
      assert.deepEqual(source.events.map((e) => `${e.type} ${e.pod}`), ["MODIFIED anchor-0"]);
      console.log(
        `namespace watch: ${control.events.length} events; anchor watch: ${source.events.length}`,
      );
    } finally {
      await stop();
      await namespaceWatch.stop();
      await hub.close();
    }
  },
});

Deno.test({
  name: "an anchor bound to this node later is found (it enters the node's field selector)",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("bind");
    await readyPod(ns, "elsewhere", "10.201.2.1", { node: "node-b" });
    await readyPod(ns, "pending", "10.201.2.2", { node: null });
    const { kube, source } = await recording();
    const hub = new PodWatchHub(source);
    try {
      const resolving = resolvePodAnchor(kube, "a", spec(ns), { hub });
      await until(() => source.watches.length === 1, "the watch");
      await new Promise((r) => setTimeout(r, 300));
      await bind(ns, "pending", "node-a");
      const resolved = await resolving;
      assert.equal(resolved.pod, "pending");
      assert.equal(resolved.node, "node-a");
      assert.deepEqual(source.lists.map((l) => l.pods), [0], "the list saw no pod of node-a");
      assert.deepEqual(source.events.map((e) => `${e.type} ${e.pod}`), ["ADDED pending"]);
    } finally {
      await hub.close();
    }
  },
});

Deno.test({
  name: "a pod whose labels change starts and stops matching the anchor's selector",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("relabel");
    await readyPod(ns, "pod-0", "10.201.3.1", { labels: { app: "not-yet" } });
    const { kube, source } = await recording();
    const hub = new PodWatchHub(source);
    try {
      const resolving = resolvePodAnchor(kube, "a", spec(ns), { hub });
      await until(() => source.watches.length === 1, "the watch");
      await relabel(ns, "pod-0", { app: "anchor" });
      assert.equal((await resolving).pod, "pod-0");
      // Followed like watchAnchorPod follows a resolved anchor: relabelled out, it is gone.
      let seen: string[] | undefined;
      const stop = hub.subscribe(ns, "app=anchor", {
        onChange: (pods) => seen = pods.map((p) => p.name),
        onFatal: (error) => assert.fail(error.message),
      }, { node: "node-a" });
      await until(() => seen?.length === 1, "the followed anchor");
      await relabel(ns, "pod-0", { app: "retired" });
      await until(() => seen?.length === 0, "the pod relabelled out");
      await stop();
      const types = source.events.map((e) => `${e.type} ${e.pod}`);
      assert.ok(types.includes("ADDED pod-0"), `entered the selector: ${types}`);
      assert.equal(types.at(-1), "DELETED pod-0", `left the selector: ${types}`);
    } finally {
      await hub.close();
    }
  },
});

Deno.test({
  name:
    "two anchors with different selectors in one namespace: a watch each, then one beyond the bound",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("pair");
    await unrelatedPods(ns, 40);
    await readyPod(ns, "one", "10.201.4.1", { labels: { anchor: "one" } });
    await readyPod(ns, "two", "10.201.4.2", { labels: { anchor: "two" } });
    for (const bound of [4, 1]) {
      const { kube, source } = await recording();
      const hub = new PodWatchHub(source, { maxSelectorWatches: bound });
      try {
        const [one, two] = await Promise.all(
          ["one", "two"].map((name) =>
            resolvePodAnchor(kube, name, spec(ns, { selector: `anchor=${name}` }), { hub })
          ),
        );
        assert.deepEqual([one.pod, two.pod], ["one", "two"]);
        if (bound === 4) {
          assert.deepEqual(source.lists.map((l) => `${filters(l.query)}: ${l.pods}`).sort(), [
            `${ns}|anchor=one|spec.nodeName=node-a: 1`,
            `${ns}|anchor=two|spec.nodeName=node-a: 1`,
          ]);
        } else {
          // Beyond the bound: one watch of node-a's pods, selectors matched on the client
          // (the first anchor's own list may have gone out before the second one arrived).
          const whole = `${ns}||spec.nodeName=node-a`;
          assert.ok(source.watches.every((q) => filters(q) === whole), "no selector watch");
          const listed = source.lists.find((l) => filters(l.query) === whole);
          assert.equal(listed?.pods, 2 + 40 / 5, "the anchors and the unrelated pods of node-a");
        }
        await until(() => hub.watchCount === 0, "resolution ends its watches");
      } finally {
        await hub.close();
      }
    }
  },
});

Deno.test({
  name: "teardown: the shared apiserver and etcd stop",
  ...SHARED,
  fn: async () => {
    await stopSharedCluster();
  },
});
