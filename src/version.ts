/**
 * cplauncher's version, read from deno.json so there is one place to change it.
 *
 * @module
 */
import manifest from "../deno.json" with { type: "json" };

/** The version of this build (deno.json `version`). */
export const VERSION: string = manifest.version;
