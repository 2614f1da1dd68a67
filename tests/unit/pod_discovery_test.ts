/**
 * Pod discovery through the list/watch seam with an in-memory source: the watch loop's
 * relist, retry and refusal handling, the shared hub, and anchor resolution's pick rules —
 * without an apiserver.
 */
import assert from "node:assert/strict";
import { KubeError } from "../../src/kube/errors.ts";
import type { LoadedKubeConfig } from "../../src/kube/kubeconfig.ts";
import { PodWatchHub } from "../../src/kube/pod_hub.ts";
import { PodSetWatch } from "../../src/kube/pod_watch.ts";
import type { AnchorPod } from "../../src/kube/pods.ts";
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

Deno.test("hub: one watch per namespace; late subscribers get the current state", async () => {
  const source = new FakePodSource();
  source.upsert(fakePod({ name: "a", labels: { anchor: "a" } }));
  source.upsert(fakePod({ name: "c", labels: { anchor: "c" } }));
  source.upsert(fakePod({ name: "elsewhere", namespace: "other", labels: { anchor: "a" } }));
  const hub = new PodWatchHub(source);
  const seen: Record<string, string[]> = {};
  const subscribe = (key: string, namespace: string, selector: string) =>
    hub.subscribe(namespace, selector, {
      onChange: (pods) => seen[key] = names(pods),
      onFatal: (error) => assert.fail(error.message),
    });
  const stops = [subscribe("a", "default", "anchor=a"), subscribe("c", "default", "anchor=c")];
  await until(() => "a" in seen && "c" in seen, "both subscribers");
  assert.equal(hub.watchCount, 1);
  stops.push(subscribe("late", "default", "anchor in (a,c)"));
  await until(() => "late" in seen, "the late subscriber");
  assert.deepEqual({ ...seen }, { a: ["a"], c: ["c"], late: ["a", "c"] });
  stops.push(subscribe("other", "other", "anchor=a"));
  await until(() => "other" in seen, "the other namespace");
  assert.deepEqual(seen.other, ["elsewhere"]);
  assert.equal(hub.watchCount, 2);
  for (const stop of stops) await stop();
  assert.equal(hub.watchCount, 0);
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
