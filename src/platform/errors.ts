/**
 * Errors of the platform backends, Linux and Windows alike.
 *
 * Every error a backend throws on purpose is a {@linkcode PlatformError}, and its `kind` says
 * what went wrong, so callers branch on a field instead of parsing messages. Failed operating
 * system calls are {@linkcode SystemCallError}s (`LibcError` on Linux, `WindowsError` on
 * Windows) with one shape on both: the function, the raw code and the code's symbolic name.
 *
 * @module
 */

/**
 * How an operating system reported a failed call: its error code convention.
 *
 * See the {@linkcode PlatformError} example.
 */
export type SystemCallErrorKind =
  /** A libc call's `errno`. */
  | "errno"
  /** A Win32 error code (`GetLastError()`, or a `NETIO_STATUS` in user mode). */
  | "win32"
  /** A COM/HCN `HRESULT`. */
  | "hresult"
  /** An `NTSTATUS` (returned by some undocumented iphlpapi exports). */
  | "ntstatus";

/**
 * What went wrong in a backend. Resolution (`resolveAddress`, `openStatic`) fails with
 * `invalid-argument`, `unsupported`, `privilege`, `no-domain` or an `address-*` kind; a launch
 * fails with `unsupported`, `invalid-command`, `command-not-found`, `digest-mismatch`,
 * `unsafe-program`, `domain-changed`, `spawn` or `placement`; a failed system call keeps its code convention as its kind. `stranded` can
 * come from any of them and means the launcher itself can no longer be trusted.
 *
 * See the {@linkcode PlatformError} example.
 */
export type PlatformErrorKind =
  | SystemCallErrorKind
  /** The operating system, its build or the backend cannot do this (wrong OS, missing export). */
  | "unsupported"
  /** A value that cannot name what it should (not an IP address, a compartment id below 1). */
  | "invalid-argument"
  /** Missing privileges that the message names (root, CAP_SYS_ADMIN). */
  | "privilege"
  /** A static netns or compartment that does not exist or is not a network domain. */
  | "no-domain"
  /** The address is configured in no isolation domain. */
  | "address-not-found"
  /** The address is configured in more than one network namespace (Linux). */
  | "address-ambiguous"
  /** The address is configured but not usable yet (interface down, duplicate address detection). */
  | "address-not-ready"
  /** A command or environment no process can be started with (empty, too long, a NUL inside). */
  | "invalid-command"
  /** The program to start does not exist or is not executable. */
  | "command-not-found"
  /** The program's SHA-256 is not the pinned one; nothing was started. */
  | "digest-mismatch"
  /**
   * A pinned program that others than root could change after its digest was checked (not
   * owned by root, writable by group or others), or a file that cannot be pinned at all.
   */
  | "unsafe-program"
  /** The domain's path now names another domain than the one resolved (the pod restarted). */
  | "domain-changed"
  /** The operating system refused to start the process. */
  | "spawn"
  /** The process started, but not provably inside its domain; it has been killed. */
  | "placement"
  /** An answer of the system that makes no sense (a malformed netlink message, a NULL handle). */
  | "protocol"
  /**
   * The launcher's own thread could not return from a workload's domain. Anything it does
   * next would happen in the wrong network, so the only safe reaction is to exit.
   */
  | "stranded";

/**
 * An error of a platform backend; `kind` says what went wrong.
 *
 * @example Branch on what went wrong
 * ```ts
 * import { createPlatform, isPlatformError, SystemCallError } from "@cplauncher/cplauncher";
 *
 * const platform = await createPlatform();
 * try {
 *   await platform.openStatic({ netns: "/var/run/netns/lab" });
 * } catch (error) {
 *   if (isPlatformError(error, "no-domain")) console.error(`no such namespace: ${error.message}`);
 *   else if (error instanceof SystemCallError) console.error(`${error.fn}: ${error.codeName}`);
 *   else throw error;
 * }
 * ```
 */
export class PlatformError extends Error {
  /** What went wrong. */
  readonly kind: PlatformErrorKind;

  /**
   * Create an error of `kind`.
   *
   * @param kind what went wrong
   * @param message one line for the operator
   * @param options the underlying error, if any, as `cause`
   */
  constructor(kind: PlatformErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PlatformError";
    this.kind = kind;
  }
}

/**
 * A failed operating system call: which function, which code, and the code's name.
 *
 * See the {@linkcode PlatformError} example.
 */
export class SystemCallError extends PlatformError {
  /** The code convention of `code`. */
  declare readonly kind: SystemCallErrorKind;
  /** The function that failed, e.g. `setns` or `CreateProcessW`. */
  readonly fn: string;
  /** The raw code: an `errno`, or an unsigned Win32 code, `HRESULT` or `NTSTATUS`. */
  readonly code: number;
  /** The code's symbolic name, e.g. `EPERM` or `ERROR_INVALID_PARAMETER`. */
  readonly codeName: string;

  /**
   * Create an error for `fn` failing with `code`.
   *
   * @param kind the code convention
   * @param fn the function that failed
   * @param code the raw code
   * @param codeName the code's symbolic name
   * @param message the full message
   */
  constructor(
    kind: SystemCallErrorKind,
    fn: string,
    code: number,
    codeName: string,
    message: string,
  ) {
    super(kind, message);
    this.name = "SystemCallError";
    this.fn = fn;
    this.code = code;
    this.codeName = codeName;
  }
}

/** Whether `e` is a {@linkcode PlatformError} of one of `kinds`. */
export function isPlatformError(
  e: unknown,
  ...kinds: readonly PlatformErrorKind[]
): e is PlatformError {
  return e instanceof PlatformError && (kinds.length === 0 || kinds.includes(e.kind));
}
