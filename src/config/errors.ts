/**
 * Positioned config errors: `file:line:col: field.path: message`.
 *
 * @module
 */

/**
 * One problem in a config file, positioned like a compiler diagnostic.
 *
 * See the {@linkcode formatIssue} example, and examples/scripts/validate_string.ts.
 */
export interface ConfigIssue {
  /** File name as given by the user (or `<string>` for in-memory text). */
  readonly file: string;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column. */
  readonly column: number;
  /** Dotted field path (`workloads.albums.port`), or `(document)` for the file as a whole. */
  readonly path: string;
  /** What is wrong, in one line. */
  readonly message: string;
}

/**
 * Formats an issue as `file:line:col: path: message`.
 *
 * @example One issue, one line
 * ```ts
 * import { formatIssue } from "@cplauncher/cplauncher";
 *
 * const line = formatIssue({
 *   file: "compartments.yaml",
 *   line: 7,
 *   column: 11,
 *   path: "workloads.albums.port",
 *   message: "must be at most 65535",
 * });
 * if (line !== "compartments.yaml:7:11: workloads.albums.port: must be at most 65535") {
 *   throw new Error(line);
 * }
 * ```
 */
export function formatIssue(issue: ConfigIssue): string {
  // One issue is one line, whatever the user's text contained.
  const oneLine = (text: string) =>
    text.replace(/[\r\n\u2028\u2029]/g, (c) => JSON.stringify(c).slice(1, -1));
  return `${oneLine(issue.file)}:${issue.line}:${issue.column}: ${oneLine(issue.path)}: ${
    oneLine(issue.message)
  }`;
}

/** Thrown by {@linkcode loadConfig} and friends when a config is invalid. */
export class ConfigError extends Error {
  /** Every problem found, in file order. */
  readonly issues: readonly ConfigIssue[];

  /** Creates an error carrying `issues` (at least one). */
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join("\n"));
    this.name = "ConfigError";
    this.issues = issues;
  }
}

/** Renders a field path (`["workloads", "a b", 0]`) as `workloads."a b"[0]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "(document)";
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else {
      const text = String(part);
      const plain = /^[A-Za-z0-9_-]+$/.test(text) ? text : JSON.stringify(text);
      out += out === "" ? plain : `.${plain}`;
    }
  }
  return out;
}
