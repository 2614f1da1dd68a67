/**
 * Kubernetes anchor discovery.
 *
 * @module
 */
export { Claim, DEFAULT_CLAIM_TTL_MS, defaultHolder, tryClaim } from "./claim.ts";
export { type ApiOperation, KubeError, type KubeFailure } from "./errors.ts";
export {
  clientKubeConfig,
  describeSource,
  findKubeconfig,
  type KubeconfigEnvironment,
  type KubeConfigHandle,
  type KubeconfigSource,
  type LoadedKubeConfig,
  loadKubeConfig,
} from "./kubeconfig.ts";
export {
  CLAIM_HOLDER_ANNOTATION,
  CLAIM_RENEWED_ANNOTATION,
  pickAnchor,
  type PickOutcome,
  type PickSpec,
} from "./pick.ts";
export {
  DEFAULT_SELECTOR_WATCHES,
  type PodSubscriber,
  PodWatchHub,
  type PodWatchHubOptions,
  type SubscribeOptions,
} from "./pod_hub.ts";
export {
  ALL_NAMESPACES,
  clientNodePodSource,
  describeNamespace,
  nodeFieldSelector,
  type PodEvent,
  type PodList,
  type PodListerWatcher,
  type PodQuery,
  type PodWatchRequest,
  type WatchEnd,
} from "./pod_source.ts";
export { PodSetWatch, type PodSetWatchOptions, type PodSetWatchStats } from "./pod_watch.ts";
export { type AnchorPod, describePod, isUsable, toAnchorPod } from "./pods.ts";
export { type ResolvedPod, resolvePodAnchor, type ResolvePodOptions } from "./resolve.ts";
