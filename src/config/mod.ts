/**
 * compartments.yaml: schema, loading and errors.
 *
 * @module
 */
export { formatDuration, parseDuration } from "./duration.ts";
export { ConfigError, type ConfigIssue, formatIssue } from "./errors.ts";
export { interpolate } from "./interpolate.ts";
export {
  formatLock,
  LOCK_VERSION,
  type LockEntry,
  lockName,
  lockPathFor,
  parseLock,
  type ProgramLock,
  readLock,
  writeLock,
} from "./lock.ts";
export {
  type EnvLookup,
  loadConfig,
  type LoadOptions,
  MAX_CONFIG_BYTES,
  parseConfig,
  type ParseResult,
  readConfigText,
} from "./load.ts";
export {
  ALL_NAMESPACES,
  API_VERSION,
  configJsonSchema,
  configSchema,
  PICK_MODES,
  SHA256_AUTO,
} from "./schema.ts";
export type {
  Anchor,
  BackoffSettings,
  CompartmentAnchor,
  Config,
  HealthSettings,
  HttpCheck,
  KubernetesSettings,
  LogSettings,
  NetnsAnchor,
  PickMode,
  Probe,
  RestartPolicy,
  RestartSettings,
  SelectorAnchor,
  TcpCheck,
  WindowsSettings,
  WindowsStrategy,
  Workload,
  WorkloadProbes,
} from "./types.ts";
export {
  formatRequirement,
  parseSelector,
  selectorMatches,
  type SelectorRequirement,
} from "./selector.ts";
