/**
 * A child's environment the way Windows wants it: names compared case-insensitively, and a
 * `CREATE_UNICODE_ENVIRONMENT` block for `CreateProcessW`.
 *
 * @module
 */
import { PlatformError } from "../errors.ts";
import { wstr } from "./memory.ts";

/**
 * Merge `extra` into `base`, replacing names case-insensitively as Windows would (so `Path`
 * and `PATH` never both reach the child).
 */
export function mergeEnv(
  base: Readonly<Record<string, string>>,
  extra: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  const keyOf = new Map<string, string>();
  for (const [k, v] of [...Object.entries(base), ...Object.entries(extra)]) {
    const prev = keyOf.get(k.toUpperCase());
    if (prev !== undefined) delete out[prev];
    keyOf.set(k.toUpperCase(), k);
    out[k] = v;
  }
  return out;
}

/**
 * Build a `CREATE_UNICODE_ENVIRONMENT` block: sorted `K=V\0` entries and a final `\0`.
 * Names that cannot be set (empty, containing `=` after the first character or a NUL) are
 * left out; a value with a NUL is an `invalid-command` {@linkcode PlatformError}.
 */
export function environmentBlock(env: Readonly<Record<string, string>>): Uint16Array<ArrayBuffer> {
  // Windows compares names case-insensitively and documents the block as sorted that way.
  const entries = Object.entries(env)
    .filter(([k]) => k.length > 0 && !k.includes("=", 1) && !k.includes("\0"))
    .sort(([a], [b]) => {
      const A = a.toUpperCase();
      const B = b.toUpperCase();
      return A < B ? -1 : A > B ? 1 : 0;
    });
  let text = "";
  for (const [k, v] of entries) {
    if (v.includes("\0")) {
      throw new PlatformError("invalid-command", `environment variable ${k} contains a NUL`);
    }
    text += `${k}=${v}\0`;
  }
  if (entries.length === 0) text += "\0";
  return wstr(text); // wstr appends the block's final NUL
}
