/**
 * Exit codes of the cplauncher CLI, documented in the README.
 *
 * @module
 */

/** Everything worked. */
export const EXIT_OK = 0;
/** Something unexpected; the message says what. */
export const EXIT_INTERNAL = 1;
/** Bad command line or bad config. */
export const EXIT_USAGE = 2;
/** An anchor or its compartment / network namespace could not be resolved. */
export const EXIT_RESOLVE = 3;
/** A workload could not be started in its domain (verification failed, binary missing…). */
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
