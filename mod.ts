/**
 * cplauncher: start unmodified native processes inside a Kubernetes anchor pod's network
 * compartment (Windows) or network namespace (Linux).
 *
 * The data flows one way: a config ({@linkcode loadConfig}) names anchors and workloads;
 * Kubernetes anchors resolve to a pod ({@linkcode resolvePodAnchor}); the platform backend
 * ({@linkcode createPlatform}) maps the pod IP to its isolation domain and launches
 * processes there; the {@linkcode Supervisor} keeps them running.
 *
 * @example Resolve and run everything in a config
 * ```ts
 * import { createPlatform, loadConfig, setupLogging, Supervisor } from "./mod.ts";
 *
 * await setupLogging({ level: "info" });
 * const config = await loadConfig("compartments.yaml");
 * const supervisor = new Supervisor({ config, platform: await createPlatform() });
 * supervisor.on("started", (e) => console.log(`${e.workload} pid ${e.pid}`));
 * const result = await supervisor.start();
 * Deno.exit(result.workloads.some((w) => w.failedStage) ? 1 : 0);
 * ```
 *
 * @module
 */
export {
  type Anchor,
  API_VERSION,
  type BackoffSettings,
  type CompartmentAnchor,
  type Config,
  ConfigError,
  type ConfigIssue,
  configJsonSchema,
  type EnvLookup,
  formatIssue,
  type HealthSettings,
  type HttpCheck,
  type KubernetesSettings,
  loadConfig,
  type LoadOptions,
  type LockEntry,
  lockPathFor,
  type LogSettings,
  type NetnsAnchor,
  parseConfig,
  type ParseResult,
  PICK_MODES,
  type PickMode,
  type Probe,
  type ProgramLock,
  readLock,
  type RestartPolicy,
  type RestartSettings,
  type SelectorAnchor,
  SHA256_AUTO,
  type TcpCheck,
  type WindowsSettings,
  type WindowsStrategy,
  type Workload,
  type WorkloadProbes,
} from "./src/config/mod.ts";
export {
  type AnchorPod,
  Claim,
  describeSource,
  findKubeconfig,
  type KubeconfigEnvironment,
  type KubeConfigHandle,
  type KubeconfigSource,
  KubeError,
  type KubeFailure,
  type LoadedKubeConfig,
  loadKubeConfig,
  type PickSpec,
  type PodEvent,
  type PodList,
  type PodListerWatcher,
  type PodQuery,
  type PodSubscriber,
  PodWatchHub,
  type PodWatchHubOptions,
  type PodWatchRequest,
  type ResolvedPod,
  resolvePodAnchor,
  type ResolvePodOptions,
  type SubscribeOptions,
  type WatchEnd,
} from "./src/kube/mod.ts";
export {
  createPlatform,
  isPlatformError,
  PlatformError,
  type PlatformErrorKind,
  SystemCallError,
  type SystemCallErrorKind,
} from "./src/platform/mod.ts";
export type {
  CompartmentDomain,
  ExitStatus,
  IsolationDomain,
  LaunchedProcess,
  LaunchSpec,
  NetnsDomain,
  PlatformBackend,
  ProgramOwner,
  ProgramSpec,
  ResolvedProgram,
  ResolveOptions,
} from "./src/platform/types.ts";
export {
  type AnchorContext,
  AnchorError,
  type FailedStage,
  type HealthServer,
  type OutputLine,
  type OutputSink,
  type OutputWriter,
  resolveAnchor,
  type ResolvedAnchor,
  serveHealth,
  Supervisor,
  type SupervisorEvents,
  type SupervisorListener,
  type SupervisorOptions,
  type SupervisorResult,
  type WorkloadStatus,
} from "./src/supervisor/mod.ts";
export {
  LOG_LEVELS,
  type LogFormat,
  type LoggingOptions,
  type LogLevelName,
  setupLogging,
  teardownLogging,
} from "./src/log/mod.ts";
export { VERSION } from "./src/version.ts";
