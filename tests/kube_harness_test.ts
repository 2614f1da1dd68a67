/**
 * Proves the Kubernetes test harness (tests/support/kube_cluster.ts) against a real
 * kube-apiserver + etcd: pods, kubelet-style status, an apiserver restart, and RBAC.
 */
import assert from "node:assert/strict";
import { KubeApiError, startKubeCluster } from "./support/kube_cluster.ts";

/** The measurements go to stderr: useful in CI logs, not part of the assertions. */
const report = (msg: string) => Deno.stderr.writeSync(new TextEncoder().encode(`${msg}\n`));

Deno.test("kube harness: pods, status, apiserver restart, RBAC", async (t) => {
  await using kube = await startKubeCluster();
  report(`apiserver ready in ${kube.apiserverReadyMs} ms at ${kube.server}`);

  await t.step("pod created, marked Ready by the fake kubelet", async () => {
    await kube.createNamespace("harness");
    const created = await kube.createPod("harness", {
      name: "anchor",
      labels: { app: "anchor" },
      annotations: { "cplauncher.io/test": "yes" },
    });
    assert.equal(created.spec.nodeName, "kube-test-node");
    assert.equal(created.status?.phase, "Pending");

    await kube.setPodStatus("harness", "anchor", { ready: true, podIP: "10.200.0.2" });
    const pod = await kube.getPod("harness", "anchor");
    assert.equal(pod.status?.phase, "Running");
    assert.equal(pod.status?.podIP, "10.200.0.2");
    assert.deepEqual(pod.status?.podIPs, [{ ip: "10.200.0.2" }]);
    assert.equal(pod.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
    assert.equal(pod.spec.nodeName, "kube-test-node");
    assert.equal(pod.metadata.labels?.app, "anchor");

    // Not ready again, with the IP kept: the patch only touches what it names.
    await kube.setPodStatus("harness", "anchor", { ready: false });
    const unready = await kube.getPod("harness", "anchor");
    assert.equal(unready.status?.conditions?.find((c) => c.type === "Ready")?.status, "False");
    assert.equal(unready.status?.podIP, "10.200.0.2");
  });

  await t.step("state survives an apiserver restart", async () => {
    const before = (await kube.getPod("harness", "anchor")).metadata.uid;
    await kube.restartApiserver();
    report(`apiserver ready again in ${kube.apiserverReadyMs} ms`);
    const pods = await kube.listPods("harness", "app=anchor");
    assert.equal(pods.length, 1);
    assert.equal(pods[0].metadata.uid, before);
    assert.equal(pods[0].status?.podIP, "10.200.0.2");
  });

  await t.step("a ServiceAccount token without RBAC gets 403; with a Role, 200", async () => {
    await kube.createServiceAccount("harness", "nobody");
    const token = await kube.tokenFor("harness", "nobody");
    const denied = await kube.api("GET", "/api/v1/namespaces/harness/pods", undefined, { token });
    assert.equal(denied.status, 403);

    await kube.applyRole("harness", "pod-reader", [
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
    ]);
    await kube.bindRole("harness", "nobody-reads-pods", "pod-reader", "nobody");
    const allowed = await kube.api<{ items: unknown[] }>(
      "GET",
      "/api/v1/namespaces/harness/pods",
      undefined,
      { token },
    );
    assert.equal(allowed.status, 200);
    assert.equal(allowed.body.items.length, 1);
  });

  await t.step("kubectl works with the admin and token kubeconfigs", async () => {
    const kubectl = async (kubeconfig: string, ...args: string[]) => {
      const out = await new Deno.Command(`${kube.binDir}/kubectl`, {
        args: [`--kubeconfig=${kubeconfig}`, ...args],
        stdin: "null",
      }).output();
      return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
    };
    const admin = await kubectl(
      kube.adminKubeconfigPath,
      "get",
      "pods",
      "-n",
      "harness",
      "-o",
      "name",
    );
    assert.equal(admin.code, 0);
    assert.equal(admin.stdout.trim(), "pod/anchor");

    const token = await kube.tokenFor("harness", "nobody");
    const path = await kube.kubeconfigForToken(token, `${kube.dir}/nobody.kubeconfig`);
    assert.equal((await kubectl(path, "get", "pods", "-n", "harness")).code, 0);
    assert.notEqual((await kubectl(path, "get", "pods", "-n", "default")).code, 0);
  });

  await t.step("deleted pods are gone; API errors carry the status", async () => {
    await kube.deletePod("harness", "anchor");
    await assert.rejects(
      kube.getPod("harness", "anchor"),
      (e) => e instanceof KubeApiError && e.status === 404,
    );
  });

  const mem = await kube.memory();
  report(`RSS: apiserver ${mem.apiserverRssKiB} KiB, etcd ${mem.etcdRssKiB} KiB`);
});
