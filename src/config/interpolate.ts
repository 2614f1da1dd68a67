/**
 * `${VAR}` and `${VAR:-default}` in string values. `$${` writes a literal `${`; defaults may
 * themselves contain references (`${A:-${B}}`).
 *
 * @module
 */

/** Result of interpolating one string. */
export type InterpolationResult =
  | { ok: true; value: string }
  | { ok: false; message: string };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Index of the `}` closing the reference whose body starts at `from`, or -1. */
function closingBrace(text: string, from: number): number {
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    if (text[i] === "$" && text[i + 1] === "{") {
      depth++;
      i++;
    } else if (text[i] === "}") {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

/**
 * Replaces variable references in `text` with values from `env`. One pass, linear in the
 * length of the text (a config value can be large; a regex that rescans would not be).
 *
 * An unset variable without a default is an error naming it; with `:-`, an unset or empty
 * variable takes the default.
 */
export function interpolate(
  text: string,
  env: (name: string) => string | undefined,
): InterpolationResult {
  if (!text.includes("${")) return { ok: true, value: text };
  let out = "";
  let i = 0;
  while (i < text.length) {
    const next = text.indexOf("$", i);
    if (next === -1) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, next);
    if (text.startsWith("$${", next)) {
      out += "${";
      i = next + 3;
      continue;
    }
    if (text[next + 1] !== "{") {
      out += "$";
      i = next + 1;
      continue;
    }
    const close = closingBrace(text, next + 2);
    if (close === -1) {
      return { ok: false, message: `unterminated variable reference in ${JSON.stringify(text)}` };
    }
    const body = text.slice(next + 2, close);
    const sep = body.indexOf(":-");
    const name = sep === -1 ? body : body.slice(0, sep);
    if (!NAME.test(name)) {
      return {
        ok: false,
        message: `invalid variable reference \${${body}} (use \${NAME} or \${NAME:-default})`,
      };
    }
    const current = env(name);
    if (sep !== -1) {
      if (current === undefined || current === "") {
        const fallback = interpolate(body.slice(sep + 2), env);
        if (!fallback.ok) return fallback;
        out += fallback.value;
      } else out += current;
    } else if (current === undefined) {
      return {
        ok: false,
        message:
          `environment variable ${name} is not set (use \${${name}:-default} to give a default)`,
      };
    } else out += current;
    i = close + 1;
  }
  return { ok: true, value: out };
}
