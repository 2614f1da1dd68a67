/**
 * The Windows real-cluster kit (examples/windows/) cannot run here; these checks keep it
 * internally consistent: every manifest parses, and the pieces that must agree (labels, ports,
 * names, the HostProcess settings) do.
 */
import assert from "node:assert/strict";
import { parse, parseAllDocuments } from "yaml";

const DIR = new URL("../../examples/windows/", import.meta.url);

// deno-lint-ignore no-explicit-any -- manifests are checked field by field below
type Doc = any;

async function docs(name: string): Promise<Doc[]> {
  const text = await Deno.readTextFile(new URL(name, DIR));
  return parseAllDocuments(text).map((d) => {
    assert.deepEqual(d.errors, [], `${name}: YAML errors`);
    return d.toJS();
  });
}

Deno.test("examples/windows: manifests parse and agree with each other and the config", async () => {
  const kustomization = (await docs("kustomization.yaml"))[0];
  const all = (await Promise.all(kustomization.resources.map(docs))).flat();
  const byKind = (k: string) => all.filter((d: Doc) => d.kind === k);
  const config = parse(await Deno.readTextFile(new URL("compartments.yaml", DIR)));

  const anchor = byKind("Deployment").find((d: Doc) => d.metadata.name === "cp-albums-win-anchor");
  const launcher = byKind("Deployment").find((d: Doc) => d.metadata.name === "cplauncher-albums");
  assert.ok(anchor && launcher);
  const anchorLabels = anchor.spec.template.metadata.labels;
  const [key, value] = config.anchors.albums.selector.split("=");
  assert.equal(anchorLabels[key], value, "config selector matches the anchor's labels");
  assert.equal(config.anchors.albums.namespace, anchor.metadata.namespace);
  assert.equal(config.anchors.albums.node, "${NODE_NAME}");

  const svc = byKind("Service")[0];
  assert.deepEqual(svc.spec.selector, anchorLabels, "Service selects the anchor");
  assert.equal(svc.spec.ports[0].targetPort, config.workloads.albums.port);

  const pod = launcher.spec.template.spec;
  assert.equal(pod.securityContext.windowsOptions.hostProcess, true);
  assert.equal(pod.hostNetwork, true, "HostProcess pods must use hostNetwork");
  assert.equal(pod.nodeSelector["kubernetes.io/os"], "windows");
  const c = pod.containers[0];
  assert.deepEqual(
    c.env.find((e: Doc) => e.name === "NODE_NAME").valueFrom.fieldRef,
    { fieldPath: "spec.nodeName" },
  );
  for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe]) {
    assert.equal(probe.httpGet.port, config.health.port);
  }
  assert.equal(c.readinessProbe.httpGet.path, "/readyz");
  assert.equal(c.livenessProbe.httpGet.path, "/healthz");
  // The launcher is the container's process itself: a shell in front would receive kubelet's
  // CTRL_SHUTDOWN_EVENT instead, and the launcher would die without stopping its workload.
  assert.deepEqual(c.command, ["%CONTAINER_SANDBOX_MOUNT_POINT%\\cplauncher.exe"]);
  assert.deepEqual(c.args, ["run", "-c", "etc\\cplauncher\\compartments.yaml"]);
  assert.ok(
    c.volumeMounts.some((m: Doc) =>
      m.mountPath.toLowerCase() === "c:\\etc\\cplauncher" && m.name === pod.volumes[0].name
    ),
    "the config volume is mounted where -c points (relative to the sandbox mount point)",
  );

  // The anchor is Ready only once the workload listens on its port inside the compartment.
  const probe = anchor.spec.template.spec.containers[0].readinessProbe;
  assert.equal(probe.tcpSocket.port, config.workloads.albums.port);
  // albumswin reads its port from PORT.
  assert.equal(config.workloads.albums.env.PORT, String(config.workloads.albums.port));
  assert.ok(!config.workloads.albums.command.includes("--port"));
  assert.ok(
    pod.terminationGracePeriodSeconds > parseInt(config.workloads.albums.stopTimeout),
    "grace period leaves the launcher time to stop the workload",
  );

  const gen = kustomization.configMapGenerator[0];
  assert.deepEqual(gen.files, ["compartments.yaml"]);
  assert.equal(pod.volumes[0].configMap.name, gen.name);

  assert.equal(pod.serviceAccountName, byKind("ServiceAccount")[0].metadata.name);
  const role = byKind("Role")[0];
  assert.deepEqual(role.rules[0].resources, ["pods"]);
  assert.deepEqual(role.rules[0].verbs.sort(), ["get", "list", "watch"]);
  assert.equal(byKind("RoleBinding")[0].roleRef.name, role.metadata.name);
});

Deno.test("examples/windows: e2e.ps1 runs the node self-test first, then every check", async () => {
  const ps = await Deno.readTextFile(new URL("e2e.ps1", DIR));
  const checks = [...ps.matchAll(/^Check '([^']+)'/gm)].map((m) => m[1]);
  assert.equal(checks[0], "node self-test (cplauncher doctor --selftest)");
  assert.match(ps, /cplauncher\.exe' doctor --selftest/);
  for (
    const check of [
      "anchor pod Ready",
      "launcher Deployment Available",
      "launcher log names pod, IP, compartment and PID",
      "HTTP 200 via Service (Linux curl pod)",
      "HTTP 200 via anchor pod IP (Linux curl pod)",
      "HTTP 200 via anchor pod IP (this host)",
    ]
  ) {
    assert.ok(ps.includes(`Check '${check}'`), check);
  }
});
