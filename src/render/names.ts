/**
 * Names and labels for generated objects: the labels an anchor pod must carry to match its
 * selector, DNS names derived from config names, annotation keys.
 *
 * @module
 */
import {
  formatRequirement,
  parseSelector,
  selectorMatches,
  type SelectorRequirement,
} from "../config/mod.ts";
import { RenderError } from "./types.ts";

/** A Kubernetes DNS-1123 label: namespaces, object names used as DNS labels. */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A DNS-1035 label (Service names): like DNS-1123, but starts with a letter. */
const DNS_1035 = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** Whether `text` is a DNS-1123 label (1-63 lowercase letters, digits and '-'). */
export function isDnsLabel(text: string): boolean {
  return DNS_LABEL.test(text);
}

/**
 * The DNS-1123 label for a config name (`Albums_A` → `albums-a`): lowercase, with `_` and
 * `.` turned into `-`.
 *
 * @throws {RenderError} when the result is still not a label (too long).
 */
export function dnsLabelFor(what: string, name: string): string {
  const label = name.toLowerCase().replace(/[_.]/g, "-");
  if (!DNS_LABEL.test(label)) {
    throw new RenderError(`${what} "${name}" gives no valid Kubernetes name ("${label}")`);
  }
  return label;
}

/**
 * The Service name for a workload: its DNS label, which must also start with a letter.
 *
 * @throws {RenderError} when the workload name cannot name a Service.
 */
export function serviceNameFor(workload: string): string {
  const label = dnsLabelFor("workload", workload);
  if (!DNS_1035.test(label)) {
    throw new RenderError(
      `workload "${workload}" cannot name its Service ("${label}": Service names start with a letter); rename the workload`,
    );
  }
  return label;
}

/** Whether `key` is a valid label or annotation key (`[prefix/]name`). */
export function isQualifiedName(key: string): boolean {
  const slash = key.indexOf("/");
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (slash !== -1) {
    const prefix = key.slice(0, slash);
    if (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) return false;
  }
  return QUALIFIED_NAME.test(name);
}

/**
 * Parses `KEY=VALUE` (the value may be empty and may contain `=`).
 *
 * @throws {RenderError} without `=` or with an invalid key.
 */
export function parseAnnotation(text: string): [string, string] {
  const eq = text.indexOf("=");
  if (eq === -1) {
    throw new RenderError(`anchor annotation "${text}" is not KEY=VALUE`);
  }
  const key = text.slice(0, eq);
  if (!isQualifiedName(key)) {
    throw new RenderError(
      `anchor annotation key "${key}" is not valid ([prefix/]name, name 1-63 letters, digits, '-', '_', '.')`,
    );
  }
  return [key, text.slice(eq + 1)];
}

/** The requirements of a selector that the config loader already validated. */
export function selectorRequirements(selector: string): SelectorRequirement[] {
  const parsed = parseSelector(selector);
  // The config schema rejects bad selectors, so this only guards direct library use.
  if (!parsed.ok) throw new RenderError(`bad selector "${selector}": ${parsed.message}`);
  return parsed.requirements;
}

/**
 * The labels a generated anchor pod carries so that `selector` matches it: one label per
 * `key=value` or single-valued `key in (value)` requirement. Negative requirements (`!=`,
 * `notin`, `!key`) hold because the pod does not carry the key.
 *
 * @param anchor anchor name, for messages
 * @returns labels sorted by key
 * @throws {RenderError} when the selector does not say which value a label has (`key`,
 *   `key in (a,b)`), has no positive requirement at all, or contradicts itself.
 */
export function anchorLabels(anchor: string, selector: string): Record<string, string> {
  const requirements = selectorRequirements(selector);
  const labels: Record<string, string> = {};
  const fail = (message: string): never => {
    throw new RenderError(`anchor ${anchor}: selector "${selector}": ${message}`);
  };
  for (const r of requirements) {
    if (r.operator === "=" || (r.operator === "in" && r.values.length === 1)) {
      const value = r.values[0];
      if (Object.hasOwn(labels, r.key) && labels[r.key] !== value) {
        fail(`asks for ${r.key}=${labels[r.key]} and ${r.key}=${value}; no pod has both`);
      }
      labels[r.key] = value;
    } else if (r.operator === "in") {
      fail(
        `"${
          formatRequirement(r)
        }" does not say which value the generated anchor pods should carry; use ${r.key}=${
          r.values[0]
        }`,
      );
    } else if (r.operator === "exists") {
      fail(
        `"${r.key}" (label exists) gives no value for the generated anchor pods; use ${r.key}=<value>`,
      );
    } else if (r.operator === ">" || r.operator === "<") {
      fail(
        `"${
          formatRequirement(r)
        }" (a numeric comparison) gives no value for the generated anchor pods; use ${r.key}=<number>`,
      );
    }
  }
  if (Object.keys(labels).length === 0) {
    fail(
      "has no key=value requirement, so generated anchor pods cannot be told apart from any other pod; add one (e.g. app=<name>)",
    );
  }
  if (!selectorMatches(requirements, labels)) {
    const broken = requirements.find((r) => !selectorMatches([r], labels))!;
    fail(`contradicts itself: "${formatRequirement(broken)}" excludes the labels it asks for`);
  }
  return sortedRecord(labels);
}

/** A copy of `record` with keys in code-point order (stable output). */
export function sortedRecord<T>(record: Readonly<Record<string, T>>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const key of Object.keys(record).sort(compareStrings)) out[key] = record[key];
  return out;
}

/** Code-point order, independent of locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
