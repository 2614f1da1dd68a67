/**
 * The parts of a Pod that anchor resolution looks at. Pods are reduced to these as they
 * arrive from the apiserver, so no list or watch holds on to whole pod objects (with their
 * spec, managed fields and last-applied annotations) for longer than one conversion.
 *
 * @module
 */
import type { V1Pod } from "@kubernetes/client-node";

/** Annotation naming the launcher that holds a claimed anchor. */
export const CLAIM_HOLDER_ANNOTATION = "cplauncher.dev/claimed-by";
/** Annotation with the time (ms since epoch) the claim was last renewed. */
export const CLAIM_RENEWED_ANNOTATION = "cplauncher.dev/claim-renewed";

/** The only annotations resolution reads (`pick: claim`); others are not kept. */
const KEPT_ANNOTATIONS = [CLAIM_HOLDER_ANNOTATION, CLAIM_RENEWED_ANNOTATION] as const;

/**
 * A pod as anchor resolution sees it.
 *
 * See the {@linkcode PodWatchHub} example.
 */
export interface AnchorPod {
  /** Pod name. */
  readonly name: string;
  /** Pod namespace. */
  readonly namespace: string;
  /** Pod uid (a replacement pod has a new one). */
  readonly uid: string;
  /** resourceVersion of the object this view was made from. */
  readonly resourceVersion: string;
  /** `spec.nodeName`. */
  readonly node?: string;
  /** `status.phase`. */
  readonly phase?: string;
  /** Running with condition Ready=True. */
  readonly ready: boolean;
  /**
   * Running, and every container reports `started`: the sandbox and its network exist. An
   * anchor whose readinessProbe checks the workload's port is in this state until the
   * launcher has started the workload in it, so this, not Ready, makes it usable. Absent:
   * not known (taken as not started).
   */
  readonly started?: boolean;
  /** Has a deletionTimestamp (terminating). */
  readonly deleting: boolean;
  /** Pod IPs, primary first. */
  readonly ips: readonly string[];
  /** creationTimestamp in ms since the epoch (0 if absent). */
  readonly createdAt: number;
  /** The pod's claim annotations ({@linkcode CLAIM_HOLDER_ANNOTATION} and the renewal time). */
  readonly annotations: Readonly<Record<string, string>>;
  /** Pod labels (a watch shared by several selectors matches them on the client). */
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Reduces a V1Pod to the fields resolution needs. The result shares no object with `pod`,
 * so keeping it does not keep the pod alive.
 */
export function toAnchorPod(pod: V1Pod): AnchorPod {
  const status = pod.status ?? {};
  const ips = (status.podIPs ?? []).map((p) => p.ip).filter((ip): ip is string => !!ip);
  if (ips.length === 0 && status.podIP) ips.push(status.podIP);
  const created = pod.metadata?.creationTimestamp;
  return {
    name: pod.metadata?.name ?? "",
    namespace: pod.metadata?.namespace ?? "",
    uid: pod.metadata?.uid ?? "",
    resourceVersion: pod.metadata?.resourceVersion ?? "",
    ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
    ...(status.phase ? { phase: status.phase } : {}),
    ready: status.phase === "Running" &&
      (status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
    started: status.phase === "Running" && (status.containerStatuses ?? []).length > 0 &&
      (status.containerStatuses ?? []).every((c) => c.started === true),
    deleting: !!pod.metadata?.deletionTimestamp,
    ips,
    createdAt: created ? new Date(created).getTime() : 0,
    annotations: claimAnnotations(pod.metadata?.annotations),
    labels: { ...pod.metadata?.labels },
  };
}

function claimAnnotations(all: Record<string, string> | undefined): Record<string, string> {
  const kept: Record<string, string> = {};
  if (!all) return kept;
  for (const key of KEPT_ANNOTATIONS) if (Object.hasOwn(all, key)) kept[key] = all[key];
  return kept;
}

/** Whether a pod can serve as an anchor now: Ready, or started (see `AnchorPod.started`). */
export function isUsable(pod: AnchorPod): boolean {
  return (pod.ready || pod.started === true) && !pod.deleting && pod.ips.length > 0;
}

/** Short state description: `albums-0 (Ready, 10.1.0.5, node n1)`. */
export function describePod(pod: AnchorPod): string {
  const state = pod.deleting
    ? "terminating"
    : pod.ready
    ? "Ready"
    : pod.started
    ? "Running, started, not Ready"
    : pod.phase === "Running"
    ? "Running, not Ready"
    : pod.phase ?? "Pending";
  const ip = pod.ips[0] ?? "no IP";
  return `${pod.name} (${state}, ${ip}${pod.node ? `, node ${pod.node}` : ""})`;
}
