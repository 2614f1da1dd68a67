/**
 * Choosing the anchor among a snapshot of matching pods (`pickAnchor`), independent of the
 * order the apiserver lists them in: first-ready takes the oldest Ready pod with an IP;
 * terminating pods and pods on other nodes never count; claim prefers the pod already held,
 * then offers free pods oldest first, and treats a claim as held only while it is fresh.
 */
import assert from "node:assert/strict";
import {
  CLAIM_HOLDER_ANNOTATION,
  CLAIM_RENEWED_ANNOTATION,
  type ClaimContext,
  pickAnchor,
  type PickSpec,
} from "../../src/kube/pick.ts";
import type { AnchorPod } from "../../src/kube/pods.ts";
import { fakePod } from "../support/fake_pods.ts";

const spec = (pick: PickSpec["pick"], extra: Partial<PickSpec> = {}): PickSpec => ({
  selector: "app=x",
  namespace: "default",
  pick,
  ...extra,
});

const pod = (name: string, createdAt: number, fields: Partial<AnchorPod> = {}) =>
  fakePod({ name, ip: `10.0.0.${createdAt}`, createdAt, ...fields });

function chosen(outcome: ReturnType<typeof pickAnchor>): string {
  assert.equal(outcome.kind, "chosen", JSON.stringify(outcome));
  return (outcome as { pod: AnchorPod }).pod.name;
}

Deno.test("pick first-ready: the oldest Ready pod with an IP, whatever the listing order", () => {
  const pods = [
    pod("a-young", 30),
    pod("b-unready-oldest", 10, { ready: false }),
    pod("c-terminating", 5, { deleting: true }),
    pod("d-no-ip", 15, { ips: [] }),
    pod("z-mid", 20),
  ];
  assert.equal(chosen(pickAnchor(pods, spec("first-ready"))), "z-mid");
  assert.equal(chosen(pickAnchor([...pods].reverse(), spec("first-ready"))), "z-mid");
  // Equal age: the name decides, so every launcher makes the same choice.
  const twins = [pod("twin-b", 7), pod("twin-a", 7)];
  assert.equal(chosen(pickAnchor(twins, spec("first-ready"))), "twin-a");
});

Deno.test("pick: terminating pods and pods on other nodes are not candidates", () => {
  const pods = [pod("here", 2, { node: "n1" }), pod("there", 1, { node: "n2" })];
  assert.equal(chosen(pickAnchor(pods, spec("exactly-one", { node: "n1" }))), "here");
  const replaced = [pod("old", 1, { deleting: true }), pod("new", 2)];
  assert.equal(chosen(pickAnchor(replaced, spec("exactly-one"))), "new");
  const outcome = pickAnchor([pod("only", 1, { deleting: true })], spec("first-ready"));
  assert.equal(outcome.kind, "wait");
});

Deno.test("pick claim: the pod already held first, then free pods oldest first; fresh claims of others are respected", () => {
  const now = 1_000_000;
  const context: ClaimContext = { holder: "me", ttlMs: 30_000, now };
  const claimed = (holder: string, renewedAgo: number) => ({
    annotations: {
      [CLAIM_HOLDER_ANNOTATION]: holder,
      [CLAIM_RENEWED_ANNOTATION]: String(now - renewedAgo),
    },
  });
  const pods = [
    pod("young-free", 40),
    pod("old-free", 10),
    pod("held-fresh", 5, claimed("other", 29_999)),
    pod("held-stale", 20, claimed("other", 30_000)),
  ];
  const offer = pickAnchor(pods, spec("claim"), context);
  assert.equal(offer.kind, "claim");
  assert.deepEqual(
    (offer as { candidates: readonly AnchorPod[] }).candidates.map((p) => p.name),
    ["old-free", "held-stale", "young-free"],
  );
  const mine = [...pods, pod("mine", 50, claimed("me", 60_000))];
  assert.equal(chosen(pickAnchor(mine, spec("claim"), context)), "mine");
  const allHeld = pickAnchor([pod("held", 1, claimed("other", 0))], spec("claim"), context);
  assert.equal(allHeld.kind, "wait");
  assert.match((allHeld as { reason: string }).reason, /claimed by other launchers/);
});
