/**
 * `${VAR}` and `${VAR:-default}` in string values. `$${` writes a literal `${`.
 *
 * @module
 */

/** Result of interpolating one string. */
export type InterpolationResult =
  | { ok: true; value: string }
  | { ok: false; message: string };

const PATTERN = /\$\$\{|\$\{([^}]*)\}/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Replaces variable references in `text` with values from `env`.
 *
 * An unset variable without a default is an error naming the variable; an empty variable is
 * treated as set (like POSIX `${VAR-…}` would not, but `:-` does: empty uses the default).
 */
export function interpolate(
  text: string,
  env: (name: string) => string | undefined,
): InterpolationResult {
  if (!text.includes("${")) return { ok: true, value: text };
  const missing: string[] = [];
  const bad: string[] = [];
  const value = text.replace(PATTERN, (match, body: string | undefined) => {
    if (match === "$${") return "${";
    const expr = body ?? "";
    const sep = expr.indexOf(":-");
    const name = sep === -1 ? expr : expr.slice(0, sep);
    if (!NAME.test(name)) {
      bad.push(match);
      return match;
    }
    const current = env(name);
    if (sep !== -1) return current === undefined || current === "" ? expr.slice(sep + 2) : current;
    if (current === undefined) {
      missing.push(name);
      return match;
    }
    return current;
  });
  if (bad.length > 0) {
    return {
      ok: false,
      message: `invalid variable reference ${bad[0]} (use \${NAME} or \${NAME:-default})`,
    };
  }
  if (missing.length > 0) {
    return {
      ok: false,
      message: `environment variable ${missing[0]} is not set (use \${${
        missing[0]
      }:-default} to give a default)`,
    };
  }
  // An unterminated "${" is left as-is by the pattern; it is almost certainly a typo.
  if (/(^|[^$])\$\{[^}]*$/.test(text)) {
    return { ok: false, message: `unterminated variable reference in "${text}"` };
  }
  return { ok: true, value };
}
