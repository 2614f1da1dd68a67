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

/**
 * Lets the launcher's own stdout and stderr carry relayed output in larger steps: on Linux
 * they are widened to 1 MiB where they are pipes (see linux/pipes.ts); elsewhere nothing
 * changes. For the CLI, which owns its process's output; a library leaves it alone.
 */
export async function widenOwnOutput(os: typeof Deno.build.os = Deno.build.os): Promise<void> {
  if (os === "linux") (await import("./linux/pipes.ts")).widenOwnOutputPipes();
}

/**
 * The backend for `os` (default: the running OS).
 *
 * @example Start a process in a pod's network namespace or compartment
 * ```ts
 * import { createPlatform } from "@cplauncher/cplauncher";
 *
 * const platform = await createPlatform();
 * const signal = AbortSignal.timeout(30_000);
 * const domain = await platform.resolveAddress("10.1.0.7", { signal }); // a pod IP
 * console.log(domain.kind === "netns" ? `inode ${domain.inode}` : `compartment ${domain.id}`);
 * const child = await platform.launch(domain, {
 *   name: "web",
 *   command: ["/usr/bin/web", "--port", "8080"],
 *   env: { LOG_LEVEL: "info" },
 * });
 * console.log(`pid ${child.pid} runs ${child.program.path}`);
 * const listening = await platform.listening(domain, child, 8080);
 * if (!listening.inside) child.terminate();
 * const status = await child.status;
 * console.log(`exit ${status.code}${status.signal ? ` (${status.signal})` : ""}`);
 * ```
 *
 * The {@linkcode Supervisor} does all this (and restarts) for the workloads of a config.
 */
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
