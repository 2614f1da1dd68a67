// deno-lint-ignore-file no-console -- demo output for people reading the run
/**
 * `deno task demo:node`: the k2s albums scenario on a real single-node Kubernetes cluster on
 * this machine (containerd, kubelet, kube-proxy, real pods; see tests/support/node.ts).
 * `cplauncher render` turns tests/node/albums.yaml into Kubernetes objects, `kubectl apply`
 * creates them, the anchor Deployment's pause pod gets a pod IP, the launcher pod (privileged,
 * host network and PID namespace: the Linux counterpart of a HostProcess pod) finds that pod
 * with its ServiceAccount token, enters its network namespace and starts the albums service,
 * and a client pod calls it on the pod IP and on the Service's ClusterIP. Everything is
 * removed at the end, and the host is checked to be as before. Needs root.
 */
import { startNode } from "../tests/support/node.ts";
import {
  anchorSelector,
  auditedRequests,
  clusterIp,
  httpFromClient,
  isPodReady,
  launcherSelector,
  listPods,
  type PodInfo,
  podLogs,
  projectedTokenClaims,
  renderAndApply,
  startClient,
  waitForHttp200,
  waitUntil,
} from "../tests/support/node_scenario.ts";

function say(message: string): void {
  console.log(`==> ${message}`);
}

function indent(text: string): string {
  return text.trimEnd().split("\n").map((l) => `    ${l}`).join("\n");
}

if (Deno.build.os !== "linux") {
  console.error(`The node demo needs Linux; this is ${Deno.build.os}.`);
  Deno.exit(1);
}
if (Deno.uid() !== 0) {
  console.error("The node demo runs containerd and a kubelet, which needs root. Run it as root.");
  Deno.exit(1);
}

let node;
try {
  node = await startNode({ progress: say });
} catch (error) {
  console.error(`node start failed: ${error instanceof Error ? error.message : error}`);
  Deno.exit(1);
}
let ok = false;
const work = await Deno.makeTempDir({ prefix: "cplauncher-demo-node-" });
try {
  const t = node.timings;
  say(
    `node up in ${(t.totalMs / 1000).toFixed(1)} s: Ready ${
      (t.nodeReadyMs / 1000).toFixed(1)
    } s after the kubelet started`,
  );
  say("cplauncher render (tests/node/albums.yaml, Linux nodes, local images)");
  const deployment = await renderAndApply(node, { dir: work, progress: say });
  console.log(indent(deployment.renderCommand.join(" ")));
  console.log(indent(deployment.objects.map((o) => `${o.kind} ${o.metadata.name}`).join("\n")));
  say("overlay: the launcher pod mounts /usr, Deno and this checkout (hostPath); no image pulls");
  console.log(indent(deployment.applied));
  const ns = deployment.namespace;

  const anchorDeployment = deployment.objects.find((o) =>
    o.kind === "Deployment" && o.metadata.name !== deployment.name
  )!.metadata.name;
  const anchor: PodInfo = await waitUntil("the anchor pod", async () => {
    const [pod] = await listPods(node, ns, anchorSelector(deployment.objects, anchorDeployment));
    return pod?.status.podIP && isPodReady(pod) ? pod : undefined;
  });
  say(
    `anchor pod ${ns}/${anchor.metadata.name} (pause) is Running with pod IP ${anchor.status.podIP}`,
  );

  const launcher: PodInfo = await waitUntil("the launcher pod", async () => {
    const [pod] = await listPods(node, ns, launcherSelector(deployment));
    return pod?.status.phase === "Running" ? pod : undefined;
  });
  say(`launcher pod ${ns}/${launcher.metadata.name} is Running (privileged, hostNetwork, hostPID)`);
  const logs = await waitUntil("the workload to listen", async () => {
    const text = await podLogs(node, ns, launcher.metadata.name);
    return /listens on port 8080 inside the anchor/.test(text) ? text : undefined;
  });
  say("launcher log:");
  console.log(indent(logs));

  say("client pod (busybox) in the same namespace");
  await startClient(node, ns);
  const podUrl = `http://${anchor.status.podIP}:8080/albums`;
  say(`from the client pod: GET ${podUrl}`);
  const byPod = await waitForHttp200(node, ns, podUrl, 60_000);
  console.log(indent(`HTTP ${byPod.status}\n${byPod.body}`));
  const ip = await clusterIp(node, ns, "albums");
  const serviceUrl = `http://${ip}:8080/albums/1`;
  say(`through the Service's ClusterIP (kube-proxy): GET ${serviceUrl}`);
  const byService = await waitForHttp200(node, ns, serviceUrl, 60_000);
  console.log(indent(`HTTP ${byService.status}\n${byService.body}`));

  const ready = await waitUntil("the launcher pod Ready", async () => {
    const [pod] = await listPods(node, ns, launcherSelector(deployment));
    return pod && isPodReady(pod) ? pod : undefined;
  }, 60_000);
  const probe = ready.spec.containers[0].readinessProbe?.httpGet;
  say(
    `the kubelet reports the launcher Ready: its probe GET ${probe?.path} on port ${probe?.port} answers`,
  );

  const token = await projectedTokenClaims(node, ns, launcher.metadata.name);
  const calls = (await auditedRequests(node)).filter((r) => r.pod === launcher.metadata.name);
  const withToken = calls.filter((r) => r.credentialId === `JTI=${token.jti}`);
  say(
    `the launcher's ${calls.length} API calls (apiserver audit log) came from ${
      calls[0]?.username ?? "nobody"
    }, ${withToken.length} of them with the token the kubelet projected into its pod (jti ${token.jti}, bound to pod ${
      token["kubernetes.io"].pod.name
    }), e.g. ${calls[0]?.verb} ${calls[0]?.requestURI}`,
  );
  const second = await httpFromClient(node, ns, podUrl);
  ok = byPod.status === 200 && byService.status === 200 && second.status === 200 &&
    calls.length > 0 && withToken.length === calls.length;
} catch (error) {
  console.error(`demo step failed: ${error instanceof Error ? error.message : error}`);
  console.error(`logs of the node's processes: ${node.dir}/logs/ (removed now)`);
} finally {
  say("tearing the node down (pods, processes, iptables, routes, cgroups, sysctls, folders)");
  const left = await node.stop();
  await Deno.remove(work, { recursive: true }).catch(() => {});
  if (left.length === 0) say("host state is as before the node started");
  else {
    say(`host state differs from before:\n${indent(left.join("\n"))}`);
    ok = false;
  }
}
say(ok ? "demo succeeded" : "demo FAILED");
Deno.exit(ok ? 0 : 1);
