/**
 * Choosing the anchor pod among the pods a selector matches. Pure functions: the watch
 * feeds them snapshots.
 *
 * @module
 */
import { describeNamespace } from "./pod_source.ts";
import {
  type AnchorPod,
  CLAIM_HOLDER_ANNOTATION,
  CLAIM_RENEWED_ANNOTATION,
  describePod,
  isUsable,
} from "./pods.ts";

export { CLAIM_HOLDER_ANNOTATION, CLAIM_RENEWED_ANNOTATION };

/**
 * What the anchor is and how to choose it.
 *
 * See the {@linkcode resolvePodAnchor} example.
 */
export interface PickSpec {
  /** Label selector. */
  readonly selector: string;
  /** Namespace of the anchor pods. */
  readonly namespace: string;
  /** Only pods on this node. */
  readonly node?: string;
  /** How to choose among matches. */
  readonly pick: "exactly-one" | "first-ready" | "claim";
}

/** Claim context for `pick: claim`. */
export interface ClaimContext {
  /** This launcher's identity. */
  readonly holder: string;
  /** A claim not renewed for this long may be taken over. */
  readonly ttlMs: number;
  readonly now: number;
}

/** Result of looking at one snapshot. */
export type PickOutcome =
  | { readonly kind: "chosen"; readonly pod: AnchorPod }
  | { readonly kind: "claim"; readonly candidates: readonly AnchorPod[] }
  | { readonly kind: "wait"; readonly reason: string }
  | { readonly kind: "error"; readonly message: string };

function byAge(a: AnchorPod, b: AnchorPod): number {
  return a.createdAt - b.createdAt || a.name.localeCompare(b.name);
}

/** Whether a pod's claim is held by someone else and still fresh. */
export function claimedByOther(pod: AnchorPod, claim: ClaimContext): boolean {
  const holder = pod.annotations[CLAIM_HOLDER_ANNOTATION];
  if (!holder || holder === claim.holder) return false;
  const renewed = Number(pod.annotations[CLAIM_RENEWED_ANNOTATION] ?? 0);
  return claim.now - renewed < claim.ttlMs;
}

/** Explains why no pod qualifies, listing what was seen. */
export function describeSnapshot(pods: readonly AnchorPod[], spec: PickSpec): string {
  const where = describeNamespace(spec.namespace);
  if (pods.length === 0) return `no pod matches ${spec.selector} in ${where}`;
  const elsewhere = spec.node ? pods.filter((p) => p.node !== spec.node) : [];
  const here = spec.node ? pods.filter((p) => p.node === spec.node) : pods;
  const parts: string[] = [];
  if (here.length > 0) {
    parts.push(
      `${here.length} pod${here.length === 1 ? "" : "s"} seen: ${
        here.slice(0, 5).map(describePod).join(", ")
      }`,
    );
  } else parts.push(`no pod on node ${spec.node}`);
  if (elsewhere.length > 0) {
    parts.push(
      `${elsewhere.length} on other nodes: ${elsewhere.slice(0, 5).map(describePod).join(", ")}`,
    );
  }
  return `${spec.selector} in ${where}: ${parts.join("; ")}`;
}

/** Decides, for one snapshot of matching pods, which anchor to use (or why to wait). */
export function pickAnchor(
  pods: readonly AnchorPod[],
  spec: PickSpec,
  claim?: ClaimContext,
): PickOutcome {
  const onNode = spec.node ? pods.filter((p) => p.node === spec.node) : [...pods];
  const live = onNode.filter((p) => !p.deleting).sort(byAge);
  switch (spec.pick) {
    case "exactly-one": {
      if (live.length > 1) {
        return {
          kind: "error",
          message: `${live.length} pods match ${spec.selector} in ${
            describeNamespace(spec.namespace)
          }${spec.node ? ` on node ${spec.node}` : ""} but pick is exactly-one: ${
            live.map(describePod).join(", ")
          } (narrow the selector, or use pick: first-ready or claim)`,
        };
      }
      if (live.length === 1 && isUsable(live[0])) return { kind: "chosen", pod: live[0] };
      return { kind: "wait", reason: describeSnapshot(pods, spec) };
    }
    case "first-ready": {
      const ready = live.find(isUsable);
      return ready
        ? { kind: "chosen", pod: ready }
        : { kind: "wait", reason: describeSnapshot(pods, spec) };
    }
    case "claim": {
      if (!claim) return { kind: "error", message: "pick: claim needs a claim context" };
      const usable = live.filter(isUsable);
      const mine = usable.find((p) => p.annotations[CLAIM_HOLDER_ANNOTATION] === claim.holder);
      if (mine) return { kind: "chosen", pod: mine };
      const free = usable.filter((p) => !claimedByOther(p, claim));
      if (free.length > 0) return { kind: "claim", candidates: free };
      const held = usable.length - free.length;
      return {
        kind: "wait",
        reason: held > 0
          ? `all ${held} Ready anchor${held === 1 ? " is" : "s are"} claimed by other launchers (${
            describeSnapshot(pods, spec)
          })`
          : describeSnapshot(pods, spec),
      };
    }
  }
}
