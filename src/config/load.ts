/**
 * Loading compartments.yaml: bytes → YAML with positions → `${VAR}` interpolation → zod →
 * cross-references. Every problem is collected with its line and column; nothing throws
 * past this module except {@linkcode ConfigError}.
 *
 * @module
 */
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  type Node as YamlNode,
  parseAllDocuments,
  type Scalar,
} from "yaml";
import type { z } from "zod";
import { ConfigError, type ConfigIssue, formatPath } from "./errors.ts";
import { interpolate } from "./interpolate.ts";
import { configJsonSchema, configSchema } from "./schema.ts";
import type { Config } from "./types.ts";

/** Files larger than this are refused before parsing: a config is never this big. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Where variables for `${VAR}` come from.
 *
 * See the {@linkcode parseConfig} example, which supplies `${NETNS}`.
 */
export type EnvLookup = (name: string) => string | undefined;

/** Options for {@linkcode parseConfig} and {@linkcode loadConfig}. */
export interface LoadOptions {
  /** Variable lookup for `${VAR}`; defaults to the process environment. */
  readonly env?: EnvLookup | Readonly<Record<string, string>>;
}

/**
 * Outcome of parsing: a config, or every issue found.
 *
 * See the {@linkcode parseConfig} example and examples/scripts/validate_string.ts.
 */
export type ParseResult =
  | { readonly ok: true; readonly config: Config }
  | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

type Path = (string | number)[];

function envLookup(env: LoadOptions["env"]): EnvLookup {
  if (env === undefined) return (name) => Deno.env.get(name);
  if (typeof env === "function") return env;
  return (name) => (Object.hasOwn(env, name) ? env[name] : undefined);
}

/**
 * Parses config text. Never throws: problems come back as positioned issues.
 *
 * @param text the YAML text
 * @param file the name used in issues (`<string>` by default)
 *
 * @example Validate a config held in a string
 * ```ts
 * import { formatIssue, parseConfig } from "@cplauncher/cplauncher";
 *
 * const text = `
 * apiVersion: cplauncher/v1
 * anchors:
 *   lab:
 *     netns: \${NETNS}
 * workloads:
 *   web: { anchor: lab, command: ["/usr/bin/web", "--port", "8080"], port: 8080 }
 * `;
 * const result = parseConfig(text, "inline.yaml", { env: { NETNS: "/var/run/netns/lab" } });
 * if (!result.ok) throw new Error(result.issues.map(formatIssue).join("\n"));
 * const lab = result.config.anchors.lab;
 * if (lab.kind !== "netns" || lab.netns !== "/var/run/netns/lab") throw new Error("unexpected");
 * ```
 *
 * A complete script: examples/scripts/validate_string.ts.
 */
export function parseConfig(
  text: string,
  file = "<string>",
  options: LoadOptions = {},
): ParseResult {
  const lines = new LineCounter();
  const issueAt = (offset: number, path: Path, message: string): ConfigIssue => {
    const { line, col } = lines.linePos(Math.max(0, offset));
    return { file, line, column: col, path: formatPath(path), message };
  };

  if (text.trim() === "") {
    lines.addNewLine(0);
    return {
      ok: false,
      issues: [
        issueAt(0, [], "file is empty; expected a mapping with apiVersion, anchors and workloads"),
      ],
    };
  }
  const nul = text.indexOf("\0");
  if (nul !== -1) {
    // Line counting needs the text scanned; do it by hand for this early exit.
    countLines(text, lines);
    return {
      ok: false,
      issues: [issueAt(nul, [], "file contains NUL bytes; it is not YAML text")],
    };
  }

  const docs = parseAllDocuments(text, {
    lineCounter: lines,
    // Duplicate keys are found by walkDocument below: the yaml package's own check is
    // quadratic in the size of a mapping and reports no field path.
    uniqueKeys: false,
    prettyErrors: false,
    // Warnings (e.g. collection keys) would go to the console; they are reported as issues.
    logLevel: "silent",
    strict: true,
    merge: true,
  });
  const docList = Array.isArray(docs) ? docs : [];
  if (docList.length === 0) {
    // An empty stream (only comments or directives).
    return {
      ok: false,
      issues: [issueAt(0, [], "file has no YAML document; expected a mapping")],
    };
  }
  const syntax: ConfigIssue[] = [];
  for (const doc of docList) {
    for (const error of doc.errors) {
      syntax.push(issueAt(error.pos[0], [], `YAML ${yamlMessage(error.message)}`));
    }
  }
  if (syntax.length > 0) return { ok: false, issues: sortIssues(syntax) };
  if (docList.length > 1) {
    const second = docList[1].contents?.range?.[0] ?? 0;
    return {
      ok: false,
      issues: [issueAt(second, [], "expected one YAML document, found several (remove the ---)")],
    };
  }
  const doc = docList[0];
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) {
    return {
      ok: false,
      issues: [
        issueAt(
          0,
          [],
          "file has no content; expected a mapping with apiVersion, anchors and workloads",
        ),
      ],
    };
  }
  if (!isMap(root)) {
    return {
      ok: false,
      issues: [
        issueAt(
          root.range?.[0] ?? 0,
          [],
          `expected a mapping at the top level, found ${describeNode(root)}`,
        ),
      ],
    };
  }

  const issues: ConfigIssue[] = [];
  const lookup = envLookup(options.env);
  const structural: ConfigIssue[] = [];
  walkDocument(doc, root, [], {
    scalar(node, path) {
      if (typeof node.value !== "string") return;
      const result = interpolate(node.value, lookup);
      if (result.ok) node.value = result.value;
      else issues.push(issueAt(node.range?.[0] ?? 0, path, result.message));
    },
    problem(node, path, message) {
      structural.push(issueAt(node.range?.[0] ?? 0, path, message));
    },
  });
  // Structural problems (duplicate or complex keys, dangling aliases, bad merges) would make
  // the conversion below fail or silently drop data, so they are reported on their own.
  if (structural.length > 0) {
    return { ok: false, issues: limitIssues(sortIssues(dedupe([...structural, ...issues]))) };
  }

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return {
      ok: false,
      issues: [issueAt(0, [], `YAML ${error instanceof Error ? error.message : String(error)}`)],
    };
  }

  const parsed = configSchema.safeParse(data);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issues.length > MAX_ISSUES) break;
      issues.push(...zodIssueToConfigIssues(issue, root, issueAt));
    }
  }
  issues.push(...crossReferenceIssues(data, root, issueAt));
  if (issues.length > 0 || !parsed.success) {
    return { ok: false, issues: limitIssues(sortIssues(dedupe(issues))) };
  }
  return { ok: true, config: parsed.data };
}

/**
 * Reads and parses a config file.
 *
 * @throws {ConfigError} with every problem found, positioned in the file.
 *
 * @example Load a file, or report every problem in it
 * ```ts
 * import { ConfigError, formatIssue, loadConfig } from "@cplauncher/cplauncher";
 *
 * try {
 *   const config = await loadConfig("compartments.yaml", { env: { NODE_NAME: "node-1" } });
 *   console.log(Object.keys(config.workloads));
 * } catch (error) {
 *   if (!(error instanceof ConfigError)) throw error;
 *   for (const issue of error.issues) console.error(formatIssue(issue));
 * }
 * ```
 */
export async function loadConfig(path: string, options: LoadOptions = {}): Promise<Config> {
  const text = await readConfigText(path);
  const result = parseConfig(text, path, options);
  if (!result.ok) throw new ConfigError(result.issues);
  return result.config;
}

/**
 * Reads a config file as UTF-8 text, refusing what cannot be a config.
 *
 * @throws {ConfigError} when the file is missing, unreadable, too large or not UTF-8.
 */
export async function readConfigText(path: string): Promise<string> {
  const fail = (message: string, offset = 0, bytes?: Uint8Array): never => {
    let line = 1;
    let column = 1;
    if (bytes) {
      // Columns count characters, like the YAML positions: decode the valid prefix.
      const prefix = new TextDecoder().decode(bytes.subarray(0, offset));
      const lastNewline = prefix.lastIndexOf("\n");
      line += prefix.split("\n").length - 1;
      column = [...prefix.slice(lastNewline + 1)].length + 1;
    }
    throw new ConfigError([{ file: path, line, column, path: "(document)", message }]);
  };
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    return fail(fileErrorMessage(error));
  }
  if (info.isDirectory) return fail("is a directory, not a config file");
  if (info.size > MAX_CONFIG_BYTES) {
    return fail(
      `file is ${(info.size / 1024 / 1024).toFixed(1)} MiB; a config may be at most ${
        MAX_CONFIG_BYTES / 1024 / 1024
      } MiB`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    return fail(fileErrorMessage(error));
  }
  if (bytes.length > MAX_CONFIG_BYTES) return fail("file grew past the size limit while reading");
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return fail("file is not UTF-8 text", firstInvalidUtf8(bytes), bytes);
  }
}

function fileErrorMessage(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied reading the file";
  if (error instanceof Deno.errors.NotCapable) {
    return "cannot read the file: Deno was not given --allow-read for it";
  }
  return `cannot read the file: ${error instanceof Error ? error.message : String(error)}`;
}

/** Byte offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    const length = b < 0x80
      ? 1
      : b >= 0xc2 && b <= 0xdf
      ? 2
      : b >= 0xe0 && b <= 0xef
      ? 3
      : b >= 0xf0 && b <= 0xf4
      ? 4
      : 0;
    if (length === 0 || i + length > bytes.length) return i;
    for (let k = 1; k < length; k++) if ((bytes[i + k] & 0xc0) !== 0x80) return i;
    // Overlong 3-byte forms, surrogates, and code points above U+10FFFF.
    if (b === 0xe0 && bytes[i + 1] < 0xa0) return i;
    if (b === 0xed && bytes[i + 1] > 0x9f) return i;
    if (b === 0xf0 && bytes[i + 1] < 0x90) return i;
    if (b === 0xf4 && bytes[i + 1] > 0x8f) return i;
    i += length;
  }
  return i;
}

function countLines(text: string, lines: LineCounter): void {
  lines.addNewLine(0);
  for (let i = 0; i < text.length; i++) if (text[i] === "\n") lines.addNewLine(i + 1);
}

function yamlMessage(message: string): string {
  // The yaml package appends "at line L, column C" and a code excerpt; the position is ours.
  return message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "").trim();
}

function describeNode(node: unknown): string {
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    const v = node.value;
    return v === null ? "null" : `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
  }
  return "something else";
}

type IssueAt = (offset: number, path: Path, message: string) => ConfigIssue;

interface DocumentVisitor {
  scalar(node: Scalar, path: Path): void;
  problem(node: YamlNode, path: Path, message: string): void;
}

/**
 * Visits every scalar value (not keys) with its field path, and reports what the plain
 * conversion to JavaScript would get wrong: duplicate keys, keys that are not scalars,
 * aliases to nothing, merge keys whose value is not a mapping.
 */
function walkDocument(doc: Document, node: unknown, path: Path, visitor: DocumentVisitor): void {
  if (isScalar(node)) visitor.scalar(node, path);
  else if (isAlias(node)) {
    if (!node.resolve(doc)) {
      visitor.problem(node, path, `alias *${node.source} refers to no anchor (&${node.source})`);
    }
  } else if (isMap(node)) {
    const seen = new Set<string>();
    for (const pair of node.items) {
      const keyNode = pair.key as YamlNode | null;
      if (!isScalar(keyNode)) {
        visitor.problem(keyNode ?? node, path, "keys must be plain strings, not lists or mappings");
        continue;
      }
      // With merge keys on, the yaml package gives `<<` a symbol value.
      const merge = typeof keyNode.value === "symbol" || keyNode.value === "<<";
      const key = merge ? "<<" : String(keyNode.value);
      if (merge && !isMergeSource(doc, pair.value)) {
        visitor.problem(
          keyNode,
          [...path, key],
          "a merge key (<<) needs a mapping or an alias to one",
        );
        continue;
      }
      if (seen.has(key)) {
        visitor.problem(keyNode, [...path, key], `duplicate key ${JSON.stringify(key)}`);
      }
      seen.add(key);
      walkDocument(doc, pair.value, [...path, key], visitor);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => walkDocument(doc, item, [...path, index], visitor));
  }
}

function isMergeSource(doc: Document, value: unknown): boolean {
  const target = isAlias(value) ? value.resolve(doc) : value;
  if (isMap(target)) return true;
  return isSeq(target) && target.items.every((item) => isMergeSource(doc, item));
}

/** At most this many issues are listed; a broken file should not flood the terminal. */
const MAX_ISSUES = 100;

function limitIssues(issues: ConfigIssue[]): ConfigIssue[] {
  if (issues.length <= MAX_ISSUES) return issues;
  const last = issues[MAX_ISSUES - 1];
  return [
    ...issues.slice(0, MAX_ISSUES - 1),
    { ...last, path: "(document)", message: `… and ${issues.length - MAX_ISSUES + 1} more issues` },
  ];
}

/** Finds the YAML node at `path`, or the deepest existing ancestor. */
function nodeAt(root: YamlNode, path: readonly PropertyKey[]): {
  node: YamlNode;
  keyNode?: YamlNode;
  found: boolean;
} {
  let current: unknown = root;
  let keyNode: YamlNode | undefined;
  for (const part of path) {
    while (isAlias(current)) current = undefined; // aliases have no own position for children
    if (isMap(current)) {
      const pair = current.items.find((p) =>
        isPair(p) && isScalar(p.key) && String(p.key.value) === String(part)
      );
      if (!pair) return { node: current as YamlNode, found: false };
      keyNode = pair.key as YamlNode;
      if (pair.value === null) return { node: keyNode, keyNode, found: true };
      current = pair.value;
    } else if (isSeq(current) && typeof part === "number" && current.items[part]) {
      keyNode = undefined;
      current = current.items[part];
    } else {
      return { node: (current ?? root) as YamlNode, found: false };
    }
  }
  return { node: current as YamlNode, keyNode, found: true };
}

function offsetOf(node: YamlNode | undefined): number {
  return node?.range?.[0] ?? 0;
}

function zodIssueToConfigIssues(
  issue: z.core.$ZodIssue,
  root: YamlNode,
  issueAt: IssueAt,
): ConfigIssue[] {
  const path = issue.path as Path;
  if (issue.code === "unrecognized_keys") {
    const parent = nodeAt(root, path);
    const known = knownKeysAt(path);
    return issue.keys.slice(0, MAX_ISSUES + 1).map((key) => {
      const at = nodeAt(root, [...path, key]);
      const hint = closest(key, known);
      return issueAt(
        offsetOf(at.keyNode ?? parent.node),
        [...path, key],
        `unknown field ${JSON.stringify(key)}${hint ? ` (did you mean "${hint}"?)` : ""}`,
      );
    });
  }
  if (issue.code === "invalid_key") {
    const at = nodeAt(root, path);
    return [issueAt(offsetOf(at.keyNode ?? at.node), path, `invalid name: ${nameMessage(issue)}`)];
  }
  const at = nodeAt(root, path);
  if (!at.found) {
    // A required field is missing: point at the mapping that should hold it.
    const field = String(path[path.length - 1]);
    return [issueAt(offsetOf(at.node), path, `missing required field "${field}"`)];
  }
  return [issueAt(offsetOf(at.node), path, messageFor(issue, at.node))];
}

function nameMessage(issue: z.core.$ZodIssueInvalidKey): string {
  const inner = issue.issues[0];
  return inner?.message ?? issue.message;
}

/** zod's type names in the words of YAML users. */
const TYPE_NAMES: Record<string, string> = {
  record: "a mapping",
  object: "a mapping",
  array: "a list",
  string: "a string",
  number: "a number",
  boolean: "true or false",
};

function messageFor(issue: z.core.$ZodIssue, node: YamlNode): string {
  const got = isScalar(node) ? JSON.stringify(node.value) : describeNode(node);
  switch (issue.code) {
    case "invalid_type":
      // Our own messages (e.g. durations) explain more than zod's type names.
      if (!issue.message.startsWith("Invalid input")) {
        return `${issue.message}, got ${describeNode(node)}`;
      }
      return `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}, got ${describeNode(node)}`;
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${got}`;
    case "too_small":
    case "too_big":
      return `${issue.message.replace(/^Too (small|big): /, "")}${
        isScalar(node) ? ` (got ${got})` : ""
      }`;
    case "invalid_union":
      return `expected a string, number or boolean, got ${describeNode(node)}`;
    default:
      return issue.message;
  }
}

/** Field names allowed at a path, for "did you mean" hints, read off the JSON Schema. */
function knownKeysAt(path: Path): string[] {
  let node: JsonSchemaNode | undefined = editorSchema ??= configJsonSchema() as JsonSchemaNode;
  for (const part of path) {
    if (!node) return [];
    node = node.properties?.[String(part)] ??
      (typeof node.additionalProperties === "object" ? node.additionalProperties : undefined);
  }
  return Object.keys(node?.properties ?? {});
}

/** Generated once, on the first unknown field, not once per unknown field. */
let editorSchema: JsonSchemaNode | undefined;

interface JsonSchemaNode {
  properties?: Record<string, JsonSchemaNode>;
  additionalProperties?: JsonSchemaNode | boolean;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return Infinity;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

/** Workloads naming anchors that are not declared; checked even when other fields fail. */
function crossReferenceIssues(data: unknown, root: YamlNode, issueAt: IssueAt): ConfigIssue[] {
  if (!isRecord(data) || !isRecord(data.workloads)) return [];
  const anchors = isRecord(data.anchors) ? data.anchors : {};
  const known = Object.keys(anchors);
  const issues: ConfigIssue[] = [];
  for (const [workload, spec] of Object.entries(data.workloads)) {
    if (!isRecord(spec) || typeof spec.anchor !== "string") continue;
    if (Object.hasOwn(anchors, spec.anchor)) continue;
    const path = ["workloads", workload, "anchor"];
    issues.push(issueAt(
      offsetOf(nodeAt(root, path).node),
      path,
      `workload "${workload}" names anchor "${spec.anchor}", which is not declared${
        known.length > 0 ? ` (declared: ${known.join(", ")})` : " (no anchors are declared)"
      }`,
    ));
  }
  return issues;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.line}:${i.column}:${i.path}:${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.column - b.column);
}
