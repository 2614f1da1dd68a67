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
  assert.match(c.command.join(" "), /CONTAINER_SANDBOX_MOUNT_POINT/);
  assert.match(c.command.join(" "), /run -c/);
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

Deno.test("examples/windows: e2e.ps1 performs every check of the seed", async () => {
  const ps = await Deno.readTextFile(new URL("e2e.ps1", DIR));
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
