/**
 * `pick: claim`: N launchers and N anchors pair 1:1 without a coordinator. A claim is a pair
 * of annotations written with a resourceVersion precondition, so two launchers racing for
 * the same pod cannot both win; the loser gets 409 Conflict and tries the next pod.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { loadClientNode } from "./client_node.ts";
import { classifyApiError, type KubeError } from "./errors.ts";
import { CLAIM_HOLDER_ANNOTATION, CLAIM_RENEWED_ANNOTATION } from "./pick.ts";
import { type AnchorPod, toAnchorPod } from "./pods.ts";

const log = getLogger(["cplauncher", "kube", "claim"]);

/** Default time after which an unrenewed claim may be taken over. */
export const DEFAULT_CLAIM_TTL_MS = 30_000;

/** A launcher identity for claims: pod name when known, else host and pid. */
export function defaultHolder(): string {
  const pod = Deno.env.get("POD_NAME");
  const base = pod ?? `${Deno.hostname()}-${Deno.pid}`;
  return `${base}-${crypto.randomUUID().slice(0, 8)}`;
}

async function patchPod(
  api: CoreV1Api,
  namespace: string,
  name: string,
  body: unknown,
): Promise<AnchorPod> {
  const { setHeaderOptions, PatchStrategy } = await loadClientNode();
  const pod = await api.patchNamespacedPod(
    { name, namespace, body },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  return toAnchorPod(pod);
}

/**
 * Tries to claim `pod` for `holder`. The patch carries the resourceVersion the decision was
 * based on, so it fails with 409 if anyone changed the pod in between.
 *
 * @returns the claimed pod, or `undefined` when another launcher won the race.
 */
export async function tryClaim(
  kubeConfig: KubeConfig,
  server: string,
  pod: AnchorPod,
  holder: string,
): Promise<AnchorPod | undefined> {
  const { CoreV1Api } = await loadClientNode();
  const api = kubeConfig.makeApiClient(CoreV1Api);
  try {
    const claimed = await patchPod(api, pod.namespace, pod.name, {
      metadata: {
        resourceVersion: pod.resourceVersion,
        annotations: {
          [CLAIM_HOLDER_ANNOTATION]: holder,
          [CLAIM_RENEWED_ANNOTATION]: String(Date.now()),
        },
      },
    });
    log.info("claimed anchor pod {pod} as {holder}", { pod: pod.name, holder });
    return claimed;
  } catch (error) {
    if ((error as { code?: number }).code === 409) {
      log.debug("lost the claim race for {pod}", { pod: pod.name });
      return undefined;
    }
    throw classifyApiError(
      error,
      { verb: "patch", resource: "pods", namespace: pod.namespace },
      server,
    );
  }
}

/**
 * A held claim: renews itself until released.
 *
 * Returned as {@linkcode ResolvedPod.claim} for `pick: claim`; see the
 * {@linkcode resolvePodAnchor} example, which releases it.
 */
export class Claim {
  readonly #kubeConfig: KubeConfig;
  readonly #server: string;
  readonly #holder: string;
  readonly #timer: number;
  #pod: AnchorPod;
  #released = false;

  /** Starts renewing `pod`'s claim every `ttlMs / 3`. */
  constructor(
    kubeConfig: KubeConfig,
    server: string,
    pod: AnchorPod,
    holder: string,
    ttlMs: number,
  ) {
    this.#kubeConfig = kubeConfig;
    this.#server = server;
    this.#pod = pod;
    this.#holder = holder;
    this.#timer = setInterval(() => {
      this.renew().catch((error: KubeError) =>
        log.warn("could not renew the claim on {pod}: {message}", {
          pod: pod.name,
          message: error.message,
        })
      );
    }, Math.max(100, Math.floor(ttlMs / 3))) as unknown as number;
    Deno.unrefTimer(this.#timer);
  }

  /** The claimed pod's name. */
  get podName(): string {
    return this.#pod.name;
  }

  /** Writes a fresh renewal time. */
  async renew(): Promise<void> {
    if (this.#released) return;
    const { CoreV1Api } = await loadClientNode();
    const api = this.#kubeConfig.makeApiClient(CoreV1Api);
    try {
      this.#pod = await patchPod(api, this.#pod.namespace, this.#pod.name, {
        metadata: { annotations: { [CLAIM_RENEWED_ANNOTATION]: String(Date.now()) } },
      });
    } catch (error) {
      throw classifyApiError(error, {
        verb: "patch",
        resource: "pods",
        namespace: this.#pod.namespace,
      }, this.#server);
    }
  }

  /** Stops renewing and removes the claim if it is still ours. Never throws. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    try {
      const { CoreV1Api } = await loadClientNode();
      const api = this.#kubeConfig.makeApiClient(CoreV1Api);
      const current = toAnchorPod(
        await api.readNamespacedPod({ name: this.#pod.name, namespace: this.#pod.namespace }),
      );
      if (current.annotations[CLAIM_HOLDER_ANNOTATION] !== this.#holder) return;
      await patchPod(api, current.namespace, current.name, {
        metadata: {
          resourceVersion: current.resourceVersion,
          annotations: { [CLAIM_HOLDER_ANNOTATION]: null, [CLAIM_RENEWED_ANNOTATION]: null },
        },
      });
      log.info("released the claim on {pod}", { pod: current.name });
    } catch (error) {
      log.warn("could not release the claim on {pod}: {message}", {
        pod: this.#pod.name,
        message: error instanceof Error ? error.message.split("\n")[0] : String(error),
      });
    }
  }
}
