/**
 * The oldest Deno the launcher runs on, and the check at start that refuses older ones.
 *
 * The floor is set by the FFI: the Windows backend passes buffers to `nonblocking` calls
 * (`ReadFile` on pipes, the Host Compute Network queries), and only since Deno 2.7.6 does such
 * a call keep its buffers' memory alive until it returns (denoland/deno#32775); before, a
 * garbage collection during the call could free memory Windows was still writing to. The
 * permission set in deno.json (`-P=launcher`, all permissions) needs Deno 2.5 anyway. A compiled `cplauncher`
 * carries the Deno it was built with, so the check matters when it is run from source.
 *
 * @module
 */
import manifest from "../../deno.json" with { type: "json" };

/** The oldest Deno version the launcher supports (deno.json `minimumDenoVersion`). */
export const MINIMUM_DENO_VERSION: string = manifest.minimumDenoVersion;

/** `major.minor.patch` of a version string such as `2.9.6` or `2.9.6+1a2b3c`; null if none. */
export function parseVersion(text: string): [number, number, number] | null {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/** Whether version `actual` is at least `minimum` (both `major.minor.patch`). */
export function atLeast(actual: string, minimum: string): boolean {
  const a = parseVersion(actual);
  const b = parseVersion(minimum);
  if (!a || !b) return false;
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
}

/**
 * A one-line refusal when `denoVersion` (default: the running Deno) is older than
 * {@linkcode MINIMUM_DENO_VERSION}, else undefined.
 */
export function denoVersionProblem(denoVersion: string = Deno.version.deno): string | undefined {
  if (atLeast(denoVersion, MINIMUM_DENO_VERSION)) return undefined;
  return `needs Deno ${MINIMUM_DENO_VERSION} or newer, this is Deno ${denoVersion} ` +
    "(older versions can free the memory of a pending non-blocking FFI call); upgrade Deno " +
    "or use the compiled cplauncher";
}
