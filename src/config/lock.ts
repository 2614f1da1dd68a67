/**
 * The lock file: the SHA-256 of each workload's program, recorded by `cplauncher plan --pin`
 * next to the config (`compartments.yaml` → `compartments.lock`) and enforced by
 * `cplauncher run`, the way package managers record and enforce dependency digests.
 *
 * ```yaml
 * lockVersion: 1
 * platform: linux
 * workloads:
 *   server:
 *     program: /opt/app/server
 *     sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
 * ```
 *
 * @module
 */
import { isMap, LineCounter, parseDocument, stringify } from "yaml";
import { z } from "zod";
import { ConfigError, type ConfigIssue, formatPath } from "./errors.ts";

/** The lock file format this build reads and writes. */
export const LOCK_VERSION = 1;

/**
 * One workload's recorded program.
 *
 * See the {@linkcode readLock} example.
 */
export interface LockEntry {
  /** The absolute path the program was resolved to when it was recorded. */
  readonly program: string;
  /** Its SHA-256, lowercase hex. */
  readonly sha256: string;
}

/**
 * A lock file's content, and where it is.
 *
 * See the {@linkcode readLock} and {@linkcode Supervisor} examples.
 */
export interface ProgramLock {
  /** Path of the lock file. */
  readonly path: string;
  /** The operating system the programs were resolved and hashed on. */
  readonly platform: "linux" | "windows";
  /** Recorded programs by workload name. */
  readonly workloads: Readonly<Record<string, LockEntry>>;
}

const lockSchema = z.strictObject({
  lockVersion: z.literal(LOCK_VERSION, `lockVersion must be ${LOCK_VERSION}`),
  platform: z.enum(["linux", "windows"]),
  workloads: z.record(
    z.string(),
    z.strictObject({
      program: z.string().min(1),
      sha256: z.string().regex(/^[0-9a-f]{64}$/, "sha256 must be 64 lowercase hex digits"),
    }),
  ),
});

/**
 * The lock file that belongs to the config at `configPath`: same directory and name, `.lock`.
 *
 * @example The lock next to a config
 * ```ts
 * import { lockPathFor } from "@cplauncher/cplauncher";
 *
 * const path = lockPathFor("/etc/cplauncher/compartments.yaml");
 * if (path !== "/etc/cplauncher/compartments.lock") throw new Error(path);
 * ```
 */
export function lockPathFor(configPath: string): string {
  const slash = Math.max(configPath.lastIndexOf("/"), configPath.lastIndexOf("\\"));
  const dir = configPath.slice(0, slash + 1);
  const base = configPath.slice(slash + 1).replace(/\.ya?ml$/i, "");
  return `${dir}${base || "compartments"}.lock`;
}

/** The name of a lock file without its directory, for messages. */
export function lockName(lock: Pick<ProgramLock, "path">): string {
  return lock.path.slice(Math.max(lock.path.lastIndexOf("/"), lock.path.lastIndexOf("\\")) + 1);
}

/**
 * Reads the lock file at `path`; undefined when there is none.
 *
 * @throws {ConfigError} when it cannot be read or is not a valid lock file.
 *
 * @example List the pinned programs of a config
 * ```ts
 * import { lockPathFor, readLock } from "@cplauncher/cplauncher";
 *
 * const lock = await readLock(lockPathFor("compartments.yaml"));
 * for (const [workload, entry] of Object.entries(lock?.workloads ?? {})) {
 *   console.log(`${workload}: ${entry.program} sha256 ${entry.sha256} (${lock?.platform})`);
 * }
 * ```
 *
 * Pass the lock to {@linkcode Supervisor} (`lock`) to enforce it; see its example.
 */
export async function readLock(path: string): Promise<ProgramLock | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw lockError(path, 1, 1, "(document)", `cannot read the lock file: ${messageOf(error)}`);
  }
  return parseLock(text, path);
}

/**
 * Parses lock file text.
 *
 * @throws {ConfigError} with the position of every problem.
 */
export function parseLock(text: string, path: string): ProgramLock {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, logLevel: "silent" });
  const at = (offset: number | undefined) => lines.linePos(Math.max(0, offset ?? 0));
  if (doc.errors.length > 0) {
    const { line, col } = at(doc.errors[0].pos[0]);
    throw lockError(path, line, col, "(document)", `YAML ${doc.errors[0].message.split("\n")[0]}`);
  }
  const parsed = lockSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const hint = " (record it again with `cplauncher plan --pin`)";
    throw new ConfigError(parsed.error.issues.map((issue): ConfigIssue => {
      const keys = issue.path.map((p) => typeof p === "number" ? p : String(p));
      const node = doc.getIn(keys, true) as { range?: [number, number, number] } | undefined;
      const parent = isMap(doc.contents) ? doc.contents.range?.[0] : undefined;
      const { line, col } = at(node?.range?.[0] ?? parent);
      return {
        file: path,
        line,
        column: col,
        path: formatPath(keys),
        message: `${issue.message}${hint}`,
      };
    }));
  }
  return { path, platform: parsed.data.platform, workloads: parsed.data.workloads };
}

/** The text of `lock`: a comment saying what it is, then its YAML. */
export function formatLock(lock: ProgramLock): string {
  const workloads = Object.fromEntries(
    Object.entries(lock.workloads).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
      .map(([name, entry]) => [name, { program: entry.program, sha256: entry.sha256 }]),
  );
  return [
    "# The SHA-256 of each workload's program, recorded by `cplauncher plan --pin`;",
    "# `cplauncher run` refuses to start a program with another digest. Record again after",
    "# updating a program. Do not edit by hand.",
    stringify({ lockVersion: LOCK_VERSION, platform: lock.platform, workloads }),
  ].join("\n");
}

/** Writes `lock` to its path atomically: a reader sees the old file or the new one. */
export async function writeLock(lock: ProgramLock): Promise<void> {
  const temporary = `${lock.path}.${Deno.pid}.tmp`;
  try {
    await Deno.writeTextFile(temporary, formatLock(lock));
    await Deno.rename(temporary, lock.path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw lockError(
      lock.path,
      1,
      1,
      "(document)",
      `cannot write the lock file: ${messageOf(error)}`,
    );
  }
}

function lockError(
  file: string,
  line: number,
  column: number,
  path: string,
  message: string,
): ConfigError {
  return new ConfigError([{ file, line, column, path, message }]);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
