/**
 * Exit codes of the cplauncher CLI, documented in the README.
 *
 * @module
 */
import type { SupervisorResult } from "../supervisor/mod.ts";

/** Everything worked. */
export const EXIT_OK = 0;
/** Something unexpected; the message says what. */
export const EXIT_INTERNAL = 1;
/** Bad command line or bad config. */
export const EXIT_USAGE = 2;
/** An anchor or its compartment / network namespace could not be resolved. */
export const EXIT_RESOLVE = 3;
/**
 * A workload could not be started in its domain (verification failed, binary missing…), or
 * the launcher's own thread could not return from a workload's network (stranded).
 */
export const EXIT_LAUNCH = 4;

/** An error the CLI reports as one line and a specific exit code. */
export class CliError extends Error {
  /** Process exit code to use. */
  readonly exitCode: number;

  /** Creates an error reported as `message` with exit code `exitCode`. */
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}

/**
 * The launcher's exit code for a supervisor run: a stranded launcher beats everything, then a
 * failed anchor beats a failed launch; a
 * stopped launcher exits 0; a single workload passes its own exit code on (as the k2s
 * launcher does); several workloads give 1 when any ended non-zero.
 */
export function exitCodeFor(result: SupervisorResult): number {
  const stages = new Set(result.workloads.map((w) => w.failedStage));
  if (stages.has("stranded")) return EXIT_LAUNCH;
  if (stages.has("resolve")) return EXIT_RESOLVE;
  if (stages.has("launch")) return EXIT_LAUNCH;
  if (result.stopped) return EXIT_OK;
  if (result.workloads.length === 1) return result.workloads[0].lastExitCode ?? EXIT_OK;
  return result.workloads.every((w) => (w.lastExitCode ?? 0) === 0) ? EXIT_OK : EXIT_INTERNAL;
}
