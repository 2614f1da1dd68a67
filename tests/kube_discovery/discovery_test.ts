// deno-lint-ignore-file no-console -- test/demo output for people reading the run
/**
 * Anchor discovery against a real kube-apiserver + etcd. The tests play the kubelet's part
 * by writing pod status through the status subresource.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  CLAIM_HOLDER_ANNOTATION,
  CLAIM_RENEWED_ANNOTATION,
  clientNodePodSource,
  KubeError,
  type LoadedKubeConfig,
  loadKubeConfig,
  PodSetWatch,
  PodWatchHub,
  resolvePodAnchor,
} from "../../src/kube/mod.ts";
import {
  adminKube,
  captureLogs,
  freshNamespace,
  SHARED,
  sharedCluster,
  stopSharedCluster,
} from "./shared.ts";
import { teardownLogging } from "../../src/log/mod.ts";

type Spec = Parameters<typeof resolvePodAnchor>[2];
const spec = (namespace: string, extra: Partial<Spec> = {}): Spec => ({
  selector: "app=anchor",
  namespace,
  pick: "exactly-one",
  timeoutMs: 10_000,
  ...extra,
});

async function readyPod(
  ns: string,
  name: string,
  ip: string,
  extra: { node?: string; labels?: Record<string, string> } = {},
) {
  const c = await sharedCluster();
  await c.createPod(ns, {
    name,
    labels: extra.labels ?? { app: "anchor" },
    ...(extra.node ? { nodeName: extra.node } : {}),
  });
  await c.setPodStatus(ns, name, { ready: true, podIP: ip });
}

async function rejection(promise: Promise<unknown>): Promise<KubeError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof KubeError, `expected a KubeError, got ${error}`);
    return error;
  }
  assert.fail("expected the promise to reject");
}

Deno.test({
  name: "resolves a Ready anchor pod: name, uid, node, IP and timing",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("happy");
    await readyPod(ns, "anchor-0", "10.200.0.2", { node: "node-a" });
    const resolved = await resolvePodAnchor(await adminKube(), "albums", spec(ns));
    assert.equal(resolved.pod, "anchor-0");
    assert.equal(resolved.namespace, ns);
    assert.equal(resolved.ip, "10.200.0.2");
    assert.deepEqual(resolved.ips, ["10.200.0.2"]);
    assert.equal(resolved.node, "node-a");
    assert.match(resolved.uid, /^[0-9a-f-]{36}$/);
    assert.ok(resolved.elapsedMs > 0 && resolved.elapsedMs < 10_000);
  },
});

Deno.test({
  name: "an anchor that becomes Ready while waiting is picked up by the watch",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("late");
    const c = await sharedCluster();
    const kube = await adminKube();
    const pending = resolvePodAnchor(kube, "late", spec(ns));
    await new Promise((r) => setTimeout(r, 1000));
    await c.createPod(ns, { name: "late-0", labels: { app: "anchor" } });
    await new Promise((r) => setTimeout(r, 300));
    const written = performance.now();
    await c.setPodStatus(ns, "late-0", { ready: true, podIP: "10.200.0.3" });
    const resolved = await pending;
    const latency = performance.now() - written;
    console.log(`watch latency from status write to resolution: ${latency.toFixed(1)} ms`);
    assert.equal(resolved.pod, "late-0");
  },
});

Deno.test({
  name: "a pod that never becomes Ready times out within timeout + 1 s, saying what was seen",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("notready");
    const c = await sharedCluster();
    await c.createPod(ns, { name: "slow-0", labels: { app: "anchor" } });
    await c.setPodStatus(ns, "slow-0", { ready: false, podIP: "10.200.0.4" });
    const started = performance.now();
    const error = await rejection(
      resolvePodAnchor(await adminKube(), "slow", spec(ns, { timeoutMs: 2000 })),
    );
    const elapsed = performance.now() - started;
    assert.equal(error.failure, "timeout");
    assert.ok(elapsed >= 2000 && elapsed < 3000, `took ${elapsed} ms`);
    assert.match(error.message, /anchor slow: no usable pod after 2s/);
    assert.match(error.message, /slow-0 \(Running, not Ready, 10\.200\.0\.4/);
  },
});

Deno.test({
  name: "zero matching pods: the timeout says so",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("none");
    const error = await rejection(
      resolvePodAnchor(await adminKube(), "none", spec(ns, { timeoutMs: 1000 })),
    );
    assert.match(error.message, new RegExp(`no pod matches app=anchor in namespace ${ns}`));
  },
});

Deno.test({
  name: "a pod without an IP is reported as such",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("noip");
    const c = await sharedCluster();
    await c.createPod(ns, { name: "noip-0", labels: { app: "anchor" } });
    await c.setPodStatus(ns, "noip-0", { ready: true });
    const error = await rejection(
      resolvePodAnchor(await adminKube(), "noip", spec(ns, { timeoutMs: 1000 })),
    );
    assert.match(error.message, /noip-0 \(Ready, no IP/);
  },
});

Deno.test({
  name: "exactly-one with two matches is an error listing both",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("twice");
    await readyPod(ns, "a-0", "10.200.1.1");
    await readyPod(ns, "a-1", "10.200.1.2");
    const error = await rejection(resolvePodAnchor(await adminKube(), "twice", spec(ns)));
    assert.equal(error.failure, "ambiguous");
    assert.match(error.message, /2 pods match app=anchor/);
    assert.match(error.message, /a-0 .*a-1/);
    assert.match(error.message, /first-ready or claim/);
  },
});

Deno.test({
  name: "first-ready picks the oldest Ready pod, skipping unready ones",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("first");
    const c = await sharedCluster();
    await c.createPod(ns, { name: "old-unready", labels: { app: "anchor" } });
    await c.setPodStatus(ns, "old-unready", { ready: false, podIP: "10.200.2.1" });
    await new Promise((r) => setTimeout(r, 1100)); // creationTimestamp has 1 s resolution
    await readyPod(ns, "mid", "10.200.2.2");
    await new Promise((r) => setTimeout(r, 1100));
    await readyPod(ns, "young", "10.200.2.3");
    const resolved = await resolvePodAnchor(
      await adminKube(),
      "first",
      spec(ns, { pick: "first-ready" }),
    );
    assert.equal(resolved.pod, "mid");
  },
});

Deno.test({
  name: "node filter: pods on other nodes are ignored and reported",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("node");
    await readyPod(ns, "elsewhere", "10.200.3.1", { node: "node-b" });
    const kube = await adminKube();
    const error = await rejection(
      resolvePodAnchor(kube, "n", spec(ns, { node: "node-a", timeoutMs: 1000 })),
    );
    assert.match(
      error.message,
      /no pod on node node-a; 1 on other nodes: elsewhere \(Ready, 10\.200\.3\.1, node node-b\)/,
    );
    await readyPod(ns, "here", "10.200.3.2", { node: "node-a" });
    const resolved = await resolvePodAnchor(kube, "n", spec(ns, { node: "node-a" }));
    assert.equal(resolved.pod, "here");
  },
});

Deno.test({
  name: "claim: 6 concurrent launchers, 5 anchors: every anchor claimed once, the sixth waits",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("claim");
    for (let i = 0; i < 5; i++) await readyPod(ns, `anchor-${i}`, `10.200.4.${i + 1}`);
    const c = await sharedCluster();
    // Separate credentials objects, as separate launcher processes would have.
    const kubes = await Promise.all(
      Array.from({ length: 6 }, () => loadKubeConfig(c.adminKubeconfigPath)),
    );
    const results = await Promise.allSettled(
      kubes.map((kube, i) =>
        resolvePodAnchor(kube, "c", spec(ns, { pick: "claim", timeoutMs: 4000 }), {
          holder: `launcher-${i}`,
        })
      ),
    );
    const won = results.filter((r) => r.status === "fulfilled").map((r) =>
      (r as PromiseFulfilledResult<Awaited<ReturnType<typeof resolvePodAnchor>>>).value
    );
    const lost = results.filter((r) => r.status === "rejected") as PromiseRejectedResult[];
    assert.equal(won.length, 5);
    assert.equal(new Set(won.map((w) => w.pod)).size, 5, "no anchor is claimed twice");
    assert.equal(lost.length, 1);
    assert.match(String(lost[0].reason.message), /claimed by other launchers/);
    const pods = await c.listPods(ns);
    const holders = pods.map((p) => p.metadata.annotations?.[CLAIM_HOLDER_ANNOTATION]);
    assert.equal(new Set(holders).size, 5);
    // Releasing on clean exit clears the annotations, so the waiting launcher can take it.
    await won[0].claim!.release();
    const released = await c.getPod(ns, won[0].pod);
    assert.equal(released.metadata.annotations?.[CLAIM_HOLDER_ANNOTATION], undefined);
    const loser = results.findIndex((r) => r.status === "rejected");
    const late = await resolvePodAnchor(kubes[loser], "c", spec(ns, { pick: "claim" }), {
      holder: `launcher-${loser}`,
    });
    assert.equal(
      late.pod,
      won[0].pod,
      `holders after release: ${
        JSON.stringify(
          Object.fromEntries(
            (await c.listPods(ns)).map((
              p,
            ) => [p.metadata.name, p.metadata.annotations?.[CLAIM_HOLDER_ANNOTATION]]),
          ),
        )
      }; won ${JSON.stringify(won.map((w) => w.pod))}`,
    );
    for (const w of [...won.slice(1), late]) await w.claim!.release();
  },
});

Deno.test({
  name: "claim: a claim whose holder stopped renewing is taken over",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("stale");
    const c = await sharedCluster();
    await c.createPod(ns, {
      name: "stale-0",
      labels: { app: "anchor" },
      annotations: {
        [CLAIM_HOLDER_ANNOTATION]: "gone-launcher",
        [CLAIM_RENEWED_ANNOTATION]: String(Date.now() - 60_000),
      },
    });
    await c.setPodStatus(ns, "stale-0", { ready: true, podIP: "10.200.5.1" });
    const fresh = await c.getPod(ns, "stale-0");
    assert.equal(fresh.metadata.annotations?.[CLAIM_HOLDER_ANNOTATION], "gone-launcher");
    const resolved = await resolvePodAnchor(await adminKube(), "s", spec(ns, { pick: "claim" }), {
      holder: "new-launcher",
      claimTtlMs: 30_000,
    });
    assert.equal(resolved.pod, "stale-0");
    const after = await c.getPod(ns, "stale-0");
    assert.equal(after.metadata.annotations?.[CLAIM_HOLDER_ANNOTATION], "new-launcher");
    await resolved.claim!.release();
  },
});

Deno.test({
  name: "apiserver killed and restarted mid-wait: resolution still succeeds",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("restart");
    const c = await sharedCluster();
    const pending = resolvePodAnchor(await adminKube(), "r", spec(ns, { timeoutMs: 90_000 }), {
      maxBackoffMs: 1000,
    });
    await new Promise((r) => setTimeout(r, 500));
    await c.restartApiserver();
    await readyPod(ns, "after-restart", "10.200.6.1");
    const resolved = await pending;
    assert.equal(resolved.pod, "after-restart");
  },
});

async function serviceAccountKube(
  ns: string,
  name: string,
  verbs: string[],
): Promise<LoadedKubeConfig> {
  const c = await sharedCluster();
  await c.createServiceAccount(ns, name);
  await c.applyRole(ns, name, [{ apiGroups: [""], resources: ["pods"], verbs }]);
  await c.bindRole(ns, name, name, name);
  const token = await c.tokenFor(ns, name);
  const path = await c.kubeconfigForToken(token, join(c.dir, `${ns}-${name}.kubeconfig`));
  return await loadKubeConfig(path);
}

Deno.test({
  name: "least privilege: get,list,watch on pods is enough (token auth over TLS with a custom CA)",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("rbac");
    await readyPod(ns, "anchor-0", "10.200.7.1");
    const kube = await serviceAccountKube(ns, "launcher", ["get", "list", "watch"]);
    const resolved = await resolvePodAnchor(kube, "r", spec(ns));
    assert.equal(resolved.pod, "anchor-0");
  },
});

Deno.test({
  name:
    "least privilege: without watch the 403 hint names the verb, resource and namespace, no hang",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("nowatch");
    const kube = await serviceAccountKube(ns, "launcher", ["get", "list"]);
    const started = performance.now();
    const error = await rejection(resolvePodAnchor(kube, "r", spec(ns, { timeoutMs: 30_000 })));
    assert.ok(performance.now() - started < 5000, "fails fast, not at the timeout");
    assert.equal(error.failure, "forbidden");
    assert.match(error.message, /forbidden \(403\)/);
    assert.match(error.message, new RegExp(`watch pods in namespace "${ns}"`));
    assert.match(error.message, /examples\/kubernetes\/rbac\.yaml/);
  },
});

Deno.test({
  name: "least privilege: without list the 403 names list and the service account",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("nolist");
    const kube = await serviceAccountKube(ns, "launcher", ["get"]);
    const error = await rejection(resolvePodAnchor(kube, "r", spec(ns)));
    assert.match(
      error.message,
      new RegExp(`"system:serviceaccount:${ns}:launcher" may not list pods`),
    );
  },
});

Deno.test({
  name: "tokens and client keys never appear in logs, even at trace level",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("secrets");
    await readyPod(ns, "anchor-0", "10.200.8.1");
    const c = await sharedCluster();
    await c.createServiceAccount(ns, "reader");
    await c.applyRole(ns, "reader", [{
      apiGroups: [""],
      resources: ["pods"],
      verbs: ["get", "list", "watch"],
    }]);
    await c.bindRole(ns, "reader", "reader", "reader");
    const token = await c.tokenFor(ns, "reader");
    const tokenKube = await loadKubeConfig(
      await c.kubeconfigForToken(token, join(c.dir, "secrets.kubeconfig")),
    );
    const lines = await captureLogs("trace");
    try {
      await resolvePodAnchor(tokenKube, "s", spec(ns));
      await resolvePodAnchor(await adminKube(), "s", spec(ns));
      await rejection(resolvePodAnchor(tokenKube, "s", spec("kube-system", { timeoutMs: 500 })));
    } finally {
      await teardownLogging();
    }
    const text = lines.join("");
    assert.ok(lines.length > 0, "something was logged");
    assert.ok(!text.includes(token), "token leaked into logs");
    assert.ok(!text.includes(token.split(".")[1]), "token payload leaked into logs");
    const admin = await Deno.readTextFile(c.adminKubeconfigPath);
    const keyData = /client-key-data: (\S+)/.exec(admin)?.[1];
    assert.ok(keyData, "admin kubeconfig has inline key data");
    assert.ok(!text.includes(keyData!.slice(0, 40)), "client key leaked into logs");
    assert.ok(!/PRIVATE KEY/.test(text));
  },
});

Deno.test({
  name: "in-cluster config from a HostProcess sandbox mount point with a real token and CA",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("incluster");
    await readyPod(ns, "anchor-0", "10.200.9.1");
    const c = await sharedCluster();
    await c.createServiceAccount(ns, "hp");
    await c.applyRole(ns, "hp", [{
      apiGroups: [""],
      resources: ["pods"],
      verbs: ["get", "list", "watch"],
    }]);
    await c.bindRole(ns, "hp", "hp", "hp");
    const sandbox = await Deno.makeTempDir({ prefix: "sandbox-" });
    const saDir = join(sandbox, "var/run/secrets/kubernetes.io/serviceaccount");
    await Deno.mkdir(saDir, { recursive: true });
    await Deno.writeTextFile(join(saDir, "token"), await c.tokenFor(ns, "hp"));
    await Deno.writeTextFile(join(saDir, "ca.crt"), c.caPem);
    await Deno.writeTextFile(join(saDir, "namespace"), ns);
    const url = new URL(c.server);
    const saved = [
      "CONTAINER_SANDBOX_MOUNT_POINT",
      "KUBERNETES_SERVICE_HOST",
      "KUBERNETES_SERVICE_PORT",
    ].map((k) => [k, Deno.env.get(k)] as const);
    try {
      Deno.env.set("CONTAINER_SANDBOX_MOUNT_POINT", `${sandbox}/`);
      Deno.env.set("KUBERNETES_SERVICE_HOST", url.hostname);
      Deno.env.set("KUBERNETES_SERVICE_PORT", url.port);
      const kube = await loadKubeConfig("auto");
      assert.equal(kube.source.kind, "in-cluster");
      const resolved = await resolvePodAnchor(kube, "hp", spec(ns));
      assert.equal(resolved.pod, "anchor-0");
    } finally {
      for (const [k, v] of saved) v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
      await Deno.remove(sandbox, { recursive: true });
    }
  },
});

Deno.test({
  name: "TLS failure (wrong CA) is a one-line TLS error",
  ...SHARED,
  fn: async () => {
    const c = await sharedCluster();
    const text = await Deno.readTextFile(c.adminKubeconfigPath);
    const wrongCa = btoa(
      `-----BEGIN CERTIFICATE-----\n${"A".repeat(64)}\n-----END CERTIFICATE-----\n`,
    );
    const other = await startOtherCa(c.dir);
    const path = join(c.dir, "wrong-ca.kubeconfig");
    await Deno.writeTextFile(
      path,
      text.replace(
        /certificate-authority-data: \S+/,
        `certificate-authority-data: ${other ?? wrongCa}`,
      ),
    );
    const kube = await loadKubeConfig(path);
    const error = await rejection(
      resolvePodAnchor(kube, "t", spec("default", { timeoutMs: 3000 })),
    );
    assert.ok(!error.message.includes("\n"));
    assert.match(error.message, /TLS failure|certificate/i);
  },
});

/** A PEM of a freshly generated, unrelated CA (base64 for kubeconfig data). */
async function startOtherCa(dir: string): Promise<string | undefined> {
  const key = join(dir, "other-ca.key");
  const crt = join(dir, "other-ca.crt");
  const { success } = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      key,
      "-out",
      crt,
      "-days",
      "1",
      "-subj",
      "/CN=other-ca",
    ],
    stdout: "null",
    stderr: "null",
  }).output();
  return success ? btoa(await Deno.readTextFile(crt)) : undefined;
}

Deno.test({
  name: "unreachable server: the timeout says the API cannot be reached",
  ...SHARED,
  fn: async () => {
    const c = await sharedCluster();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close(); // nothing listens there now
    const text = await Deno.readTextFile(c.adminKubeconfigPath);
    const path = join(c.dir, "unreachable.kubeconfig");
    await Deno.writeTextFile(
      path,
      text.replace(/server: \S+/, `server: https://127.0.0.1:${port}`),
    );
    const error = await rejection(
      resolvePodAnchor(await loadKubeConfig(path), "u", spec("default", { timeoutMs: 1500 }), {
        maxBackoffMs: 200,
      }),
    );
    assert.equal(error.failure, "timeout");
    assert.match(error.message, /cannot reach the Kubernetes API at https:\/\/127\.0\.0\.1/);
  },
});

Deno.test({
  name: "a quiet watch stays open past 60 s and still delivers the next event",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("quiet");
    const kube = await adminKube();
    const changes: number[] = [];
    const watch = new PodSetWatch({
      source: clientNodePodSource(kube),
      namespace: ns,
      labelSelector: "app=anchor",
      onChange: (pods) => changes.push(pods.length),
      onFatal: (error) => assert.fail(error.message),
    });
    watch.start();
    try {
      await new Promise((r) => setTimeout(r, 65_000));
      assert.equal(watch.stats.watches, 1, "still the first watch request after 65 s of silence");
      assert.equal(watch.stats.reconnects, 0);
      const c = await sharedCluster();
      const before = changes.length;
      await c.createPod(ns, { name: "wake", labels: { app: "anchor" } });
      const deadline = Date.now() + 3000;
      while (changes.length === before && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(changes.length > before, "the event arrived on the long-quiet watch");
      assert.equal(watch.stats.watches, 1);
    } finally {
      await watch.stop();
    }
  },
});

Deno.test({
  name: "hub: anchors of one namespace each get a selector watch, seeing only their pods",
  ...SHARED,
  fn: async () => {
    const ns = await freshNamespace("hub");
    const c = await sharedCluster();
    const hub = new PodWatchHub(clientNodePodSource(await adminKube()));
    const seen: Record<string, string[]> = { a: [], b: [] };
    const stops = ["a", "b"].map((name) =>
      hub.subscribe(ns, `anchor=${name}`, {
        onChange: (pods) => seen[name] = pods.map((p) => p.name).sort(),
        onFatal: (error) => assert.fail(error.message),
      })
    );
    await c.createPod(ns, { name: "pod-a", labels: { anchor: "a" } });
    await c.createPod(ns, { name: "pod-b", labels: { anchor: "b" } });
    await c.createPod(ns, { name: "pod-other", labels: { anchor: "c" } });
    const deadline = Date.now() + 5000;
    while ((seen.a.length === 0 || seen.b.length === 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(seen, { a: ["pod-a"], b: ["pod-b"] });
    assert.deepEqual(hub.queries().map((q) => q.labelSelector).sort(), ["anchor=a", "anchor=b"]);
    // A late subscriber of a watched selector gets the current state without a new watch.
    let late: string[] | undefined;
    const stopLate = hub.subscribe(ns, "anchor=a", {
      onChange: (pods) => late = pods.map((p) => p.name).sort(),
      onFatal: (error) => assert.fail(error.message),
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(late, ["pod-a"]);
    assert.equal(hub.watchCount, 2);
    for (const stop of [...stops, stopLate]) await stop();
    assert.equal(hub.watchCount, 0, "the last unsubscribe stops the watches");
  },
});

Deno.test({
  name: "teardown: the shared apiserver and etcd stop",
  ...SHARED,
  fn: async () => {
    await stopSharedCluster();
  },
});
