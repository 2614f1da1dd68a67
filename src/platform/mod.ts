/**
 * Picks the backend for the operating system the launcher runs on. Backends are imported
 * on demand so Linux never loads Win32 bindings and vice versa.
 *
 * @module
 */
import { PlatformError } from "./errors.ts";
import type { PlatformBackend } from "./types.ts";

export type * from "./types.ts";
export {
  isPlatformError,
  PlatformError,
  type PlatformErrorKind,
  SystemCallError,
  type SystemCallErrorKind,
} from "./errors.ts";

/** The backend for `os` (default: the running OS). */
export async function createPlatform(
  os: typeof Deno.build.os = Deno.build.os,
): Promise<PlatformBackend> {
  if (os === "linux") return (await import("./linux/mod.ts")).createLinuxBackend();
  if (os === "windows") return (await import("./windows/mod.ts")).createWindowsBackend();
  throw new PlatformError(
    "unsupported",
    `cplauncher supports Linux (network namespaces) and Windows (compartments), not ${os}`,
  );
}
