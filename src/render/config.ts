/**
 * Reading a config for `render`. The ConfigMap carries the text as written, so `${VAR}`
 * references are expanded later by the launcher, in its pod. To validate the text now, the
 * variables the generated pod sets itself (NODE_NAME, POD_NAME) get placeholders that
 * {@linkcode containsPlaceholder} recognises wherever render would otherwise bake a value
 * it cannot know into an object.
 *
 * @module
 */
import { type Config, ConfigError, parseConfig } from "../config/mod.ts";
import { compareStrings } from "./names.ts";
import { POD_VARIABLES } from "./types.ts";

const PLACEHOLDER_PREFIX = "cplauncher-render-pod-var-";

/** A parsed config and the variables its text refers to. */
export interface RenderConfig {
  /** The validated config, with placeholders for pod variables. */
  readonly config: Config;
  /** Pod variables referenced (set by the generated pod), sorted. */
  readonly podVariables: readonly string[];
  /**
   * Other variables referenced, sorted. The launcher pod does not set them: each either has
   * a `:-default` or must exist in the launcher's environment some other way.
   */
  readonly otherVariables: readonly string[];
}

/** The placeholder standing for pod variable `name` during render. */
export function placeholderFor(name: string): string {
  return `${PLACEHOLDER_PREFIX}${name.toLowerCase().replaceAll("_", "-")}`;
}

/** Whether `text` contains a pod-variable placeholder (a value render cannot know). */
export function containsPlaceholder(text: string): boolean {
  return text.includes(PLACEHOLDER_PREFIX);
}

/**
 * Parses config text for rendering.
 *
 * @param env lookup for variables other than the pod's own
 * @throws {ConfigError} with every problem found, positioned in the file.
 */
export function parseConfigForRender(
  text: string,
  file: string,
  env: (name: string) => string | undefined,
): RenderConfig {
  const pod = new Set<string>();
  const other = new Set<string>();
  const lookup = (name: string): string | undefined => {
    if (Object.hasOwn(POD_VARIABLES, name)) {
      pod.add(name);
      return placeholderFor(name);
    }
    other.add(name);
    return env(name);
  };
  const result = parseConfig(text, file, { env: lookup });
  if (!result.ok) throw new ConfigError(result.issues);
  return {
    config: result.config,
    podVariables: [...pod].sort(compareStrings),
    otherVariables: [...other].sort(compareStrings),
  };
}
