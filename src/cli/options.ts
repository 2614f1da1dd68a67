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

/**
 * The config path a command should use. A relative path that does not exist as given is also
 * tried under `$CONTAINER_SANDBOX_MOUNT_POINT`, where a Windows HostProcess container sees its
 * image and its volume mounts (on containerd 1.6 only there), so one relative `-c` in the pod
 * spec works on every node.
 */
export function resolveConfigPath(flag: string | undefined): string {
  const path = flag ?? Deno.env.get("CPLAUNCHER_CONFIG") ?? "compartments.yaml";
  const sandbox = Deno.env.get("CONTAINER_SANDBOX_MOUNT_POINT");
  if (!sandbox || isAbsolute(path) || exists(path)) return path;
  const inSandbox = `${sandbox.replace(/[\\/]+$/, "")}${
    Deno.build.os === "windows" ? "\\" : "/"
  }${path}`;
  return exists(inSandbox) ? inSandbox : path;
}

function isAbsolute(path: string): boolean {
  return /^([a-zA-Z]:)?[\\/]/.test(path);
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
