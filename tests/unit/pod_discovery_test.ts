/**
 * Pod discovery through the list/watch seam with an in-memory source: the watch loop's
 * relist, retry and refusal handling, the shared hub, and anchor resolution's pick rules —
 * without an apiserver.
 */
import assert from "node:assert/strict";
import { KubeError } from "../../src/kube/errors.ts";
import type { LoadedKubeConfig } from "../../src/kube/kubeconfig.ts";
import type { V1Pod } from "@kubernetes/client-node";
import { PodWatchHub } from "../../src/kube/pod_hub.ts";
import { PodSetWatch } from "../../src/kube/pod_watch.ts";
import { type AnchorPod, CLAIM_HOLDER_ANNOTATION, toAnchorPod } from "../../src/kube/pods.ts";
import { resolvePodAnchor } from "../../src/kube/resolve.ts";
import { fakePod, FakePodSource } from "../support/fake_pods.ts";
import { until } from "../support/wait.ts";

const kube = { server: "https://fake-apiserver" } as unknown as LoadedKubeConfig;

function names(pods: readonly AnchorPod[]): string[] {
  return pods.map((p) => p.name).sort();
}

Deno.test("watch: lists, then follows adds, changes and deletes", async () => {
  const source = new FakePodSource();
  source.upsert(fakePod({ name: "a", labels: { app: "x" } }));
  let seen: string[] = [];
  const watch = new PodSetWatch({
    source,
    namespace: "default",
    labelSelector: "app=x",
    onChange: (pods) => seen = names(pods),
    onFatal: (error) => assert.fail(error.message),
  });
  watch.start();
  await until(() => seen.length === 1, "the list");
  source.upsert(fakePod({ name: "b", labels: { app: "x" } }));
  source.upsert(fakePod({ name: "other", labels: { app: "y" } }));
  await until(() => seen.length === 2, "the added pod");
  assert.deepEqual(seen, ["a", "b"]);
  source.remove("uid-a");
  await until(() => seen.length === 1, "the delete");
  assert.deepEqual(seen, ["b"]);
  await watch.stop();
  assert.equal(source.openWatches, 0);
});

Deno.test("watch: 410 Gone lists again; a quiet close continues without a list", async () => {
  const source = new FakePodSource();
  const watch = new PodSetWatch({
    source,
    namespace: "default",
    labelSelector: "",
    onChange: () => {},
    onFatal: (error) => assert.fail(error.message),
  });
  watch.start();
  await until(() => source.openWatches === 1, "the first watch");
  source.endWatches("gone");
  await until(() => source.calls.lists === 2 && source.openWatches === 1, "relist and rewatch");
  assert.equal(watch.stats.gone, 1);
  source.endWatches("closed");
  await until(() => source.calls.watches === 3 && source.openWatches === 1, "the next watch");
  assert.equal(source.calls.lists, 2, "a quiet end needs no new list");
  await watch.stop();
});

Deno.test("watch: a bookmark moves the resourceVersion on without a change", async () => {
  const source = new FakePodSource();
  let changes = 0;
  const watch = new PodSetWatch({
    source,
    namespace: "default",
    labelSelector: "app=x",
    onChange: () => changes++,
    onFatal: (error) => assert.fail(error.message),
  });
  watch.start();
  await until(() => source.openWatches === 1, "the first watch");
  const version = source.bookmark();
  assert.equal(changes, 1, "only the list reported a change");
  source.endWatches("closed");
  await until(() => source.calls.watches === 2, "the next watch");
  assert.deepEqual(source.watchVersions, ["1", version], "it continues from the bookmark");
  await watch.stop();
});

Deno.test("watch: transient failures are retried and reported; a refusal ends the watch", async () => {
  const source = new FakePodSource();
  source.listFailures.push(new KubeError("unreachable", "cannot reach the Kubernetes API"));
  const retries: string[] = [];
  let fatal: KubeError | undefined;
  const watch = new PodSetWatch({
    source,
    namespace: "default",
    labelSelector: "",
    maxBackoffMs: 10,
    onChange: () => {},
    onRetry: (error) => retries.push(error.failure),
    onFatal: (error) => fatal = error,
  });
  watch.start();
  await until(() => source.openWatches === 1, "the watch after one retry");
  assert.deepEqual(retries, ["unreachable"]);
  source.endWatches(new KubeError("forbidden", "forbidden (403)", 403));
  await until(() => fatal !== undefined, "the refusal");
  assert.equal(fatal?.failure, "forbidden");
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(source.openWatches, 0, "no retry after a refusal");
  await watch.stop();
});

type Seen = Record<string, string[]>;

/** Subscribes `key` to the hub, recording the names each snapshot holds. */
function follow(
  hub: PodWatchHub,
  seen: Seen,
  key: string,
  namespace: string,
  selector: string,
  node?: string,
): () => Promise<void> {
  return hub.subscribe(namespace, selector, {
    onChange: (pods) => seen[key] = names(pods),
    onFatal: (error) => assert.fail(error.message),
  }, node ? { node } : {});
}

/** The open watches' server-side filters, sorted, as `namespace|labels|fields`. */
function openFilters(source: FakePodSource): string[] {
  return source.openQueries.map((q) => `${q.namespace}|${q.labelSelector}|${q.fieldSelector ?? ""}`)
    .sort();
}

Deno.test("hub: each selector gets a server-filtered watch; equal selectors share it", async () => {
  const source = new FakePodSource();
  source.upsert(fakePod({ name: "a", labels: { anchor: "a" } }));
  source.upsert(fakePod({ name: "c", labels: { anchor: "c" } }));
  source.upsert(fakePod({ name: "elsewhere", namespace: "other", labels: { anchor: "a" } }));
  const hub = new PodWatchHub(source);
  const seen: Seen = {};
  const stops = [
    follow(hub, seen, "a", "default", "anchor=a"),
    follow(hub, seen, "c", "default", "anchor=c"),
    follow(hub, seen, "a again", "default", "anchor = a"),
  ];
  await until(() => ["a", "c", "a again"].every((k) => k in seen), "three subscribers");
  assert.deepEqual(openFilters(source), ["default|anchor=a|", "default|anchor=c|"]);
  assert.equal(hub.watchCount, 2);
  // A late subscriber of a selector already watched gets the current state without a request.
  const watches = source.calls.watches;
  stops.push(follow(hub, seen, "late", "default", "anchor=c"));
  await until(() => "late" in seen, "the late subscriber");
  assert.equal(source.calls.watches, watches, "no new watch for a selector already watched");
  stops.push(follow(hub, seen, "other", "other", "anchor=a"));
  await until(() => "other" in seen, "the other namespace");
  assert.deepEqual({ ...seen }, {
    a: ["a"],
    c: ["c"],
    "a again": ["a"],
    late: ["c"],
    other: ["elsewhere"],
  });
  assert.equal(hub.watchCount, 3);
  for (const stop of stops) await stop();
  assert.equal(hub.watchCount, 0);
  assert.equal(source.openWatches, 0);
});

Deno.test("hub: anchors naming a node watch spec.nodeName; each node (or none) its own watch", async () => {
  const source = new FakePodSource();
  source.upsert(fakePod({ name: "here", node: "n1", labels: { app: "x" } }));
  source.upsert(fakePod({ name: "there", node: "n2", labels: { app: "x" } }));
  const hub = new PodWatchHub(source);
  const seen: Seen = {};
  const stops = [
    follow(hub, seen, "n1", "default", "app=x", "n1"),
    follow(hub, seen, "n2", "default", "app=x", "n2"),
    follow(hub, seen, "any", "default", "app=x"),
  ];
  await until(() => Object.keys(seen).length === 3, "three subscribers");
  assert.deepEqual(openFilters(source), [
    "default|app=x|",
    "default|app=x|spec.nodeName=n1",
    "default|app=x|spec.nodeName=n2",
  ]);
  assert.deepEqual({ ...seen }, { n1: ["here"], n2: ["there"], any: ["here", "there"] });
  for (const stop of stops) await stop();
});

Deno.test("hub: beyond the bound one namespace watch serves every selector, matched on the client", async () => {
  const source = new FakePodSource();
  for (const name of ["a", "b", "c"]) {
    source.upsert(fakePod({ name, node: "n1", labels: { anchor: name } }));
  }
  source.upsert(fakePod({ name: "unrelated", node: "n1", labels: { anchor: "z" } }));
  const hub = new PodWatchHub(source, { maxSelectorWatches: 2 });
  const seen: Seen = {};
  // Subscribed in one turn of the event loop: planned together.
  const stops = ["a", "b", "c"].map((name) =>
    follow(hub, seen, name, "default", `anchor=${name}`, "n1")
  );
  await until(() => ["a", "b", "c"].every((k) => k in seen), "three subscribers");
  assert.deepEqual(openFilters(source), ["default||spec.nodeName=n1"]);
  assert.deepEqual({ ...seen }, { a: ["a"], b: ["b"], c: ["c"] });
  assert.ok(source.calls.watches <= 2, `at most the first selector watch before the plan`);
  // Later subscribers join it, and leaving down to the bound keeps it (no churn of watches).
  stops.push(follow(hub, seen, "d", "default", "anchor=d", "n1"));
  await until(() => "d" in seen, "the fourth subscriber");
  assert.deepEqual(seen.d, []);
  for (const stop of stops.splice(1, 3)) await stop();
  assert.deepEqual(openFilters(source), ["default||spec.nodeName=n1"]);
  for (const stop of stops) await stop();
  assert.equal(source.openWatches, 0);
});

Deno.test("hub: growing past the bound later moves subscribers without an empty snapshot", async () => {
  const source = new FakePodSource();
  for (const name of ["a", "b", "c"]) source.upsert(fakePod({ name, labels: { anchor: name } }));
  const hub = new PodWatchHub(source, { maxSelectorWatches: 2 });
  const history: string[][] = [];
  const seen: Seen = {};
  const stops = [
    hub.subscribe("default", "anchor=a", {
      onChange: (pods) => history.push(names(pods)),
      onFatal: (error) => assert.fail(error.message),
    }),
    follow(hub, seen, "b", "default", "anchor=b"),
  ];
  await until(() => history.length > 0 && "b" in seen, "two subscribers");
  assert.deepEqual(openFilters(source), ["default|anchor=a|", "default|anchor=b|"]);
  stops.push(follow(hub, seen, "c", "default", "anchor=c"));
  await until(() => "c" in seen, "the third subscriber");
  assert.deepEqual(openFilters(source), ["default||"]);
  source.upsert(fakePod({ name: "a", labels: { anchor: "a" }, ips: ["10.0.0.9"] }));
  await until(() => history.length >= 2, "a change of a after the move");
  assert.ok(history.every((h) => h.includes("a")), `a never vanished: ${JSON.stringify(history)}`);
  assert.deepEqual(seen, { b: ["b"], c: ["c"] });
  for (const stop of stops) await stop();
  assert.equal(source.openWatches, 0);
});

Deno.test("hub: all namespaces without a node never fall back to a watch of every pod", async () => {
  const source = new FakePodSource();
  const hub = new PodWatchHub(source, { maxSelectorWatches: 1 });
  const seen: Seen = {};
  const stops = ["a", "b", "c"].map((name) => follow(hub, seen, name, "*", `anchor=${name}`));
  await until(() => Object.keys(seen).length === 3, "three subscribers");
  assert.deepEqual(openFilters(source), ["*|anchor=a|", "*|anchor=b|", "*|anchor=c|"]);
  for (const stop of stops) await stop();
});

Deno.test("hub: churn of pods that cannot match delivers no event; label changes come and go", async () => {
  const source = new FakePodSource();
  const anchor = source.upsert(fakePod({ name: "anchor", node: "n1", labels: { app: "anc" } }));
  for (let i = 0; i < 300; i++) {
    source.upsert(fakePod({
      name: `other-${i}`,
      node: i % 10 === 0 ? "n1" : `n${2 + i % 7}`,
      labels: { app: `other-${i % 30}` },
    }));
  }
  const hub = new PodWatchHub(source);
  const seen: Seen = {};
  const stop = follow(hub, seen, "anc", "default", "app=anc", "n1");
  await until(() => "anc" in seen, "the list");
  assert.deepEqual(seen.anc, ["anchor"]);
  const events = source.calls.events;
  for (let i = 0; i < 60; i++) {
    const pod = source.upsert(fakePod({
      name: `churn-${i}`,
      node: i % 2 ? "n1" : "n3",
      labels: { app: "other" },
    }));
    source.remove(pod.uid);
  }
  assert.equal(source.calls.events, events, "no event for pods that cannot match");
  // A pod relabelled into the selector arrives, and leaves when relabelled out.
  const other = source.upsert(fakePod({ name: "other-0", node: "n1", labels: { app: "anc" } }));
  await until(() => seen.anc.length === 2, "the relabelled pod");
  assert.deepEqual(seen.anc, ["anchor", "other-0"]);
  source.upsert({ ...other, labels: { app: "other-0" } });
  await until(() => seen.anc.length === 1, "the pod relabelled out");
  source.upsert({ ...anchor, labels: { app: "gone" } });
  await until(() => seen.anc.length === 0, "the anchor relabelled out");
  await stop();
});

Deno.test("hub: a refusal ends only the subscribers of the refused watch", async () => {
  const source = new FakePodSource();
  const hub = new PodWatchHub(source);
  const fatal: string[] = [];
  const seen: Seen = {};
  const stopA = hub.subscribe("default", "anchor=a", {
    onChange: () => {},
    onFatal: (error) => fatal.push(`a: ${error.failure}`),
  });
  const stopB = follow(hub, seen, "b", "default", "anchor=b");
  await until(() => source.openWatches === 2 && "b" in seen, "both watches");
  source.endWatches(
    new KubeError("forbidden", "forbidden (403)", 403),
    (query) => query.labelSelector === "anchor=a",
  );
  await until(() => fatal.length === 1, "the refusal");
  assert.deepEqual(fatal, ["a: forbidden"]);
  assert.equal(hub.watchCount, 1);
  source.upsert(fakePod({ name: "b", labels: { anchor: "b" } }));
  await until(() => seen.b.length === 1, "b still followed");
  await stopA();
  await stopB();
  assert.equal(source.openWatches, 0);
});

Deno.test("resolve: waits until the pod is Ready, then answers with its IP", async () => {
  const source = new FakePodSource();
  const pod = source.upsert(
    fakePod({ name: "p", ip: "10.1.0.9", ready: false, labels: { app: "x" } }),
  );
  const resolving = resolvePodAnchor(
    kube,
    "a",
    { selector: "app=x", namespace: "default", pick: "exactly-one", timeoutMs: 2000 },
    { source },
  );
  await until(() => source.openWatches === 1, "the watch");
  source.upsert({ ...pod, ready: true });
  const resolved = await resolving;
  assert.equal(resolved.pod, "p");
  assert.equal(resolved.ip, "10.1.0.9");
  assert.equal(source.openWatches, 0, "the watch ends with the resolution");
});

/** The anchor of the resolution tests below: one pod labelled app=x. */
const appX = {
  selector: "app=x",
  namespace: "default",
  pick: "exactly-one",
  timeoutMs: 2000,
} as const;

Deno.test("resolve: onWaiting is called once while no pod answers, and not when one answers at once", async () => {
  const source = new FakePodSource();
  const pod = source.upsert(
    fakePod({ name: "p", ip: "10.1.0.9", ready: false, labels: { app: "x" } }),
  );
  const waited: string[] = [];
  const resolving = resolvePodAnchor(kube, "a", appX, {
    source,
    onWaiting: (reason) => waited.push(reason),
  });
  await until(() => source.openWatches === 1, "the watch");
  source.upsert({ ...pod, ready: false, resourceVersion: "2" });
  source.upsert({ ...pod, phase: "Pending", ready: false, resourceVersion: "3" });
  source.upsert({ ...pod, ready: true, resourceVersion: "4" });
  await resolving;
  assert.equal(waited.length, 1, `called ${waited.length} times`);
  assert.match(waited[0], /p/);
  const atOnce: string[] = [];
  await resolvePodAnchor(kube, "a", appX, {
    source,
    onWaiting: (reason) => atOnce.push(reason),
  });
  assert.deepEqual(atOnce, [], "a ready pod needs no waiting");
});

Deno.test("resolve: with a shared hub the answer does not wait for the watch's request to end; close() does", async () => {
  for (const closeAtOnce of [false, true]) {
    const source = new FakePodSource();
    const pod = source.upsert(
      fakePod({ name: "p", ip: "10.1.0.9", ready: false, labels: { app: "x" } }),
    );
    const hub = new PodWatchHub(source);
    const resolving = resolvePodAnchor(kube, "a", appX, { hub });
    await until(() => source.openWatches === 1, "the watch request");
    source.upsert({ ...pod, ready: true, resourceVersion: "2" });
    const resolved = await resolving;
    assert.equal(resolved.pod, "p");
    assert.equal(hub.watchCount, 0, "the watch is out of the hub's plan at once");
    assert.equal(source.openWatches, 1, "its request is still open when the answer arrives");
    if (closeAtOnce) {
      await hub.close();
      assert.equal(source.openWatches, 0, "close() waited for the request to end");
    } else {
      await until(() => source.openWatches === 0, "the request ended a turn later");
      await hub.close();
    }
  }
});

Deno.test("resolve: exactly-one fails at once on two matches, naming both", async () => {
  const source = new FakePodSource();
  source.upsert(fakePod({ name: "one", ip: "10.1.0.1", labels: { app: "x" } }));
  source.upsert(fakePod({ name: "two", ip: "10.1.0.2", labels: { app: "x" } }));
  const error = await resolvePodAnchor(
    kube,
    "a",
    { selector: "app=x", namespace: "default", pick: "exactly-one", timeoutMs: 2000 },
    { source },
  ).catch((e) => e);
  assert.ok(error instanceof KubeError);
  assert.equal(error.failure, "ambiguous");
  assert.match(error.message, /2 pods match app=x in namespace default/);
  assert.match(error.message, /one \(Ready, 10\.1\.0\.1\).*two \(Ready, 10\.1\.0\.2\)/);
});

Deno.test("resolve: namespace * searches every namespace", async () => {
  const source = new FakePodSource();
  source.upsert(fakePod({ name: "far", namespace: "k2s", ip: "10.1.0.3", labels: { app: "x" } }));
  const resolved = await resolvePodAnchor(
    kube,
    "a",
    { selector: "app=x", namespace: "*", pick: "exactly-one", timeoutMs: 2000 },
    { source },
  );
  assert.equal(resolved.namespace, "k2s");
  assert.deepEqual(source.listQueries[0], { namespace: "*", labelSelector: "app=x" });
});

Deno.test("resolve: a node-bound anchor is watched with its node's field selector", async () => {
  const source = new FakePodSource();
  source.upsert(fakePod({ name: "far", node: "n2", ip: "10.1.0.5", labels: { app: "x" } }));
  const resolving = resolvePodAnchor(
    kube,
    "a",
    { selector: "app=x", namespace: "default", node: "n1", pick: "exactly-one", timeoutMs: 2000 },
    { source },
  );
  await until(() => source.openWatches === 1, "the watch");
  assert.deepEqual(source.openQueries, [{
    namespace: "default",
    labelSelector: "app=x",
    fieldSelector: "spec.nodeName=n1",
  }]);
  source.upsert(fakePod({ name: "near", node: "n1", ip: "10.1.0.6", labels: { app: "x" } }));
  const resolved = await resolving;
  assert.equal(resolved.pod, "near");
  assert.equal(resolved.node, "n1");
});

Deno.test("resolve: a node-bound timeout still reports the anchor's pods on other nodes", async () => {
  const source = new FakePodSource();
  source.upsert(fakePod({ name: "far", node: "n2", ip: "10.1.0.7", labels: { app: "x" } }));
  const hub = new PodWatchHub(source);
  const error = await resolvePodAnchor(
    kube,
    "a",
    { selector: "app=x", namespace: "default", node: "n1", pick: "first-ready", timeoutMs: 30 },
    { hub },
  ).catch((e) => e);
  assert.ok(error instanceof KubeError);
  assert.match(
    error.message,
    /no pod on node n1; 1 on other nodes: far \(Ready, 10\.1\.0\.7, node n2\)/,
  );
  assert.deepEqual(source.listQueries.map((q) => q.fieldSelector ?? ""), ["spec.nodeName=n1", ""]);
  await hub.close();
});

Deno.test("pods: only the claim annotations are kept, and nothing is shared with the pod", () => {
  const pod = {
    metadata: {
      name: "p",
      namespace: "default",
      uid: "u",
      resourceVersion: "7",
      labels: { app: "x" },
      annotations: {
        [CLAIM_HOLDER_ANNOTATION]: "launcher-1",
        "kubectl.kubernetes.io/last-applied-configuration": "{...a whole pod...}",
      },
    },
    spec: { nodeName: "n1", containers: [] },
    status: {
      phase: "Running",
      podIP: "10.1.0.8",
      conditions: [{ type: "Ready", status: "True" }],
    },
  } as unknown as V1Pod;
  const reduced = toAnchorPod(pod);
  assert.deepEqual(reduced.annotations, { [CLAIM_HOLDER_ANNOTATION]: "launcher-1" });
  assert.deepEqual(reduced.labels, { app: "x" });
  assert.notEqual(reduced.labels, pod.metadata!.labels, "labels are a copy");
  assert.deepEqual(reduced.ips, ["10.1.0.8"]);
  assert.equal(reduced.ready, true);
  assert.equal(reduced.node, "n1");
});

Deno.test("resolve: the timeout says what was seen", async () => {
  const source = new FakePodSource();
  source.upsert(fakePod({ name: "p", ip: "10.1.0.4", ready: false, labels: { app: "x" } }));
  const error = await resolvePodAnchor(
    kube,
    "a",
    { selector: "app=x", namespace: "*", pick: "first-ready", timeoutMs: 30 },
    { source },
  ).catch((e) => e);
  assert.ok(error instanceof KubeError);
  assert.equal(error.failure, "timeout");
  assert.match(
    error.message,
    /no usable pod after 0\.0s: app=x in all namespaces: 1 pod seen: p \(Running, not Ready/,
  );
});
