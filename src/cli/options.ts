/**
 * Options and context shared by the CLI's commands.
 *
 * @module
 */
import { Option } from "@commander-js/extra-typings";
import type { LogLevel } from "@logtape/logtape";
import type { Io } from "./io.ts";

/** Global options shared by every command. */
export interface GlobalOptions {
  readonly logFormat: "text" | "json";
  readonly logLevel: LogLevel;
}

/** A command's handler receives its options and the IO to print with. */
export interface CommandContext {
  /** Where to print. */
  readonly io: Io;
  /** Options given before the command name. */
  readonly global: GlobalOptions;
  /** Sets the process exit code without throwing (e.g. a workload's own code). */
  setExitCode(code: number): void;
}

/** `-c/--config`: default `$CPLAUNCHER_CONFIG`, then `./compartments.yaml`. */
export function configOption(): Option<"-c, --config <file>", undefined, undefined, string> {
  return new Option(
    "-c, --config <file>",
    "config file (default: $CPLAUNCHER_CONFIG or ./compartments.yaml)",
  );
}

/** The config path a command should use. */
export function resolveConfigPath(flag: string | undefined): string {
  return flag ?? Deno.env.get("CPLAUNCHER_CONFIG") ?? "compartments.yaml";
}
