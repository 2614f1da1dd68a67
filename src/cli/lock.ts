/**
 * The lock file in the CLI: `run` loads and enforces it, `plan --pin` records it, `validate`
 * checks it against the programs on this node (see `src/config/lock.ts` for the file).
 *
 * @module
 */
import {
  type Config,
  type LockEntry,
  lockName,
  lockPathFor,
  type ProgramLock,
  readLock,
  SHA256_AUTO,
  type Workload,
} from "../config/mod.ts";
import type { PlatformBackend, ProgramSpec } from "../platform/mod.ts";
import { CliError, EXIT_LAUNCH, EXIT_USAGE } from "./exit_codes.ts";

/** What finds workload `name`'s program, as the supervisor would launch it. */
export function programSpec(name: string, workload: Workload): ProgramSpec {
  return {
    name,
    command: workload.command,
    env: workload.env,
    ...(workload.cwd ? { cwd: workload.cwd } : {}),
    ...(workload.programOwner ? { programOwner: workload.programOwner } : {}),
  };
}

function entryOf(lock: ProgramLock | undefined, name: string): LockEntry | undefined {
  return lock && Object.hasOwn(lock.workloads, name) ? lock.workloads[name] : undefined;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}

/**
 * The lock file `run` enforces for `config` (undefined when there is none), after checking
 * that it was recorded on this operating system and pins every selected `sha256: auto`
 * workload.
 *
 * @throws {CliError} exit 2 for a lock file of another operating system, exit 4 for an `auto`
 *   workload it does not pin; a `ConfigError` for a malformed lock file.
 */
export async function lockForRun(
  config: Config,
  configPath: string,
  workloads: readonly string[] | undefined,
  os: "linux" | "windows",
): Promise<ProgramLock | undefined> {
  const path = lockPathFor(configPath);
  const lock = await readLock(path);
  if (lock && lock.platform !== os) {
    throw new CliError(
      `${path} was recorded on ${lock.platform}, this is ${os}; record it on this node with ` +
        `\`cplauncher plan --pin -c ${configPath}\``,
      EXIT_USAGE,
    );
  }
  const selected = workloads && workloads.length > 0 ? workloads : Object.keys(config.workloads);
  for (const name of selected) {
    if (!Object.hasOwn(config.workloads, name)) continue; // the supervisor names it
    if (config.workloads[name].sha256 !== SHA256_AUTO || entryOf(lock, name)) continue;
    throw new CliError(
      `workload ${name}: sha256 is auto, but ${
        lock ? `${path} has no entry for it` : `there is no ${path}`
      }; record it with \`cplauncher plan --pin -c ${configPath}\``,
      EXIT_LAUNCH,
    );
  }
  return lock;
}

/** What `plan --pin` found. */
export interface PinResult {
  /** The lock to write, when every workload's program could be recorded. */
  readonly lock?: ProgramLock;
  /** One line per workload that could not be recorded. */
  readonly problems: readonly string[];
}

/**
 * Resolves and hashes every workload's program on this node for the lock file of the config
 * at `configPath`. A workload whose config gives a digest is recorded too, after checking it.
 */
export async function recordPins(
  config: Config,
  configPath: string,
  platform: PlatformBackend,
): Promise<PinResult> {
  const entries: Record<string, LockEntry> = {};
  const problems: string[] = [];
  for (const [name, workload] of Object.entries(config.workloads)) {
    let found;
    try {
      found = await platform.inspectProgram(programSpec(name, workload));
    } catch (error) {
      problems.push(`workload ${name}: ${firstLine(error)}`);
      continue;
    }
    const configured = workload.sha256;
    if (configured !== undefined && configured !== SHA256_AUTO && configured !== found.sha256) {
      problems.push(
        `workload ${name}: ${found.path} has sha256 ${found.sha256}, the config expects ${configured}`,
      );
      continue;
    }
    entries[name] = { program: found.path, sha256: found.sha256 };
  }
  if (problems.length > 0) return { problems };
  return {
    lock: { path: lockPathFor(configPath), platform: platform.os, workloads: entries },
    problems,
  };
}

/** What `validate` found in a lock file. */
export interface LockCheck {
  /** The lock file's path. */
  readonly path: string;
  /** Entries compared with the programs on this node. */
  readonly checked: number;
  /** One line per stale or missing entry. */
  readonly problems: readonly string[];
  /** Why nothing could be compared, when that is so. */
  readonly skipped?: string;
}

/**
 * Compares the lock file of the config at `configPath` with the programs on this node: an
 * entry is stale when its workload is gone, its program now resolves elsewhere or has another
 * digest; an `auto` workload without an entry is reported too. Undefined when the config uses
 * no lock file. `backend` is asked for only when there are entries to compare.
 */
export async function checkLock(
  config: Config,
  configPath: string,
  backend: () => Promise<PlatformBackend>,
): Promise<LockCheck | undefined> {
  const path = lockPathFor(configPath);
  const lock = await readLock(path);
  const auto = Object.entries(config.workloads).filter(([, w]) => w.sha256 === SHA256_AUTO);
  if (!lock) {
    if (auto.length === 0) return undefined;
    return {
      path,
      checked: 0,
      problems: auto.map(([name]) =>
        `workload ${name}: sha256 is auto, but there is no ${lockName({ path })}; record it ` +
        "with `cplauncher plan --pin`"
      ),
    };
  }
  if (lock.platform !== Deno.build.os) {
    return {
      path,
      checked: 0,
      problems: [],
      skipped: `recorded on ${lock.platform}; its entries can only be checked there`,
    };
  }
  const platform = await backend();
  const problems: string[] = [];
  let checked = 0;
  for (const name of Object.keys(lock.workloads)) {
    if (!Object.hasOwn(config.workloads, name)) {
      problems.push(`workload ${name}: stale entry: the config has no such workload`);
    }
  }
  for (const [name, workload] of Object.entries(config.workloads)) {
    const entry = entryOf(lock, name);
    if (!entry) {
      if (workload.sha256 === SHA256_AUTO) {
        problems.push(
          `workload ${name}: sha256 is auto, but the lock file has no entry for it; record it ` +
            "with `cplauncher plan --pin`",
        );
      }
      continue;
    }
    checked++;
    try {
      const found = await platform.inspectProgram(programSpec(name, workload));
      if (found.path !== entry.program) {
        problems.push(
          `workload ${name}: stale entry: the program is now ${found.path}, the lock file ` +
            `records ${entry.program}`,
        );
      } else if (found.sha256 !== entry.sha256) {
        problems.push(
          `workload ${name}: stale entry: ${found.path} has sha256 ${found.sha256}, the lock ` +
            `file records ${entry.sha256}`,
        );
      }
    } catch (error) {
      problems.push(`workload ${name}: stale entry: ${firstLine(error)}`);
    }
  }
  return { path, checked, problems };
}
