/**
 * An anchor whose readinessProbe checks the workload's port (as rendered and in
 * examples/windows) is not Ready until the launcher has started the workload in it; it must
 * still be usable, or the launcher and the anchor would wait for each other forever.
 */
import assert from "node:assert/strict";
import type { V1Pod } from "@kubernetes/client-node";
import { describePod, isUsable, toAnchorPod } from "../../src/kube/pods.ts";

function pod(status: V1Pod["status"], deleting = false): V1Pod {
  return {
    metadata: {
      name: "anchor-0",
      namespace: "demo",
      uid: "u1",
      ...(deleting ? { deletionTimestamp: new Date() } : {}),
    },
    spec: { containers: [{ name: "pause" }], nodeName: "n1" },
    status,
  };
}

const notReady = [
  { type: "Ready", status: "False" },
  { type: "ContainersReady", status: "False" },
];

Deno.test("anchor: started but not Ready (the workload-port probe fails) is usable", () => {
  const p = toAnchorPod(pod({
    phase: "Running",
    podIP: "10.1.0.5",
    conditions: notReady,
    containerStatuses: [{
      name: "pause",
      image: "pause",
      imageID: "",
      ready: false,
      started: true,
      restartCount: 0,
    }],
  }));
  assert.equal(p.ready, false);
  assert.equal(p.started, true);
  assert.equal(isUsable(p), true);
  assert.equal(describePod(p), "anchor-0 (Running, started, not Ready, 10.1.0.5, node n1)");
});

Deno.test("anchor: not started, terminating, or without an IP is not usable", () => {
  const container = (started: boolean | undefined) => ({
    name: "pause",
    image: "pause",
    imageID: "",
    ready: false,
    restartCount: 0,
    ...(started === undefined ? {} : { started }),
  });
  const cases: [string, V1Pod][] = [
    [
      "container not started",
      pod({
        phase: "Running",
        podIP: "10.1.0.5",
        conditions: notReady,
        containerStatuses: [container(false)],
      }),
    ],
    ["no container status yet", pod({ phase: "Running", podIP: "10.1.0.5", conditions: notReady })],
    [
      "started unknown",
      pod({
        phase: "Running",
        podIP: "10.1.0.5",
        conditions: notReady,
        containerStatuses: [container(undefined)],
      }),
    ],
    ["pending", pod({ phase: "Pending", podIP: "10.1.0.5", containerStatuses: [container(true)] })],
    [
      "no IP",
      pod({ phase: "Running", conditions: notReady, containerStatuses: [container(true)] }),
    ],
    [
      "terminating",
      pod({
        phase: "Running",
        podIP: "10.1.0.5",
        conditions: notReady,
        containerStatuses: [container(true)],
      }, true),
    ],
  ];
  for (const [name, v1] of cases) assert.equal(isUsable(toAnchorPod(v1)), false, name);
});
