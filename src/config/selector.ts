/**
 * Kubernetes label selector syntax (`app=x`, `tier!=db`, `env in (a,b)`, `!canary`,
 * `replicas>1`), checked the way the apiserver checks it so typos are caught before anything
 * is contacted. The tokens, the grammar (including its tolerance of empty entries in value
 * lists) and the key and value rules follow the apiserver's own parser; a test feeds the same
 * strings to a real apiserver and requires the same verdicts. One deliberate difference: an
 * empty selector, which the apiserver reads as "every pod", is refused.
 *
 * @module
 */

/** One requirement of a label selector. */
export interface SelectorRequirement {
  /** Label key, with optional DNS prefix (`example.com/name`). */
  readonly key: string;
  /** Comparison (`>` and `<` compare the label's value as an integer). */
  readonly operator: "=" | "!=" | "in" | "notin" | "exists" | "!exists" | ">" | "<";
  /** Values compared against (empty for exists / !exists; no duplicates). */
  readonly values: readonly string[];
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
/** What Go's `strconv.ParseInt(s, 10, 64)` accepts, before the range check. */
const DECIMAL = /^[+-]?[0-9]+$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The apiserver's whitespace: nothing else separates tokens (not `\v`, `\f` or NBSP). */
const WHITESPACE = new Set([" ", "\t", "\r", "\n"]);
/** Characters that end an identifier and start an operator. */
const SPECIAL = new Set(["=", "!", "(", ")", ",", ">", "<"]);
const OPERATOR_LIST = "=, ==, !=, in, notin, >, <";

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

/** A 64-bit integer the way Go's `strconv.ParseInt(s, 10, 64)` reads it, or undefined. */
function parseInt64(text: string): bigint | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const value = BigInt(text);
  return value < INT64_MIN || value > INT64_MAX ? undefined : value;
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

function trimWhitespace(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && WHITESPACE.has(text[start])) start++;
  while (end > start && WHITESPACE.has(text[end - 1])) end--;
  return text.slice(start, end);
}

/** A token: an operator (`=`, `==`, `!=`, `!`, `>`, `<`, `(`, `)`, `,`) or an identifier. */
interface Token {
  readonly kind: "operator" | "identifier";
  readonly text: string;
}

/**
 * The apiserver's lexer: whitespace separates, special characters are read as the longest
 * operator they start, anything else up to whitespace or a special character is an
 * identifier (`in` and `notin` included; the parser decides what they mean).
 */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    if (WHITESPACE.has(text[i])) {
      i++;
      continue;
    }
    if (SPECIAL.has(text[i])) {
      // Every special character is an operator by itself; `!=` and `==` are the longer ones.
      const pair = text.slice(i, i + 2);
      const operator = pair === "!=" || pair === "==" ? pair : text[i];
      tokens.push({ kind: "operator", text: operator });
      i += operator.length;
      continue;
    }
    const start = i;
    while (i < text.length && !WHITESPACE.has(text[i]) && !SPECIAL.has(text[i])) i++;
    tokens.push({ kind: "identifier", text: text.slice(start, i) });
  }
  return tokens;
}

/**
 * Parses a label selector.
 *
 * @returns the requirements, or a message saying what is wrong.
 */
export function parseSelector(
  selector: string,
): { ok: true; requirements: SelectorRequirement[] } | { ok: false; message: string } {
  if (trimWhitespace(selector) === "") return { ok: false, message: "selector is empty" };
  const parts = splitTopLevel(selector);
  if (!parts) {
    return { ok: false, message: `unbalanced parentheses in ${JSON.stringify(selector)}` };
  }
  const requirements: SelectorRequirement[] = [];
  for (const raw of parts) {
    const part = trimWhitespace(raw);
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
  const quoted = JSON.stringify(part);
  const tokens = tokenize(part);
  const negated = tokens[0].text === "!" && tokens[0].kind === "operator";
  const keyToken = tokens[negated ? 1 : 0];
  if (keyToken?.kind !== "identifier") {
    return {
      message: `${quoted}: expected a label key${negated ? ' after "!"' : ""}, found ${
        keyToken ? JSON.stringify(keyToken.text) : "nothing"
      }`,
    };
  }
  const key = keyToken.text;
  const keyProblem = checkKey(key);
  if (keyProblem) return { message: keyProblem };
  const rest = tokens.slice(negated ? 2 : 1);
  if (negated || rest.length === 0) {
    if (rest.length > 0) {
      return {
        message: `${quoted}: "!${key}" must stand alone, found ${JSON.stringify(rest[0].text)}`,
      };
    }
    return { key, operator: negated ? "!exists" : "exists", values: [] };
  }
  const op = rest[0];
  const afterOperator = trimWhitespace(
    part.slice(part.indexOf(op.text, key.length) + op.text.length),
  );
  if (op.kind === "identifier" && (op.text === "in" || op.text === "notin")) {
    const values = parseValueList(rest.slice(1), quoted);
    if ("message" in values) return values;
    const problem = values.map(checkValue).find(Boolean);
    if (problem) return { message: problem };
    return { key, operator: op.text, values };
  }
  if (op.kind !== "operator" || ["!", "(", ")", ","].includes(op.text)) {
    return {
      message: `${quoted}: expected an operator (${OPERATOR_LIST}) after ${
        JSON.stringify(key)
      }, found ${JSON.stringify(op.text)}`,
    };
  }
  const valueTokens = rest.slice(1);
  if (valueTokens.length > 1 || valueTokens[0]?.kind === "operator") {
    return { message: checkValue(afterOperator) ?? `${quoted}: unexpected ${afterOperator}` };
  }
  const value = valueTokens[0]?.text ?? "";
  const problem = checkValue(value);
  if (problem) return { message: problem };
  if (op.text === ">" || op.text === "<") {
    if (parseInt64(value) === undefined) {
      return {
        message: `${quoted}: ${op.text} compares integers, and ${
          JSON.stringify(value)
        } is not a 64-bit integer`,
      };
    }
    return { key, operator: op.text, values: [value] };
  }
  return { key, operator: op.text === "!=" ? "!=" : "=", values: [value] };
}

/**
 * The `(…)` of `in` / `notin`, read like the apiserver does: values separated by commas,
 * where `()` and a comma at either end or next to another comma (`(,x)`, `(x,)`, `(x,,y)`)
 * stand for the empty value. Duplicates count once.
 */
function parseValueList(
  tokens: readonly Token[],
  quoted: string,
): string[] | { message: string } {
  const found = (t: Token | undefined) => t ? JSON.stringify(t.text) : "the end";
  const isComma = (t: Token | undefined) => t?.kind === "operator" && t.text === ",";
  const isClose = (t: Token | undefined) => t?.kind === "operator" && t.text === ")";
  if (tokens[0]?.kind !== "operator" || tokens[0].text !== "(") {
    return { message: `${quoted}: expected "(" after the operator, found ${found(tokens[0])}` };
  }
  const values = new Set<string>();
  let i = 1;
  const end = (): string[] | { message: string } =>
    i === tokens.length - 1 && isClose(tokens[i])
      ? [...values]
      : { message: `${quoted}: unexpected ${found(tokens[i + 1])} after the value list` };
  if (isClose(tokens[i])) {
    values.add("");
    return end();
  }
  for (;;) {
    const token = tokens[i++];
    if (token?.kind === "identifier") {
      values.add(token.text);
      if (isComma(tokens[i])) continue;
      if (isClose(tokens[i])) return end();
      if (tokens[i]?.kind === "identifier") {
        return { message: checkValue(`${token.text} ${tokens[i].text}`)! };
      }
      return {
        message: `${quoted}: expected "," or ")" in the value list, found ${found(tokens[i])}`,
      };
    }
    if (isComma(token)) {
      if (values.size === 0) values.add("");
      if (isClose(tokens[i])) {
        values.add("");
        return end();
      }
      if (isComma(tokens[i])) values.add("");
      continue;
    }
    return {
      message: `${quoted}: expected a value or "," in the value list, found ${found(token)}`,
    };
  }
}

/** Writes one requirement back in selector syntax (`a=b`, `a in (x,y)`, `!a`, `a>1`). */
export function formatRequirement(r: SelectorRequirement): string {
  switch (r.operator) {
    case "=":
    case "!=":
    case ">":
    case "<":
      return `${r.key}${r.operator}${r.values[0]}`;
    case "in":
    case "notin":
      // An empty value alone is written `()`; with others, as an empty entry (`(x,)`).
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
      case ">":
      case "<": {
        const actual = has ? parseInt64(value) : undefined;
        const bound = parseInt64(values[0]);
        if (actual === undefined || bound === undefined) return false;
        return operator === ">" ? actual > bound : actual < bound;
      }
    }
  });
}
