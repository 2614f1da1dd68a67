/**
 * The launcher's own log file, one per run, as the k2s launcher keeps them:
 * `cplauncher-<pid>-<unix seconds>.log` under `%SystemDrive%\var\log\cplauncher` (Windows) or
 * `/var/log/cplauncher` (Linux), older files pruned by count and, optionally, by age.
 *
 * The path and pruning rules are pure functions; {@linkcode LauncherLogFile} does the I/O.
 *
 * @module
 */
import { writeAll } from "../log/mod.ts";

/** File names the launcher logs under (k2s's own files match too, so they are pruned alike). */
const LOG_FILE = /^cplauncher-.*\.log$/;

/** The default log directory on `os`, given the environment (`SystemDrive` on Windows). */
export function defaultLauncherLogDir(
  os: "linux" | "windows",
  env: (name: string) => string | undefined,
): string {
  if (os === "linux") return "/var/log/cplauncher";
  const drive = (env("SystemDrive") || "C:").replace(/[\\/]+$/, "");
  return `${drive}\\var\\log\\cplauncher`;
}

/** `cplauncher-<pid>-<unix seconds>.log`. */
export function launcherLogName(pid: number, unixSeconds: number): string {
  return `cplauncher-${pid}-${Math.floor(unixSeconds)}.log`;
}

/** A file in the log directory, as far as pruning cares. */
export interface LogFileEntry {
  /** File name within the log directory. */
  readonly name: string;
  /** Last modification, ms since the epoch. */
  readonly mtimeMs: number;
}

/** How many older log files to keep, and how old they may get. */
export interface LogRetention {
  /** Files kept besides the current one (negative counts as 0). */
  readonly keep: number;
  /** Also delete kept files older than this. */
  readonly maxAgeMs?: number;
}

/**
 * The names to delete: of the launcher log files other than `current`, all but the `keep`
 * newest, and, with `maxAgeMs`, any older than that.
 */
export function logsToPrune(
  files: readonly LogFileEntry[],
  current: string,
  retention: LogRetention,
  nowMs: number,
): string[] {
  const keep = Math.max(0, retention.keep);
  const candidates = files
    .filter((f) => f.name !== current && LOG_FILE.test(f.name))
    .sort((a, b) => b.mtimeMs - a.mtimeMs || b.name.localeCompare(a.name));
  return candidates
    .filter((f, index) =>
      index >= keep || (retention.maxAgeMs !== undefined && nowMs - f.mtimeMs > retention.maxAgeMs)
    )
    .map((f) => f.name);
}

/** Whether a log line (text or JSON format) is an error or fatal record. */
export function isErrorRecord(line: string): boolean {
  return /^\S+ (ERROR|FATAL) /.test(line) || /"level":"(error|fatal)"/.test(line);
}

/** The lines to show after a fatal error: the last `max` error records. */
export function excerptLines(text: string, max: number): string[] {
  return text.split("\n").filter(isErrorRecord).slice(-max);
}

/** The outcome of {@linkcode LauncherLogFile.prune}. */
export interface PruneResult {
  /** Paths deleted. */
  readonly removed: readonly string[];
  /** Paths that could not be deleted, with why. */
  readonly failed: readonly { path: string; message: string }[];
}

/** An open launcher log file. */
export class LauncherLogFile {
  /** Full path of the file. */
  readonly path: string;
  readonly #dir: string;
  readonly #name: string;
  #file: Deno.FsFile | undefined;

  private constructor(dir: string, name: string, file: Deno.FsFile) {
    this.#dir = dir;
    this.#name = name;
    this.path = joinPath(dir, name);
    this.#file = file;
  }

  /**
   * Creates `dir` if needed and opens this run's file in it.
   *
   * @throws the file system's error when the directory or file cannot be created.
   */
  static open(dir: string, pid = Deno.pid, nowMs = Date.now()): LauncherLogFile {
    Deno.mkdirSync(dir, { recursive: true });
    const name = launcherLogName(pid, nowMs / 1000);
    const file = Deno.openSync(joinPath(dir, name), { create: true, append: true });
    return new LauncherLogFile(dir, name, file);
  }

  /** Appends bytes; after a write error the file is given up silently (logging must not fail). */
  write(bytes: Uint8Array): void {
    if (!this.#file) return;
    try {
      writeAll(this.#file, bytes);
    } catch {
      this.close();
    }
  }

  /** Deletes older log files beyond `retention`. Never throws. */
  prune(retention: LogRetention, nowMs = Date.now()): PruneResult {
    const entries: LogFileEntry[] = [];
    try {
      for (const entry of Deno.readDirSync(this.#dir)) {
        if (!entry.isFile || !LOG_FILE.test(entry.name)) continue;
        try {
          const mtime = Deno.statSync(joinPath(this.#dir, entry.name)).mtime;
          entries.push({ name: entry.name, mtimeMs: mtime?.getTime() ?? 0 });
        } catch { /* removed meanwhile */ }
      }
    } catch (error) {
      return { removed: [], failed: [{ path: this.#dir, message: messageOf(error) }] };
    }
    const removed: string[] = [];
    const failed: { path: string; message: string }[] = [];
    for (const name of logsToPrune(entries, this.#name, retention, nowMs)) {
      const path = joinPath(this.#dir, name);
      try {
        Deno.removeSync(path);
        removed.push(path);
      } catch (error) {
        failed.push({ path, message: messageOf(error) });
      }
    }
    return { removed, failed };
  }

  /** The lines of this run's file to show after a fatal error (see {@linkcode excerptLines}). */
  excerpt(max: number): string[] {
    try {
      return excerptLines(Deno.readTextFileSync(this.path), max);
    } catch {
      return [];
    }
  }

  /** Closes the file. */
  close(): void {
    try {
      this.#file?.close();
    } catch { /* already closed */ }
    this.#file = undefined;
  }
}

function joinPath(dir: string, name: string): string {
  const separator = dir.includes("\\") && !dir.includes("/") ? "\\" : "/";
  return dir.endsWith(separator) ? `${dir}${name}` : `${dir}${separator}${name}`;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
