/**
 * `render`: from a compartments.yaml to the Kubernetes objects that run it (RBAC,
 * ConfigMap, anchor Deployments, the launcher Deployment, Services). Pure generation: no
 * FFI, no network, no files.
 *
 * @module
 */
export {
  containsPlaceholder,
  parseConfigForRender,
  placeholderFor,
  type RenderConfig,
} from "./config.ts";
export { buildManifests, render } from "./manifests.ts";
export {
  anchorDeployment,
  clusterRoleName,
  configMapName,
  configMapObject,
  launcherDeployment,
  podSpecBase,
  rbacObjects,
  serviceObject,
} from "./objects.ts";
export {
  type AnchorPlan,
  inferPlatform,
  planRender,
  type PodAccess,
  type RenderPlan,
  type SelectorAnchor,
  type ServicePlan,
} from "./plan.ts";
export {
  anchorLabels,
  dnsLabelFor,
  isDnsLabel,
  isQualifiedName,
  parseAnnotation,
  serviceNameFor,
} from "./names.ts";
export { type HeaderInfo, objectToYaml, toKustomizeFiles, toYamlStream } from "./output.ts";
export {
  ALL_NAMESPACES,
  ANCHOR_LABEL,
  CONFIG_DIGEST_ANNOTATION,
  CONFIG_KEY,
  CONFIG_MOUNT_PATH,
  DEFAULT_IMAGE,
  DEFAULT_LAUNCHER_PATH,
  DEFAULT_NAME,
  DEFAULT_PAUSE_IMAGE,
  INSTANCE_LABEL,
  type KubeObject,
  POD_VARIABLES,
  RenderError,
  type RenderFile,
  type RenderOptions,
  type RenderPlatform,
  type RenderResult,
  WINDOWS_TOLERATION,
} from "./types.ts";
