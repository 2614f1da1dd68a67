/**
 * compartments.yaml: schema, loading and errors.
 *
 * @module
 */
export { formatDuration, parseDuration } from "./duration.ts";
export { ConfigError, type ConfigIssue, formatIssue } from "./errors.ts";
export { interpolate } from "./interpolate.ts";
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
  type Anchor,
  API_VERSION,
  type Config,
  configJsonSchema,
  configSchema,
  PICK_MODES,
  type Probe,
  type Workload,
} from "./schema.ts";
export {
  formatRequirement,
  parseSelector,
  selectorMatches,
  type SelectorRequirement,
} from "./selector.ts";
