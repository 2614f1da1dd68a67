/**
 * Finding a workload's program: the one lookup both backends make, so that the file a digest
 * is checked on and the file that is started can never be two different ones.
 *
 * The rules are the same on Linux and Windows, only the spelling differs:
 *
 * - A name with a directory part (`./server`, `bin/server`, `/opt/app/server`, `C:\app\x.exe`)
 *   is taken relative to the workload's `cwd` (the launcher's when it has none). Nothing else
 *   is searched.
 * - A bare name is looked up in each directory of `PATH`, in order: the workload's own `PATH`
 *   when its `env` sets one, else the launcher's, else a default. Relative entries are
 *   relative to the cwd; empty entries are skipped (a SYSTEM or root launcher should not run
 *   whatever happens to lie in the current directory).
 * - Linux: the first regular file with an execute bit wins; a file without one is skipped,
 *   as `execvp` does, and named in the error if nothing else is found.
 * - Windows: a name without an extension is tried with each `PATHEXT` extension (the
 *   workload's, else the launcher's, else `.COM;.EXE;.BAT;.CMD`); unlike `CreateProcessW`'s
 *   own search, the launcher's directory, the system directories and the cwd are not searched
 *   for bare names.
 *
 * Every failure is one line naming the program, the directories searched and the cwd.
 *
 * @module
 */
import { posix, win32 } from "node:path";
import { PlatformError } from "./errors.ts";
import type { LaunchSpec, ProgramSpec } from "./types.ts";

/** `PATH` when neither the workload nor the launcher has one (Linux). */
export const DEFAULT_LINUX_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** `PATHEXT` when neither the workload nor the launcher has one (Windows). */
export const DEFAULT_PATHEXT = ".COM;.EXE;.BAT;.CMD";

/** What a candidate path is, as far as the search cares. */
export type Candidate =
  | { readonly kind: "missing" }
  | { readonly kind: "directory" }
  | { readonly kind: "other" }
  /** A regular file; `mode` is its permission bits (Linux) or undefined (Windows). */
  | { readonly kind: "file"; readonly mode?: number };

/** One program lookup. */
export interface ProgramSearch {
  /** `command[0]`. */
  readonly name: string;
  /** Which rules apply. */
  readonly os: "linux" | "windows";
  /** The workload's cwd, absolute or relative to the launcher's cwd; undefined: the launcher's. */
  readonly cwd?: string;
  /** The launcher's own cwd (absolute). */
  readonly launcherCwd: string;
  /** A variable of the workload's environment (case-insensitive on Windows), else the launcher's. */
  variable(name: string): { readonly value: string; readonly origin: string } | undefined;
  /** What is at `path` (following symbolic links). */
  probe(path: string): Candidate;
}

/** Whether `mode` allows anyone to execute (root may run a file with any execute bit). */
export function isExecutable(mode: number): boolean {
  return (mode & 0o111) !== 0;
}

/** `0755`-style text of a mode's permission bits. */
export function modeText(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, "0")}`;
}

/**
 * The absolute path `search.name` resolves to.
 *
 * @throws {PlatformError} `invalid-command` for an empty name, `command-not-found` when no
 *   executable file is found, naming the directories searched and the cwd.
 */
export function findProgram(search: ProgramSearch): string {
  const { name, os } = search;
  const path = os === "windows" ? win32 : posix;
  if (name === "" || name.includes("\0")) {
    throw new PlatformError("invalid-command", `program name ${JSON.stringify(name)} is not valid`);
  }
  const cwd = path.resolve(search.launcherCwd, search.cwd ?? ".");
  const hasDirectory = os === "windows" ? /[\\/]|^[A-Za-z]:/.test(name) : name.includes("/");
  let dirs: string[];
  let where: string;
  if (hasDirectory) {
    dirs = [path.dirname(path.resolve(cwd, name))];
    where = `searched ${dirs[0]}`;
  } else {
    const variable = search.variable("PATH") ??
      (os === "linux" ? { value: DEFAULT_LINUX_PATH, origin: "the default PATH" } : undefined);
    const entries = (variable?.value ?? "").split(os === "windows" ? ";" : ":")
      .map((dir) => os === "windows" ? dir.replace(/^"(.*)"$/, "$1") : dir)
      .filter((dir) => dir !== "");
    dirs = entries.map((dir) => path.resolve(cwd, dir));
    where = dirs.length > 0
      ? `searched ${variable!.origin}: ${dirs.join(path.delimiter)}`
      : `${variable ? `${variable.origin} is empty` : "no PATH is set"}, so nothing was searched`;
  }
  const base = hasDirectory ? path.basename(name) : name;
  const refused: string[] = [];
  for (const dir of dirs) {
    for (const extension of extensionsFor(search, base)) {
      const candidate = path.join(dir, base + extension);
      const found = search.probe(candidate);
      if (found.kind === "file") {
        if (found.mode === undefined || isExecutable(found.mode)) return candidate;
        refused.push(`${candidate} has mode ${modeText(found.mode)}, no execute bit`);
      } else if (found.kind !== "missing" && hasDirectory) {
        refused.push(
          `${candidate} is ${found.kind === "directory" ? "a directory" : "not a file"}`,
        );
      }
    }
  }
  const headline = refused.length > 0 ? `cannot be started: ${refused.join("; ")}` : "not found";
  throw new PlatformError(
    "command-not-found",
    `program ${JSON.stringify(name)} ${headline} (${where}; cwd ${cwd})`,
  );
}

/** The suffixes tried for `base`: none on Linux or with an extension, else PATHEXT's. */
function extensionsFor(search: ProgramSearch, base: string): string[] {
  if (search.os !== "windows" || win32.extname(base) !== "") return [""];
  const value = search.variable("PATHEXT")?.value ?? DEFAULT_PATHEXT;
  // Lowercase, as most files are named: the file system does not care, people reading logs do.
  const extensions = value.split(";").map((e) => e.trim().toLowerCase())
    .filter((e) => e.startsWith("."));
  return extensions.length > 0 ? extensions : DEFAULT_PATHEXT.toLowerCase().split(";");
}

/**
 * The value and origin of variable `name` for a workload: its own `env` first, then the
 * launcher's environment (names compared case-insensitively on Windows).
 */
export function workloadVariable(
  env: Readonly<Record<string, string>>,
  name: string,
  os: "linux" | "windows",
  launcher: (name: string) => string | undefined = (n) => Deno.env.get(n),
): { readonly value: string; readonly origin: string } | undefined {
  const own = os === "windows"
    ? Object.entries(env).find(([key]) => key.toUpperCase() === name.toUpperCase())?.[1]
    : env[name];
  if (own !== undefined) return { value: own, origin: `the workload's ${name}` };
  const inherited = launcher(name);
  return inherited === undefined
    ? undefined
    : { value: inherited, origin: `the launcher's ${name}` };
}

/**
 * The absolute path of `spec`'s program on `os`, relative to the launcher's cwd and environment,
 * with `probe` telling what lies at a path.
 *
 * @throws {PlatformError} `invalid-command` or `command-not-found`.
 */
export function resolveWorkloadProgram(
  spec: ProgramSpec,
  os: "linux" | "windows",
  probe: (path: string) => Candidate,
): string {
  return findProgram({
    name: spec.command[0] ?? "",
    os,
    ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}),
    launcherCwd: Deno.cwd(),
    variable: (name) => workloadVariable(spec.env, name, os),
    probe,
  });
}

/** The refusal of a program at `path` whose digest is `actual`, not the one `spec` pins. */
export function digestMismatch(path: string, actual: string, spec: LaunchSpec): PlatformError {
  return new PlatformError(
    "digest-mismatch",
    `refusing to start ${path}: sha256 is ${actual}, ${
      spec.pinnedBy ?? "the config"
    } expects ${spec.sha256}`,
  );
}
