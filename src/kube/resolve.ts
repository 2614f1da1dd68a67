/**
 * Resolving a selector anchor to one pod: watch (not poll) until the pick rule yields a
 * Ready pod with an IP, or the anchor's timeout passes.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { Claim, DEFAULT_CLAIM_TTL_MS, defaultHolder, tryClaim } from "./claim.ts";
import { KubeError } from "./errors.ts";
import { clientKubeConfig, type LoadedKubeConfig } from "./kubeconfig.ts";
import { pickAnchor, type PickSpec } from "./pick.ts";
import type { PodWatchHub } from "./pod_hub.ts";
import { clientNodePodSource, nodeFieldSelector, type PodListerWatcher } from "./pod_source.ts";
import { PodSetWatch } from "./pod_watch.ts";
import type { AnchorPod } from "./pods.ts";

const log = getLogger(["cplauncher", "kube"]);

/** How long a timed-out node-bound anchor waits for the list that explains the timeout. */
const OTHER_NODES_LIST_MS = 1000;

/**
 * The pod an anchor resolved to.
 *
 * See the {@linkcode resolvePodAnchor} example.
 */
export interface ResolvedPod {
  /** Anchor name from the config. */
  readonly anchor: string;
  /** Pod name. */
  readonly pod: string;
  /** Pod namespace. */
  readonly namespace: string;
  /** Pod uid; a replaced pod has a new one. */
  readonly uid: string;
  /** Node the pod runs on. */
  readonly node?: string;
  /** All pod IPs, primary first. */
  readonly ips: readonly string[];
  /** The primary pod IP. */
  readonly ip: string;
  /** Milliseconds from the start of resolution to the answer. */
  readonly elapsedMs: number;
  /** For `pick: claim`: the held claim (release it on clean exit). */
  readonly claim?: Claim;
}

/** Options of {@linkcode resolvePodAnchor}. */
export interface ResolvePodOptions {
  /** Gives up when this aborts (in addition to the timeout). */
  readonly signal?: AbortSignal;
  /** Claim identity for `pick: claim` (default: pod name or host-pid plus a random tag). */
  readonly holder?: string;
  /** Claim time-to-live (default 30 s). */
  readonly claimTtlMs?: number;
  /**
   * Share the namespace's pod watch with other anchors (the supervisor passes one hub for
   * all its anchors); without it, resolution runs its own selector watch.
   */
  readonly hub?: PodWatchHub;
  /** Where pods are listed and watched without a hub (default: the apiserver of `kube`). */
  readonly source?: PodListerWatcher;
  /** Pause between reconnection attempts is capped at this. */
  readonly maxBackoffMs?: number;
  /**
   * Called once, when the pods seen so far do not answer yet (none matches, none is ready):
   * the time until one does is idle, and the caller may prepare what comes next.
   */
  readonly onWaiting?: (reason: string) => void;
}

/**
 * Waits for the pod that `spec` designates.
 *
 * @throws {KubeError} on timeout (saying what was seen), ambiguity, refusal (401/403), TLS
 *   or connection failures that persist until the timeout.
 *
 * @example Wait for the pod of a selector and claim it
 * ```ts
 * import { loadKubeConfig, resolvePodAnchor } from "@cplauncher/cplauncher";
 *
 * const kube = await loadKubeConfig("auto");
 * const pod = await resolvePodAnchor(kube, "web", {
 *   selector: "app=web",
 *   namespace: "shop",
 *   node: "node-1",
 *   pick: "claim",
 *   timeoutMs: 60_000,
 * });
 * console.log(`${pod.namespace}/${pod.pod} at ${pod.ip} after ${pod.elapsedMs} ms`);
 * // ... start something in the pod's network ...
 * await pod.claim?.release(); // another launcher may take the pod now
 * ```
 *
 * To go on to the pod's isolation domain, see {@linkcode resolveAnchor} and
 * examples/scripts/resolve_anchor.ts.
 */
export async function resolvePodAnchor(
  kube: LoadedKubeConfig,
  anchorName: string,
  spec: PickSpec & { readonly timeoutMs: number },
  options: ResolvePodOptions = {},
): Promise<ResolvedPod> {
  const started = performance.now();
  const holder = options.holder ?? defaultHolder();
  const ttlMs = options.claimTtlMs ?? DEFAULT_CLAIM_TTL_MS;
  let lastReason = `no answer yet from ${kube.server}`;
  let lastTransient: string | undefined;
  type Outcome = { pod?: AnchorPod; claim?: Claim; error?: KubeError };
  let settled = false;
  let resolveOutcome!: (outcome: Outcome) => void;
  const outcome = new Promise<Outcome>((resolve) => resolveOutcome = resolve);
  const settle = (result: Outcome) => {
    if (settled) return;
    settled = true;
    resolveOutcome(result);
  };
  let claiming = false;
  let pending: readonly AnchorPod[] | undefined;
  let waitingReported = false;

  const evaluate = async (pods: readonly AnchorPod[]): Promise<void> => {
    const result = pickAnchor(pods, spec, { holder, ttlMs, now: Date.now() });
    if (result.kind === "chosen") {
      settle({
        pod: result.pod,
        ...(spec.pick === "claim"
          ? {
            claim: new Claim(await clientKubeConfig(kube), kube.server, result.pod, holder, ttlMs),
          }
          : {}),
      });
    } else if (result.kind === "error") {
      settle({ error: new KubeError("ambiguous", result.message) });
    } else if (result.kind === "wait") {
      if (result.reason !== lastReason) {
        log.debug("anchor {anchor}: waiting: {reason}", {
          anchor: anchorName,
          reason: result.reason,
        });
      }
      lastReason = result.reason;
      if (!waitingReported) {
        waitingReported = true;
        options.onWaiting?.(result.reason);
      }
    } else {
      for (const candidate of result.candidates) {
        if (settled) return;
        const kubeConfig = await clientKubeConfig(kube);
        const claimed = await tryClaim(kubeConfig, kube.server, candidate, holder);
        if (!claimed) continue;
        const claim = new Claim(kubeConfig, kube.server, claimed, holder, ttlMs);
        // A race won after the outcome was decided (timeout, cancel): give the anchor back
        // instead of blocking it until the claim expires.
        if (settled) await claim.release();
        else settle({ pod: claimed, claim });
        return;
      }
      lastReason = "lost every claim race; waiting for the next change";
    }
  };

  // Claims are network writes: run one at a time, always on the newest snapshot.
  const onChange = (pods: readonly AnchorPod[]) => {
    pending = pods;
    if (claiming) return;
    claiming = true;
    (async () => {
      while (pending && !settled) {
        const snapshot = pending;
        pending = undefined;
        try {
          await evaluate(snapshot);
        } catch (error) {
          settle({
            error: error instanceof KubeError ? error : new KubeError("api", String(error)),
          });
        }
      }
      claiming = false;
    })();
  };

  let listed = false;
  const handlers = {
    onChange: (pods: readonly AnchorPod[]) => {
      listed = true;
      onChange(pods);
    },
    onFatal: (error: KubeError) => settle({ error }),
    onRetry: (error: KubeError) => lastTransient = error.message,
  };
  let stopWatching: () => Promise<void>;
  let source: PodListerWatcher;
  if (options.hub) {
    source = options.hub.source;
    stopWatching = options.hub.subscribe(
      spec.namespace,
      spec.selector,
      handlers,
      spec.node ? { node: spec.node } : {},
    );
  } else {
    source = options.source ?? clientNodePodSource(kube);
    const watch = new PodSetWatch({
      source,
      namespace: spec.namespace,
      labelSelector: spec.selector,
      ...(spec.node ? { fieldSelector: nodeFieldSelector(spec.node) } : {}),
      ...handlers,
      ...(options.maxBackoffMs !== undefined ? { maxBackoffMs: options.maxBackoffMs } : {}),
    });
    watch.start();
    stopWatching = () => watch.stop();
  }
  const timer = setTimeout(async () => {
    const seconds = (spec.timeoutMs / 1000).toFixed(spec.timeoutMs % 1000 ? 1 : 0);
    let reason = !listed && lastTransient ? lastTransient : lastReason;
    if (listed && spec.node && !settled) {
      reason = await describeOtherNodes(source, spec, holder, ttlMs) ?? reason;
    }
    settle({
      error: new KubeError(
        "timeout",
        `anchor ${anchorName}: no usable pod after ${seconds}s: ${reason}`,
      ),
    });
  }, spec.timeoutMs);
  const onAbort = () =>
    settle({ error: new KubeError("timeout", `anchor ${anchorName}: resolution cancelled`) });
  options.signal?.addEventListener("abort", onAbort, { once: true });

  try {
    const result = await outcome;
    if (result.error) throw result.error;
    const pod = result.pod!;
    const resolved: ResolvedPod = {
      anchor: anchorName,
      pod: pod.name,
      namespace: pod.namespace,
      uid: pod.uid,
      ...(pod.node ? { node: pod.node } : {}),
      ips: pod.ips,
      ip: pod.ips[0],
      elapsedMs: performance.now() - started,
      ...(result.claim ? { claim: result.claim } : {}),
    };
    log.info(
      "anchor {anchor} resolved to pod {namespace}/{pod} (uid {uid}, IP {ip}{node}) in {ms} ms",
      {
        anchor: anchorName,
        namespace: resolved.namespace,
        pod: resolved.pod,
        uid: resolved.uid,
        ip: resolved.ip,
        node: resolved.node ? `, node ${resolved.node}` : "",
        ms: Math.round(resolved.elapsedMs),
      },
    );
    return resolved;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
    if (options.hub) {
      // The hub ends a shared watch's request a turn later, after the caller (a launch, which
      // waits on no timer) has used the answer; its close() waits for that.
      stopWatching().catch(() => {});
    } else {
      // An own watch is stopped before returning, so nothing of this call outlives it.
      await stopWatching();
    }
  }
}

/**
 * The watch of a node-bound anchor only hears about pods of that node. When it times out,
 * one list of the selector on every node says whether the anchor runs elsewhere, which is
 * the usual mistake (a wrong node name).
 *
 * @returns the reason to report, or `undefined` when the list fails or finds a usable pod.
 */
async function describeOtherNodes(
  source: PodListerWatcher,
  spec: PickSpec,
  holder: string,
  ttlMs: number,
): Promise<string | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    // Bounded: the timeout is already due, and this only improves its message.
    const answer = await Promise.race([
      source.list({ namespace: spec.namespace, labelSelector: spec.selector }),
      new Promise<undefined>((resolve) =>
        timer = setTimeout(() => resolve(undefined), OTHER_NODES_LIST_MS)
      ),
    ]);
    if (!answer) return undefined;
    const outcome = pickAnchor(answer.pods, spec, { holder, ttlMs, now: Date.now() });
    return outcome.kind === "wait" ? outcome.reason : undefined;
  } catch (error) {
    log.debug("listing {selector} on every node failed: {message}", {
      selector: spec.selector,
      message: error instanceof Error ? error.message : String(error),
    });
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
