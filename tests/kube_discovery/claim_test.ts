/**
 * `pick: claim` against a real kube-apiserver, one rule at a time: a claim is written with
 * the resourceVersion it was decided on, so a launcher working from an outdated view loses
 * (409) instead of overwriting the winner; renewing writes a fresh time; releasing removes
 * only a claim that is still ours.
 */
import assert from "node:assert/strict";
import type { V1Pod } from "@kubernetes/client-node";
import {
  Claim,
  CLAIM_HOLDER_ANNOTATION,
  CLAIM_RENEWED_ANNOTATION,
  clientKubeConfig,
  loadKubeConfig,
  toAnchorPod,
  tryClaim,
} from "../../src/kube/mod.ts";
import { type KubeCluster, startKubeCluster } from "../support/kube_cluster.ts";

const NAMESPACE = "claims";

async function snapshot(cluster: KubeCluster, name: string) {
  return toAnchorPod(await cluster.getPod(NAMESPACE, name) as unknown as V1Pod);
}

async function annotations(cluster: KubeCluster, name: string) {
  return (await cluster.getPod(NAMESPACE, name)).metadata.annotations ?? {};
}

Deno.test("claim: written with a precondition, renewed, released only while ours", async (t) => {
  await using cluster = await startKubeCluster();
  await cluster.createNamespace(NAMESPACE);
  const kube = await loadKubeConfig(cluster.adminKubeconfigPath);
  const config = await clientKubeConfig(kube);
  for (const name of ["race", "renew", "taken"]) {
    await cluster.createPod(NAMESPACE, { name, labels: { app: "claims" } });
  }

  await t.step("a claim decided on an outdated resourceVersion loses with 409", async () => {
    const seenByBoth = await snapshot(cluster, "race");
    const winner = await tryClaim(config, kube.server, seenByBoth, "launcher-a");
    assert.equal(winner?.annotations[CLAIM_HOLDER_ANNOTATION], "launcher-a");
    assert.notEqual(winner?.resourceVersion, seenByBoth.resourceVersion);
    const loser = await tryClaim(config, kube.server, seenByBoth, "launcher-b");
    assert.equal(loser, undefined, "the second launcher learns it lost");
    assert.equal((await annotations(cluster, "race"))[CLAIM_HOLDER_ANNOTATION], "launcher-a");
  });

  await t.step("renew writes a fresh time; release clears both annotations", async () => {
    const claimed = await tryClaim(config, kube.server, await snapshot(cluster, "renew"), "me");
    assert.ok(claimed);
    const claim = new Claim(config, kube.server, claimed, "me", 3_600_000);
    try {
      const first = Number((await annotations(cluster, "renew"))[CLAIM_RENEWED_ANNOTATION]);
      await new Promise((r) => setTimeout(r, 20));
      await claim.renew();
      const renewed = await annotations(cluster, "renew");
      assert.equal(renewed[CLAIM_HOLDER_ANNOTATION], "me");
      assert.ok(Number(renewed[CLAIM_RENEWED_ANNOTATION]) > first, "a later renewal time");
    } finally {
      await claim.release();
    }
    const released = await annotations(cluster, "renew");
    assert.equal(released[CLAIM_HOLDER_ANNOTATION], undefined);
    assert.equal(released[CLAIM_RENEWED_ANNOTATION], undefined);
    await claim.renew();
    assert.equal(
      (await annotations(cluster, "renew"))[CLAIM_RENEWED_ANNOTATION],
      undefined,
      "a released claim is not renewed again",
    );
  });

  await t.step("release leaves a claim alone that another launcher has taken over", async () => {
    const mine = await tryClaim(config, kube.server, await snapshot(cluster, "taken"), "old");
    assert.ok(mine);
    const claim = new Claim(config, kube.server, mine, "old", 3_600_000);
    // Another launcher takes the claim over (as after a missed renewal).
    const takeover = await tryClaim(config, kube.server, await snapshot(cluster, "taken"), "new");
    assert.equal(takeover?.annotations[CLAIM_HOLDER_ANNOTATION], "new");
    await claim.release();
    assert.equal((await annotations(cluster, "taken"))[CLAIM_HOLDER_ANNOTATION], "new");
  });
});
