/**
 * The file a Windows workload runs: found once (`../program.ts`) and, when its digest is
 * pinned, held so that nobody can change or replace it until the process exists.
 *
 * The pinned file is opened with `CreateFileW(GENERIC_READ, FILE_SHARE_READ)`. Sharing read
 * access only means that, while the handle is open, every other open asking for write or
 * delete access fails with a sharing violation: the file cannot be written, truncated,
 * deleted, renamed, or replaced by renaming another file over it (all of which need write or
 * `DELETE` access to it). Conversely the open fails while anybody else holds the file open for
 * writing or deleting. `CreateProcessW`'s own open of the image (read and execute access) is
 * compatible with that sharing mode. The digest is read through this handle, the process is
 * created from the same path, passed as `lpApplicationName` so that no second search takes
 * place, and the handle is closed only after `CreateProcessW` has returned; from then on the
 * running process's image section keeps the file from being written.
 *
 * A pinned program must be an `.exe` or `.com` image: `cmd.exe` reads a batch file while it
 * runs, after the handle has been closed, so no digest could cover what it executes.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { PlatformError } from "../errors.ts";
import { type Candidate, digestMismatch, resolveWorkloadProgram } from "../program.ts";
import type { LaunchSpec, ProgramSpec, ResolvedProgram } from "../types.ts";
import { closeHandle, kernel32, lastError } from "./kernel32.ts";
import { alloc, dv, wstr } from "./memory.ts";
import { W } from "./structs.ts";

/** Bytes hashed per `ReadFile`. */
const CHUNK = 1 << 20;
/** `INVALID_HANDLE_VALUE`, `(HANDLE)-1`, as the pointer value FFI returns. */
const INVALID_HANDLE_VALUE = 0xffff_ffff_ffff_ffffn;
/** Win32 codes with which `CreateFileW` says the file is not there. */
const NOT_THERE = new Set([2, /* ERROR_FILE_NOT_FOUND */ 3 /* ERROR_PATH_NOT_FOUND */]);
/** `ERROR_SHARING_VIOLATION`: somebody holds the file open in a way our sharing mode excludes. */
const ERROR_SHARING_VIOLATION = 32;
/** Extensions of files `CreateProcessW` maps as images. */
const IMAGE_EXTENSIONS = new Set([".exe", ".com"]);

function probe(path: string): Candidate {
  try {
    const info = Deno.statSync(path);
    return info.isFile ? { kind: "file" } : { kind: info.isDirectory ? "directory" : "other" };
  } catch {
    return { kind: "missing" };
  }
}

/**
 * The absolute path of `spec`'s program (see `../program.ts` for the rules).
 *
 * @throws {PlatformError} `invalid-command` or `command-not-found`.
 */
export function resolveProgram(spec: ProgramSpec): string {
  return resolveWorkloadProgram(spec, "windows", probe);
}

/** An open program file that nobody can write, rename or delete while it is held. */
export interface HeldProgram {
  /** The path it was opened at. */
  readonly path: string;
  /** Its SHA-256, read through the held handle (lowercase hex). */
  readonly sha256: string;
  /** Closes the handle (idempotent). */
  release(): void;
}

/**
 * Opens `path` sharing read access only and hashes it through that handle.
 *
 * @throws {PlatformError} `command-not-found` when it is not there, `spawn` while somebody
 *   holds it open for writing or deleting, `unsafe-program` when it cannot be read, a `win32`
 *   `WindowsError` for any other failure to open it.
 */
export async function holdProgram(path: string): Promise<HeldProgram> {
  const k = kernel32();
  const handle = k.CreateFileW(
    wstr(path),
    W.GENERIC_READ,
    W.FILE_SHARE_READ,
    null,
    W.OPEN_EXISTING,
    W.FILE_ATTRIBUTE_NORMAL,
    null,
  );
  if (handle === null || BigInt(Deno.UnsafePointer.value(handle)) === INVALID_HANDLE_VALUE) {
    const error = lastError("CreateFileW");
    if (NOT_THERE.has(error.code)) {
      throw new PlatformError(
        "command-not-found",
        `cannot open program ${path}: ${error.message}`,
        {
          cause: error,
        },
      );
    }
    if (error.code === ERROR_SHARING_VIOLATION) {
      // Somebody is writing, replacing or deleting it right now: worth another try later.
      throw new PlatformError(
        "spawn",
        `cannot start ${path} now: another process has it open for writing or deleting`,
        { cause: error },
      );
    }
    throw error;
  }
  let open = true;
  const release = () => {
    if (!open) return;
    open = false;
    closeHandle(handle);
  };
  try {
    return { path, sha256: await hashHandle(handle, path), release };
  } catch (error) {
    release();
    throw error;
  }
}

async function hashHandle(handle: Deno.PointerObject, path: string): Promise<string> {
  const hash = createHash("sha256");
  const chunk = alloc(CHUNK);
  const got = alloc(4);
  for (;;) {
    // The error code of a failed read is set on the worker thread, out of this thread's reach.
    if (await kernel32().ReadFile(handle, chunk, CHUNK, got, null) === 0) {
      throw new PlatformError("unsafe-program", `reading ${path} to hash it failed`);
    }
    const n = dv(got).getUint32(0, true);
    if (n === 0) return hash.digest("hex");
    hash.update(chunk.subarray(0, n));
  }
}

/** A program ready to be created, and what to release once `CreateProcessW` has returned. */
export interface PreparedProgram {
  /** The resolved file, with its verified digest when one was pinned. */
  readonly program: ResolvedProgram;
  /** Closes the held handle, if any (idempotent). */
  release(): void;
}

/**
 * Resolves `spec`'s program and, with `spec.sha256`, holds and hashes it.
 *
 * @throws {PlatformError} `command-not-found`, `unsafe-program` or `digest-mismatch`.
 */
export async function prepareProgram(spec: LaunchSpec): Promise<PreparedProgram> {
  const path = resolveProgram(spec);
  if (spec.sha256 === undefined) return { program: { path }, release() {} };
  const held = await holdPinnable(path);
  if (held.sha256 !== spec.sha256) {
    held.release();
    throw digestMismatch(path, held.sha256, spec);
  }
  return { program: { path, sha256: held.sha256 }, release: held.release };
}

/**
 * Resolves and hashes `spec`'s program as a pinned launch would, starting nothing.
 *
 * @throws {PlatformError} `invalid-command`, `command-not-found` or `unsafe-program`.
 */
export async function inspectProgram(spec: ProgramSpec): Promise<Required<ResolvedProgram>> {
  const held = await holdPinnable(resolveProgram(spec));
  held.release();
  return { path: held.path, sha256: held.sha256 };
}

function holdPinnable(path: string): Promise<HeldProgram> {
  const dot = path.lastIndexOf(".");
  const extension = dot > path.lastIndexOf("\\") ? path.slice(dot).toLowerCase() : "";
  if (!IMAGE_EXTENSIONS.has(extension)) {
    return Promise.reject(
      new PlatformError(
        "unsafe-program",
        `refusing to pin ${path}: only .exe and .com images can be pinned (cmd.exe reads a ` +
          "batch file while it runs, after the launcher's hold on it has ended)",
      ),
    );
  }
  return holdProgram(path);
}
