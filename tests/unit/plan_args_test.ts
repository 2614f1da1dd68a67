import assert from "node:assert/strict";
import { buildPlan, formatPlan } from "../../src/cli/plan.ts";
import { parseConfig } from "../../src/config/mod.ts";

const text = `apiVersion: cplauncher/v1
anchors:
  pods: { selector: app=a, namespace: ns, node: n1, pick: claim, timeout: 30s }
  lab: { netns: /var/run/netns/lab }
  legacy: { compartment: 5 }
workloads:
  web:
    anchor: pods
    command: [app.exe, --port, "80"]
    env: { A: "1" }
    port: 80
    probes: { readiness: { http: { port: 80, path: /ready }, period: 2s } }
  old:
    anchor: legacy
    command: [old.exe]
    restart: { policy: never }
    windows: { strategy: self }
`;

Deno.test("plan describes resolution steps and launch strategy per platform", () => {
  const parsed = parseConfig(text);
  assert.ok(parsed.ok);
  const windows = buildPlan(parsed.config, "windows");
  assert.equal(windows.anchors.length, 3);
  assert.match(
    windows.anchors[0].steps.join("\n"),
    /watch pods in namespace ns matching app=a on node n1/,
  );
  assert.match(windows.anchors[0].steps.join("\n"), /pick claim .* for up to 30s/);
  assert.match(windows.anchors[0].steps.join("\n"), /HCN endpoint/);
  assert.match(windows.workloads[0].launch, /SetJobCompartmentId/);
  assert.match(windows.workloads[1].launch, /COMPARTMENT_ID_ATTACH=<id>/);
  assert.equal(windows.workloads[1].restart, "never");
  assert.deepEqual(windows.workloads[0].probes, ["readiness: http :80/ready every 2s"]);
  const linux = buildPlan(parsed.config, "linux");
  assert.match(linux.anchors[0].steps.join("\n"), /network namespace that owns the pod IP/);
  assert.match(linux.workloads[0].launch, /setns\(CLONE_NEWNET\)/);
  const rendered = formatPlan(linux);
  assert.match(rendered, /web → anchor pods/);
  assert.match(rendered, /verify: listening on :80 inside the anchor/);
});
