/**
 * Where things are.
 *
 * @module
 */
import { fileURLToPath } from "node:url";

/** Repository root (with a trailing slash). */
export const ROOT: string = fileURLToPath(new URL("../../", import.meta.url));

/** The `bench/` folder (with a trailing slash). */
export const BENCH_DIR: string = fileURLToPath(new URL("../", import.meta.url));

/** The launcher's entry point, run from source as the tests and `deno task cplauncher` do. */
export const LAUNCHER_MAIN: string = `${ROOT}src/main.ts`;

/** The shipped launcher: the bundle `deno task bundle` builds (what the benchmarks measure). */
export const LAUNCHER_BUNDLE: string = `${ROOT}dist/cplauncher/main.js`;
