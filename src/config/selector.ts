/**
 * Kubernetes label selector syntax (`app=x`, `tier!=db`, `env in (a,b)`, `!canary`),
 * checked the way the apiserver checks it so typos are caught before anything is contacted.
 *
 * @module
 */

/** One requirement of a label selector. */
export interface SelectorRequirement {
  /** Label key, with optional DNS prefix (`example.com/name`). */
  readonly key: string;
  /** Comparison. */
  readonly operator: "=" | "!=" | "in" | "notin" | "exists" | "!exists";
  /** Values compared against (empty for exists / !exists). */
  readonly values: readonly string[];
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

function checkKey(key: string): string | undefined {
  const slash = key.indexOf("/");
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (slash !== -1) {
    const prefix = key.slice(0, slash);
    if (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) {
      return `label key prefix ${JSON.stringify(prefix)} is not a DNS subdomain`;
    }
  }
  if (!NAME.test(name)) {
    return `label key ${
      JSON.stringify(key)
    } is not valid (1-63 characters: letters, digits, '-', '_', '.', starting and ending with a letter or digit)`;
  }
  return undefined;
}

function checkValue(value: string): string | undefined {
  return VALUE.test(value)
    ? undefined
    : `label value ${
      JSON.stringify(value)
    } is not valid (at most 63 characters: letters, digits, '-', '_', '.', starting and ending with a letter or digit)`;
}

/** Splits on commas that are not inside parentheses. */
function splitTopLevel(text: string): string[] | undefined {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") {
      depth--;
      if (depth < 0) return undefined;
    } else if (c === "," && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (depth !== 0) return undefined;
  parts.push(text.slice(start));
  return parts;
}

/**
 * Parses a label selector.
 *
 * @returns the requirements, or a message saying what is wrong.
 */
export function parseSelector(
  selector: string,
): { ok: true; requirements: SelectorRequirement[] } | { ok: false; message: string } {
  if (selector.trim() === "") return { ok: false, message: "selector is empty" };
  const parts = splitTopLevel(selector);
  if (!parts) {
    return { ok: false, message: `unbalanced parentheses in ${JSON.stringify(selector)}` };
  }
  const requirements: SelectorRequirement[] = [];
  for (const raw of parts) {
    const part = raw.trim();
    if (part === "") {
      return { ok: false, message: `empty requirement in ${JSON.stringify(selector)}` };
    }
    const requirement = parseRequirement(part);
    if ("message" in requirement) return { ok: false, message: requirement.message };
    requirements.push(requirement);
  }
  return { ok: true, requirements };
}

function parseRequirement(part: string): SelectorRequirement | { message: string } {
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
  if (set) {
    const [, key, op, list] = set;
    const values = list.split(",").map((v) => v.trim());
    const problem = checkKey(key) ?? values.map(checkValue).find(Boolean);
    if (problem) return { message: problem };
    if (values.length === 0 || values.some((v) => v === "") && values.length > 1) {
      return { message: `${JSON.stringify(part)}: the value list must not have empty entries` };
    }
    return { key, operator: op as "in" | "notin", values };
  }
  const equality = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(part);
  if (equality) {
    const [, key, op, value] = equality;
    const problem = checkKey(key) ?? checkValue(value.trim());
    if (problem) return { message: problem };
    return { key, operator: op === "!=" ? "!=" : "=", values: [value.trim()] };
  }
  const negated = part.startsWith("!");
  const key = negated ? part.slice(1).trim() : part;
  const problem = checkKey(key);
  if (problem) return { message: `${JSON.stringify(part)}: ${problem}` };
  return { key, operator: negated ? "!exists" : "exists", values: [] };
}

/** Writes one requirement back in selector syntax (`a=b`, `a in (x,y)`, `!a`). */
export function formatRequirement(r: SelectorRequirement): string {
  switch (r.operator) {
    case "=":
    case "!=":
      return `${r.key}${r.operator}${r.values[0]}`;
    case "in":
    case "notin":
      return `${r.key} ${r.operator} (${r.values.join(",")})`;
    case "exists":
      return r.key;
    case "!exists":
      return `!${r.key}`;
  }
}

/** Whether `labels` satisfy every requirement. */
export function selectorMatches(
  requirements: readonly SelectorRequirement[],
  labels: Readonly<Record<string, string>>,
): boolean {
  return requirements.every(({ key, operator, values }) => {
    const has = Object.hasOwn(labels, key);
    const value = labels[key];
    switch (operator) {
      case "=":
        return has && value === values[0];
      case "!=":
        return !has || value !== values[0];
      case "in":
        return has && values.includes(value);
      case "notin":
        return !has || !values.includes(value);
      case "exists":
        return has;
      case "!exists":
        return !has;
    }
  });
}
