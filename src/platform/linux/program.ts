/**
 * The file a Linux workload runs: found once (`../program.ts`), and, when its digest is
 * pinned, opened, checked, hashed and started through that one open file.
 *
 * How the pinned file is started: the launcher opens it (`O_RDONLY|O_CLOEXEC`), hashes that
 * descriptor, and has the child exec `/proc/<launcher pid>/fd/<fd>`. The kernel resolves that
 * magic link to the launcher's open file itself, not to a name, so renaming another file over
 * the program's path after the open changes nothing: what runs is the inode that was hashed.
 * The descriptor stays open in the launcher until the workload has exited, because a `#!`
 * script is started by the kernel handing that same path to the interpreter, which opens it
 * only once it runs. Alternatives, and why not:
 *
 * - `/proc/self/fd/<fd>` in the child needs the descriptor to survive the child's exec(s):
 *   `setpriv` first, then the program. With `O_CLOEXEC` it is gone by then (and a script's
 *   interpreter fails with ENOENT); without it, every process the launcher starts inherits it.
 * - `fexecve`/`execveat(AT_EMPTY_PATH)` would need code in the child between fork and exec,
 *   which `Deno.Command` does not offer, and have the same close-on-exec problem for scripts.
 *
 * The price: the program's `argv[0]` (a script's `$0`) is the `/proc/…/fd/…` path. Programs
 * that locate themselves through `/proc/self/exe` or by resolving `argv[0]` (`readlink -f
 * "$0"`) still get the real path; programs that choose a behaviour by the name in `argv[0]`
 * (multi-call binaries such as busybox) do not get their name.
 *
 * An open descriptor does not stop writes into the same file. So, by default, a pinned program
 * must be owned by root and writable by neither group nor others (POSIX ACLs cannot grant more
 * than the group bits, which are the ACL mask): then only root can change the bytes between
 * the hash and the exec. `programOwner: any` turns that check off.
 *
 * Everything here goes through libc rather than Deno's file system API, which refuses
 * `/proc/*\/fd` paths to anything less than `--allow-all`.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { PlatformError } from "../errors.ts";
import {
  type Candidate,
  digestMismatch,
  isExecutable,
  modeText,
  resolveWorkloadProgram,
} from "../program.ts";
import type { LaunchSpec, ProgramOwner, ProgramSpec, ResolvedProgram } from "../types.ts";
import { check, closeFd, cString, libc, O_CLOEXEC, O_RDONLY } from "./libc.ts";

/** `O_NONBLOCK`: opening a FIFO swapped in for the program must not hang the launcher. */
const O_NONBLOCK = 0o4000;
/** `AT_FDCWD`: `statx` paths relative to the cwd. */
const AT_FDCWD = -100;
/** `AT_EMPTY_PATH`: `statx` of the descriptor itself. */
const AT_EMPTY_PATH = 0x1000;
/** `STATX_BASIC_STATS`. */
const STATX_BASIC_STATS = 0x7ff;
/** `sizeof(struct statx)`, the same on every architecture. */
const STATX_SIZE = 256;
/** Offsets in `struct statx` (`<linux/stat.h>`). */
const STATX = { uid: 20, mode: 28 } as const;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
/** Bytes hashed per read. */
const CHUNK = 1 << 20;

/** What `statx` reports about a file, as far as pinning cares. */
export interface FileStatus {
  /** Owner. */
  readonly uid: number;
  /** `st_mode`: type and permission bits. */
  readonly mode: number;
}

function statx(dirFd: number, path: string, flags: number, what: string): FileStatus {
  const buffer = new Uint8Array(STATX_SIZE);
  check("statx", libc().statx(dirFd, cString(path), flags, STATX_BASIC_STATS, buffer), what);
  const view = new DataView(buffer.buffer);
  return { uid: view.getUint32(STATX.uid, true), mode: view.getUint16(STATX.mode, true) };
}

/** What lies at `path`, following symbolic links; anything unreadable counts as missing. */
function probe(path: string): Candidate {
  let status: FileStatus;
  try {
    status = statx(AT_FDCWD, path, 0, path);
  } catch {
    return { kind: "missing" };
  }
  const type = status.mode & S_IFMT;
  if (type === S_IFREG) return { kind: "file", mode: status.mode };
  return { kind: type === S_IFDIR ? "directory" : "other" };
}

/**
 * The absolute path of `spec`'s program (see `../program.ts` for the rules).
 *
 * @throws {PlatformError} `invalid-command` or `command-not-found`.
 */
export function resolveProgram(spec: ProgramSpec): string {
  return resolveWorkloadProgram(spec, "linux", probe);
}

/** A program ready to be started: what to exec, and what to release once it has ended. */
export interface PreparedProgram {
  /** The resolved file, with its verified digest when one was pinned. */
  readonly program: ResolvedProgram;
  /** The path to exec: the resolved path, or the launcher's `/proc` path of the pinned file. */
  readonly execPath: string;
  /** Closes the pinned file's descriptor (idempotent); call once the workload has exited. */
  release(): void;
}

/**
 * Resolves `spec`'s program and, with `spec.sha256`, opens, checks and hashes it.
 *
 * @throws {PlatformError} `command-not-found`, `unsafe-program` or `digest-mismatch`.
 */
export async function prepareProgram(spec: LaunchSpec): Promise<PreparedProgram> {
  const path = resolveProgram(spec);
  if (spec.sha256 === undefined) return { program: { path }, execPath: path, release() {} };
  const pinned = await openPinned(path, spec.programOwner);
  if (pinned.sha256 !== spec.sha256) {
    closeFd(pinned.fd);
    throw digestMismatch(path, pinned.sha256, spec);
  }
  let open = true;
  return {
    program: { path, sha256: pinned.sha256 },
    execPath: `/proc/${Deno.pid}/fd/${pinned.fd}`,
    release() {
      if (!open) return;
      open = false;
      closeFd(pinned.fd);
    },
  };
}

/**
 * Resolves and hashes `spec`'s program as a pinned launch would, starting nothing.
 *
 * @throws {PlatformError} `invalid-command`, `command-not-found` or `unsafe-program`.
 */
export async function inspectProgram(spec: ProgramSpec): Promise<Required<ResolvedProgram>> {
  const path = resolveProgram(spec);
  const pinned = await openPinned(path, spec.programOwner);
  closeFd(pinned.fd);
  return { path, sha256: pinned.sha256 };
}

/** Opens `path`, checks what the descriptor refers to, and hashes it; the caller closes `fd`. */
async function openPinned(
  path: string,
  owner: ProgramOwner = "root",
): Promise<{ fd: number; sha256: string }> {
  let fd: number;
  try {
    fd = check("open", libc().open(cString(path), O_RDONLY | O_CLOEXEC | O_NONBLOCK), path);
  } catch (error) {
    throw new PlatformError(
      "command-not-found",
      `cannot open program ${path}: ${error instanceof Error ? error.message : error}`,
      { cause: error },
    );
  }
  try {
    // The descriptor, not the path: the checks and the hash must see the file that runs.
    const status = statx(fd, "", AT_EMPTY_PATH, path);
    const problem = pinningProblem(status, owner);
    if (problem) throw new PlatformError(problem.kind, `refusing to start ${path}: ${problem.why}`);
    return { fd, sha256: await hashDescriptor(fd, path) };
  } catch (error) {
    closeFd(fd);
    throw error;
  }
}

/** Why a file with `status` cannot be pinned under `owner`, if it cannot. */
export function pinningProblem(
  status: FileStatus,
  owner: ProgramOwner,
): { kind: "unsafe-program" | "command-not-found"; why: string } | undefined {
  const allow = "(programOwner: any allows it)";
  if ((status.mode & S_IFMT) !== S_IFREG) {
    return { kind: "unsafe-program", why: "it is not a regular file" };
  }
  if (!isExecutable(status.mode)) {
    return {
      kind: "command-not-found",
      why: `it has mode ${modeText(status.mode)}, no execute bit`,
    };
  }
  if (owner === "any") return undefined;
  if (status.uid !== 0) {
    return {
      kind: "unsafe-program",
      why: `it is owned by uid ${status.uid}, not root, who could change it after its digest ` +
        `was checked ${allow}`,
    };
  }
  if ((status.mode & 0o022) !== 0) {
    return {
      kind: "unsafe-program",
      why: `its mode ${modeText(status.mode)} lets ${
        (status.mode & 0o002) !== 0 ? "anyone" : "its group"
      } change it after its digest was checked ${allow}`,
    };
  }
  return undefined;
}

async function hashDescriptor(fd: number, path: string): Promise<string> {
  const hash = createHash("sha256");
  const chunk = new Uint8Array(CHUNK);
  let offset = 0;
  for (;;) {
    const n = Number(await libc().pread(fd, chunk, BigInt(CHUNK), BigInt(offset)));
    if (n < 0) {
      // The read ran on a worker thread, whose errno this thread cannot see.
      throw new PlatformError("unsafe-program", `reading ${path} to hash it failed at ${offset}`);
    }
    if (n === 0) return hash.digest("hex");
    hash.update(chunk.subarray(0, n));
    offset += n;
  }
}
