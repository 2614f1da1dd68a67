/**
 * cplauncher's version, read from deno.json so there is one place to change it.
 *
 * @module
 */
import manifest from "../deno.json" with { type: "json" };

/**
 * The version of this build (deno.json `version`).
 *
 * @example Report the version
 * ```ts
 * import { VERSION } from "@cplauncher/cplauncher";
 *
 * console.log(`cplauncher ${VERSION}`);
 * ```
 */
export const VERSION: string = manifest.version;
