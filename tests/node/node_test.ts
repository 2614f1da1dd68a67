/**
 * The k2s albums scenario on a real single-node Kubernetes cluster (tests/support/node.ts):
 * `cplauncher render` → `kubectl apply` → real pods run by a kubelet through containerd, a
 * launcher pod that finds its anchor pod with the ServiceAccount token the kubelet projected,
 * a client pod calling the pod IP and the Service's ClusterIP (kube-proxy). The node is
 * started once for this file; the last test tears it down and compares the host with its
 * state before the start. Needs root.
 */
import assert from "node:assert/strict";
import { type KubeNode, NODE_NAME, POD_SUBNET, sharedNode } from "../support/node.ts";
import {
  anchorSelector,
  auditedRequests,
  clusterIp,
  containerPid,
  type Deployment,
  httpFromClient,
  isPodReady,
  launcherSelector,
  listPods,
  type PodInfo,
  podLogs,
  projectedTokenClaims,
  readyEndpoints,
  renderAndApply,
  startClient,
  waitForHttp200,
  waitUntil,
  writeAlbumsVariant,
} from "../support/node_scenario.ts";
import { albumsCommand, startLauncher, stopLauncher } from "../support/albums_scenario.ts";

const SHARED = { sanitizeOps: false, sanitizeResources: false } as const;
const setUp = sharedNode();
const work = Deno.makeTempDirSync({ prefix: "cplauncher-node-test-" });
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(work, { recursive: true });
  } catch { /* already gone */ }
});

/** Measurements for people reading the run (not assertions). */
function report(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`    node: ${line}\n`));
}

let main: Promise<Deployment> | undefined;
/** The albums config rendered and applied in namespace `albums` (once, by whichever test first needs it). */
function mainDeployment(node: KubeNode): Promise<Deployment> {
  main ??= (async () => {
    const deployment = await renderAndApply(node, { dir: `${work}/main` });
    await startClient(node, deployment.namespace);
    return deployment;
  })();
  return main;
}

let claimed: Promise<Deployment> | undefined;
/** Three anchors and three launchers pairing through `pick: claim`, in `albums-claim`. */
function claimDeployment(node: KubeNode): Promise<Deployment> {
  claimed ??= (async () => {
    const config = await writeAlbumsVariant(`${work}/claim.yaml`, (c) => {
      // Three launchers on one node cannot share a health host port.
      delete c.health;
      c.anchors.albums.namespace = "albums-claim";
      c.anchors.albums.pick = "claim";
    });
    const deployment = await renderAndApply(node, {
      dir: `${work}/claim`,
      config,
      replicas: 3,
      name: "claimed",
    });
    await startClient(node, deployment.namespace);
    return deployment;
  })();
  return claimed;
}

function anchorDeploymentName(deployment: Deployment): string {
  return deployment.objects.find((o) =>
    o.kind === "Deployment" && o.metadata.name !== deployment.name
  )!.metadata.name;
}

async function readyAnchors(node: KubeNode, deployment: Deployment, count = 1): Promise<PodInfo[]> {
  const selector = anchorSelector(deployment.objects, anchorDeploymentName(deployment));
  return await waitUntil(`${count} Ready anchor pod(s) in ${deployment.namespace}`, async () => {
    const pods = (await listPods(node, deployment.namespace, selector)).filter((p) =>
      !p.metadata.deletionTimestamp && isPodReady(p) && p.status.podIP
    );
    return pods.length === count ? pods : undefined;
  });
}

async function launcherPods(node: KubeNode, deployment: Deployment, count = 1): Promise<PodInfo[]> {
  return await waitUntil(
    `${count} running launcher pod(s) in ${deployment.namespace}`,
    async () => {
      const pods = (await listPods(node, deployment.namespace, launcherSelector(deployment)))
        .filter((p) => !p.metadata.deletionTimestamp && p.status.phase === "Running");
      return pods.length === count ? pods : undefined;
    },
  );
}

/** Waits for `pattern` in a pod's log and returns its latest match. */
function waitForLog(
  node: KubeNode,
  namespace: string,
  pod: string,
  pattern: RegExp,
  ms = 120_000,
): Promise<RegExpMatchArray> {
  const every = new RegExp(pattern.source, `${pattern.flags.replace("g", "")}g`);
  return waitUntil(
    `${pattern} in the log of ${namespace}/${pod}`,
    async () => [...(await podLogs(node, namespace, pod)).matchAll(every)].pop(),
    ms,
    500,
  );
}

function netnsInode(pid: number): number {
  return Deno.statSync(`/proc/${pid}/ns/net`).ino!;
}

function programOf(pid: number): string {
  return Deno.readLinkSync(`/proc/${pid}/exe`).split("/").pop()!;
}

/** The folder of a process's cgroup: the memory hierarchy's on cgroup v1, else the unified one. */
function cgroupDir(pid: number): string {
  const lines = Deno.readTextFileSync(`/proc/${pid}/cgroup`).split("\n").map((l) => l.split(":"));
  const v1 = lines.find((f) => f[1] === "memory");
  return v1
    ? `/sys/fs/cgroup/memory${v1[2]}`
    : `/sys/fs/cgroup${lines.find((f) => f[0] === "0")![2]}`;
}

/** Start time of a pid (field 22 of /proc/PID/stat), or undefined once it is gone. */
function startTimeOf(pid: number): string | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

Deno.test({
  name: "node: render → kubectl apply → the launcher pod serves albums inside the anchor pod",
  ...SHARED,
  fn: async () => {
    const node = await setUp();
    const deployment = await mainDeployment(node);
    const ns = deployment.namespace;

    // Every rendered object exists in the cluster, as applied.
    const kinds = deployment.objects.map((o) => o.kind).sort();
    assert.deepEqual(kinds, [
      "ConfigMap",
      "Deployment",
      "Deployment",
      "Role",
      "RoleBinding",
      "Service",
      "ServiceAccount",
    ]);
    for (const o of deployment.objects) {
      const got = await node.kubectl(["get", "-n", ns, o.kind, o.metadata.name, "-o", "name"]);
      assert.equal(got.code, 0, `${o.kind} ${o.metadata.name} exists: ${got.stderr}`);
    }

    const [anchor] = await readyAnchors(node, deployment);
    const ip = anchor.status.podIP!;
    assert.ok(ip.startsWith(POD_SUBNET.slice(0, POD_SUBNET.lastIndexOf("."))), `pod IP ${ip}`);
    assert.equal(anchor.spec.nodeName, NODE_NAME);
    const [launcher] = await launcherPods(node, deployment);
    assert.equal(launcher.spec.hostNetwork, true);
    assert.equal(launcher.spec.hostPID, true);
    assert.equal(launcher.spec.containers[0].securityContext?.privileged, true);

    // Found by the pod IP among the node's namespaces, with no netns path in the config.
    const found = await waitForLog(
      node,
      ns,
      launcher.metadata.name,
      new RegExp(`address ${ip.replaceAll(".", "\\.")} is up on eth0 in netns /proc/(\\d+)/ns/net`),
    );
    const sandboxPid = Number(found[1]);
    assert.equal(programOf(sandboxPid), "pause", "the namespace is held by the pod's sandbox");
    assert.notEqual(netnsInode(sandboxPid), netnsInode(Deno.pid), "not the host's namespace");
    const started = await waitForLog(
      node,
      ns,
      launcher.metadata.name,
      new RegExp(
        `workload albums started: pid (\\d+) in netns /proc/${sandboxPid}/ns/net of pod ${ns}/${anchor.metadata.name}`,
      ),
    );
    const workload = Number(started[1]);
    assert.equal(netnsInode(workload), netnsInode(sandboxPid), "albums runs in the anchor's netns");

    const byPod = await waitForHttp200(node, ns, `http://${ip}:8080/albums`);
    const albums = JSON.parse(byPod.body);
    assert.ok(Array.isArray(albums) && albums.length === 4 && albums[0].title === "Blue Train");
    const serviceIp = await clusterIp(node, ns, "albums");
    const byService = await waitForHttp200(node, ns, `http://${serviceIp}:8080/albums/2`);
    assert.equal(JSON.parse(byService.body).title, "Jeru");

    // Ready comes from the kubelet probing the launcher's /readyz on the node's address.
    const ready = await waitUntil("the launcher pod Ready", async () => {
      const [pod] = await listPods(node, ns, launcherSelector(deployment));
      return pod && isPodReady(pod) ? pod : undefined;
    }, 60_000);
    assert.equal(ready.spec.containers[0].readinessProbe.httpGet.path, "/readyz");
    report(`memory (MiB): ${JSON.stringify(await node.memoryMiB())}`);
  },
});

Deno.test({
  name: "node: the launcher authenticates with the ServiceAccount token the kubelet projected",
  ...SHARED,
  fn: async () => {
    const node = await setUp();
    const deployment = await mainDeployment(node);
    const ns = deployment.namespace;
    const [launcher] = await launcherPods(node, deployment);
    const claims = await projectedTokenClaims(node, ns, launcher.metadata.name);
    assert.equal(claims.sub, `system:serviceaccount:${ns}:${deployment.name}`);
    assert.equal(claims["kubernetes.io"].pod.name, launcher.metadata.name, "bound to the pod");
    assert.equal(claims["kubernetes.io"].node.name, NODE_NAME, "issued for this node");
    const requests = await waitUntil("the launcher's API requests in the audit log", async () => {
      const mine = (await auditedRequests(node)).filter((r) => r.pod === launcher.metadata.name);
      return mine.length > 0 ? mine : undefined;
    });
    for (const r of requests) {
      assert.equal(r.username, claims.sub);
      assert.equal(r.credentialId, `JTI=${claims.jti}`, `${r.verb} ${r.requestURI}`);
    }
    assert.ok(requests.some((r) => r.verb === "list" && /\/pods\?/.test(r.requestURI)));
  },
});

Deno.test({
  name:
    "node: anchor pod deleted → a new pod with a new IP, the workload follows, the Service answers",
  ...SHARED,
  fn: async () => {
    const node = await setUp();
    const deployment = await mainDeployment(node);
    const ns = deployment.namespace;
    const [old] = await readyAnchors(node, deployment);
    const [launcher] = await launcherPods(node, deployment);
    const serviceIp = await clusterIp(node, ns, "albums");
    await waitForHttp200(node, ns, `http://${serviceIp}:8080/albums`);

    const deleted = performance.now();
    await node.mustKubectl(["delete", "pod", "-n", ns, old.metadata.name, "--wait=false"]);
    let failures = 0;
    let polls = 0;
    const [fresh] = await waitUntil("a new anchor pod", async () => {
      const pods = await readyAnchors(node, deployment);
      return pods[0].metadata.uid !== old.metadata.uid ? pods : undefined;
    });
    assert.notEqual(fresh.status.podIP, old.status.podIP, "the new pod has a new IP");
    const newIp = fresh.status.podIP!;
    const direct = await waitForHttp200(node, ns, `http://${newIp}:8080/albums`);
    const relaunchedMs = performance.now() - deleted;
    assert.equal(direct.status, 200);
    await waitUntil("the Service to answer from the new pod only", async () => {
      polls++;
      const [endpoints, answer] = await Promise.all([
        readyEndpoints(node, ns, "albums"),
        httpFromClient(node, ns, `http://${serviceIp}:8080/albums`, 1),
      ]);
      if (answer.status !== 200) failures++;
      return endpoints.length === 1 && endpoints[0] === newIp && answer.status === 200
        ? true
        : undefined;
    });
    const serviceMs = performance.now() - deleted;
    const logs = await podLogs(node, ns, launcher.metadata.name);
    assert.match(
      logs,
      new RegExp(`pod ${old.metadata.name} is terminating; moving to the new anchor`),
    );
    assert.match(
      logs,
      new RegExp(
        `workload albums started: pid \\d+ in netns \\S+ of pod ${ns}/${fresh.metadata.name}`,
      ),
    );
    report(
      `anchor deleted → workload answers on the new pod IP after ${
        Math.round(relaunchedMs)
      } ms; Service answers from the new pod only after ${
        Math.round(serviceMs)
      } ms (${failures} of ${polls} Service polls failed meanwhile)`,
    );
  },
});

Deno.test({
  name:
    "node: launcher pod deleted → stopped within its grace period, the workload got SIGTERM, nothing left",
  ...SHARED,
  fn: async () => {
    const node = await setUp();
    const deployment = await mainDeployment(node);
    const ns = deployment.namespace;
    await readyAnchors(node, deployment);
    const [launcher] = await launcherPods(node, deployment);
    const started = await waitForLog(
      node,
      ns,
      launcher.metadata.name,
      /workload albums started: pid (\d+)/,
    );
    const workload = Number(started[1]);
    const launcherPid = await containerPid(node, launcher);
    // Everything in the launcher container's cgroup: the launcher, the workload, helpers.
    const cgroup = cgroupDir(launcherPid);
    const procs = Deno.readTextFileSync(`${cgroup}/cgroup.procs`).split("\n").filter(Boolean)
      .map(Number);
    assert.ok(procs.includes(launcherPid) && procs.includes(workload), "launcher and workload");
    const before = new Map(procs.map((p) => [p, startTimeOf(p)]));
    const grace = launcher.spec.terminationGracePeriodSeconds as number;

    const follow = new Deno.Command(node.kubectlPath, {
      args: [
        `--kubeconfig=${node.adminKubeconfigPath}`,
        "logs",
        "-f",
        "-n",
        ns,
        launcher.metadata.name,
        "--since=1s",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    await new Promise((r) => setTimeout(r, 1000)); // let the stream attach
    const t0 = performance.now();
    await node.mustKubectl(["delete", "pod", "-n", ns, launcher.metadata.name, "--wait=true"]);
    const stoppedMs = performance.now() - t0;
    const tail = new TextDecoder().decode((await follow).stdout);

    assert.ok(stoppedMs < grace * 1000, `gone after ${Math.round(stoppedMs)} ms, grace ${grace} s`);
    assert.match(
      tail,
      new RegExp(`stopping workload albums \\(pid ${workload}\\): launcher stopping`),
    );
    assert.match(tail, /\[albums\] albums: SIGTERM, shutting down/, "the workload got SIGTERM");
    assert.match(tail, new RegExp(`workload albums \\(pid ${workload}\\) exited with code 0`));
    assert.doesNotMatch(tail, /did not stop within/, "no SIGKILL needed");
    const survivors = [...before].filter(([pid, start]) => startTimeOf(pid) === start);
    assert.deepEqual(survivors, [], "no process of the launcher container is left");
    assert.throws(() => Deno.statSync(cgroup), "its cgroup is gone");
    report(`launcher pod deleted → gone after ${Math.round(stoppedMs)} ms (grace ${grace} s)`);
    // The Deployment's replacement takes over the anchor again.
    const [next] = await launcherPods(node, deployment);
    await waitForLog(node, ns, next.metadata.name, /listens on port 8080 inside the anchor/);
  },
});

Deno.test({
  name:
    "node: a readinessProbe on the workload port keeps the Service's endpoints empty until it listens",
  ...SHARED,
  fn: async () => {
    const node = await setUp();
    // render gives anchors no probe (a launcher only takes Ready anchors, so the selector path
    // would wait forever); the overlay adds one, and the workload is started in the anchor
    // pod's namespace by a launcher on the host, given that namespace as a static anchor.
    const config = await writeAlbumsVariant(`${work}/probe.yaml`, (c) => {
      c.anchors.albums.namespace = "albums-probe";
    });
    const deployment = await renderAndApply(node, {
      dir: `${work}/probe`,
      config,
      name: "probed",
      only: ["anchors.yaml", "services.yaml"],
      anchorPatches: [{
        op: "add",
        path: "/spec/template/spec/containers/0/readinessProbe",
        value: { tcpSocket: { port: 8080 }, periodSeconds: 1, failureThreshold: 1 },
      }],
    });
    const ns = deployment.namespace;
    await startClient(node, ns);
    const selector = anchorSelector(deployment.objects, "probed-anchor-albums");
    const anchor = await waitUntil("the probed anchor Running", async () => {
      const [pod] = await listPods(node, ns, selector);
      return pod?.status.phase === "Running" && pod.status.podIP ? pod : undefined;
    });
    const serviceIp = await clusterIp(node, ns, "albums");
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const [pod] = await listPods(node, ns, selector);
      assert.equal(isPodReady(pod), false, "not Ready while nothing listens");
      assert.deepEqual(await readyEndpoints(node, ns, "albums"), []);
    }
    assert.equal((await httpFromClient(node, ns, `http://${serviceIp}:8080/albums`, 1)).status, 0);

    const netns = `/proc/${await containerPid(node, anchor)}/ns/net`;
    const hostConfig = `${work}/probe-static.yaml`;
    await Deno.writeTextFile(
      hostConfig,
      JSON.stringify({
        apiVersion: "cplauncher/v1",
        anchors: { pod: { netns } },
        workloads: { albums: { anchor: "pod", command: albumsCommand(8080), port: 8080 } },
      }),
    );
    const launcher = startLauncher(["run", "-c", hostConfig]);
    try {
      await launcher.waitFor(/listens on port 8080 inside the anchor/, 60_000);
      const listening = performance.now();
      await waitUntil("the anchor's endpoint Ready", async () => {
        const endpoints = await readyEndpoints(node, ns, "albums");
        return endpoints[0] === anchor.status.podIP ? true : undefined;
      }, 30_000);
      const readyMs = performance.now() - listening;
      await waitForHttp200(node, ns, `http://${serviceIp}:8080/albums`, 30_000);
      report(`probed anchor: endpoint Ready ${Math.round(readyMs)} ms after the workload listened`);
      launcher.process.kill("SIGTERM");
      assert.equal((await launcher.status).code, 0);
      await waitUntil("the endpoint to go unready again", async () => {
        return (await readyEndpoints(node, ns, "albums")).length === 0 ? true : undefined;
      }, 30_000);
    } finally {
      await stopLauncher(launcher);
    }
    await node.mustKubectl(["delete", "namespace", ns, "--wait=false"]);
  },
});

Deno.test({
  name: "node: 3 anchor replicas and 3 launcher replicas pair 1:1 through pick: claim",
  ...SHARED,
  fn: async () => {
    const node = await setUp();
    const deployment = await claimDeployment(node);
    const ns = deployment.namespace;
    const anchors = await readyAnchors(node, deployment, 3);
    const launchers = await launcherPods(node, deployment, 3);
    const pairs = new Map<string, string>();
    for (const launcher of launchers) {
      const claim = await waitForLog(
        node,
        ns,
        launcher.metadata.name,
        /claimed anchor pod (\S+) as (\S+)/,
      );
      pairs.set(claim[1], claim[2]);
      await waitForLog(node, ns, launcher.metadata.name, /listens on port 8080 inside the anchor/);
    }
    assert.deepEqual(
      [...pairs.keys()].sort(),
      anchors.map((a) => a.metadata.name).sort(),
      "every anchor claimed by exactly one launcher",
    );
    const holders = [...pairs.values()];
    assert.equal(new Set(holders).size, 3);
    for (const launcher of launchers) {
      assert.equal(holders.filter((h) => h.startsWith(`${launcher.metadata.name}-`)).length, 1);
    }
    const fresh = await listPods(
      node,
      ns,
      anchorSelector(deployment.objects, "claimed-anchor-albums"),
    );
    for (const anchor of fresh) {
      const holder = pairs.get(anchor.metadata.name);
      assert.ok(
        Object.values(anchor.metadata.annotations ?? {}).includes(holder!),
        `${anchor.metadata.name} carries its holder ${holder}`,
      );
      const answer = await waitForHttp200(node, ns, `http://${anchor.status.podIP}:8080/albums/4`);
      assert.equal(JSON.parse(answer.body).title, "Kind of Blue");
    }
    assert.deepEqual(
      await readyEndpoints(node, ns, "albums"),
      anchors.map((a) => a.status.podIP!).sort(),
    );
  },
});

Deno.test({
  name: "node: a rotated projected token is re-read by the running launcher",
  ...SHARED,
  fn: async () => {
    const node = await setUp();
    // Claim holders renew every 10 s, so these launchers call the API all the time.
    const deployment = await claimDeployment(node);
    const ns = deployment.namespace;
    await readyAnchors(node, deployment, 3);
    const [launcher] = await launcherPods(node, deployment, 3);
    const name = launcher.metadata.name;
    const first = await projectedTokenClaims(node, ns, name);
    await waitUntil("a request with the first token", async () => {
      const seen = (await auditedRequests(node)).some((r) =>
        r.pod === name && r.credentialId === `JTI=${first.jti}`
      );
      return seen ? true : undefined;
    });
    // A restarted kubelet has no token cache: it asks for a new token and rewrites the file.
    const restarted = performance.now();
    await node.restartKubelet();
    const second = await waitUntil(
      "the kubelet to project a new token",
      async () => {
        const claims = await projectedTokenClaims(node, ns, name);
        return claims.jti !== first.jti ? claims : undefined;
      },
      120_000,
      1000,
    );
    const projectedMs = performance.now() - restarted;
    assert.equal(second["kubernetes.io"].pod.name, name);
    const used = await waitUntil(
      "a request with the new token",
      async () => {
        const request = (await auditedRequests(node)).find((r) =>
          r.pod === name && r.credentialId === `JTI=${second.jti}`
        );
        return request;
      },
      120_000,
      1000,
    );
    const usedMs = performance.now() - restarted;
    assert.equal(used.code, 200, `${used.verb} ${used.requestURI} with the new token`);
    const [same] = (await listPods(node, ns, launcherSelector(deployment))).filter((p) =>
      p.metadata.name === name
    );
    assert.equal(same.metadata.uid, launcher.metadata.uid, "the same launcher pod");
    assert.equal(same.status.containerStatuses?.[0]?.restartCount, 0, "never restarted");
    report(
      `token rotation: new token in the pod ${
        Math.round(projectedMs)
      } ms after the kubelet restart, first used ${Math.round(usedMs)} ms after it`,
    );
  },
});

Deno.test({
  name:
    "node: teardown restores the host (sysctls, iptables, routes, links, mounts, cgroups, folders)",
  ...SHARED,
  fn: async () => {
    const node = await setUp();
    const recorded = node.record.processes.map((p) => p.pid);
    const left = await node.stop();
    assert.deepEqual(left, [], "host state after teardown equals the state before the start");
    for (const pid of recorded) {
      assert.equal(startTimeOf(pid), undefined, `process ${pid} is gone`);
    }
  },
});
