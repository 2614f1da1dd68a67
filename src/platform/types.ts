/**
 * The contract between the supervisor and an operating system backend.
 *
 * A backend knows how to turn an anchor (a pod IP, a static netns path or a static
 * compartment id) into an {@linkcode IsolationDomain}, and how to start a process inside
 * one. Everything OS-specific (FFI, /proc, Win32) stays behind this interface.
 *
 * @module
 */

/**
 * A network isolation domain: a Linux network namespace or a Windows network compartment.
 *
 * See the {@linkcode createPlatform} example.
 */
export type IsolationDomain = NetnsDomain | CompartmentDomain;

/**
 * A Linux network namespace, identified by the inode of its nsfs file.
 *
 * See the {@linkcode createPlatform} example.
 */
export interface NetnsDomain {
  /** Discriminator. */
  readonly kind: "netns";
  /** A path that opens the namespace (`/var/run/netns/x` or `/proc/PID/ns/net`). */
  readonly path: string;
  /** Inode number of the namespace; equal inodes mean the same namespace. */
  readonly inode: number;
}

/**
 * A Windows network compartment.
 *
 * See the {@linkcode createPlatform} example.
 */
export interface CompartmentDomain {
  /** Discriminator. */
  readonly kind: "compartment";
  /** The compartment id (1 is the host's default compartment). */
  readonly id: number;
  /** How the id was found, for the audit log: `static`, `hcn` or `scan`. */
  readonly source: "static" | "hcn" | "scan";
}

/**
 * What to start.
 *
 * See the {@linkcode createPlatform} example.
 */
export interface LaunchSpec {
  /** Workload name, used in logs and errors. */
  readonly name: string;
  /** argv; `command[0]` is the program. */
  readonly command: readonly string[];
  /** Extra environment variables, added to the launcher's own environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Working directory, or undefined for the launcher's. */
  readonly cwd?: string;
  /** Windows only: `job` (default) or `self`. */
  readonly windowsStrategy?: "job" | "self";
  /** Windows `self` strategy: name of the variable carrying the compartment id. */
  readonly compartmentEnvName?: string;
  /**
   * Wait for the whole process tree: `status` settles (with the workload's own exit status)
   * only when every process the workload started has exited too, and whatever remains is
   * killed if the launcher dies. `terminate` and `kill` then reach the whole tree.
   */
  readonly waitTree?: boolean;
  /**
   * Lowercase hex SHA-256 the program must have. The backend hashes the very file it starts,
   * from a handle it keeps until the process runs it, and refuses (`digest-mismatch`) to start
   * anything else; absent: not checked.
   */
  readonly sha256?: string;
  /** Where {@linkcode LaunchSpec.sha256} comes from, for the refusal message (`the config`). */
  readonly pinnedBy?: string;
  /**
   * Linux, with `sha256`: `root` (the default) refuses (`unsafe-program`) a program that is not
   * owned by root or that group or others may write, because whoever can write it can change
   * it after its digest was checked; `any` skips that check.
   */
  readonly programOwner?: ProgramOwner;
}

/**
 * Who may own a pinned program (see {@linkcode LaunchSpec.programOwner}).
 *
 * See the {@linkcode ProgramSpec} example.
 */
export type ProgramOwner = "root" | "any";

/**
 * What names a workload's program: the fields of a {@linkcode LaunchSpec} that find it.
 *
 * @example The digest to pin for a workload's program
 * ```ts
 * import { createPlatform, type ProgramSpec } from "@cplauncher/cplauncher";
 *
 * const platform = await createPlatform();
 * const spec: ProgramSpec = {
 *   name: "web",
 *   command: ["web", "--port", "8080"],
 *   env: {},
 *   cwd: "/opt/web",
 *   programOwner: "root",
 * };
 * const program = await platform.inspectProgram(spec);
 * console.log(`${program.path}: sha256 ${program.sha256}`);
 * ```
 */
export type ProgramSpec = Pick<LaunchSpec, "name" | "command" | "env" | "cwd" | "programOwner">;

/**
 * The file a launch runs, as the backend resolved it.
 *
 * See the {@linkcode createPlatform} example.
 */
export interface ResolvedProgram {
  /** Absolute path the program was found at (`command[0]` resolved against cwd and PATH). */
  readonly path: string;
  /** Its SHA-256, when it was checked against a pinned digest (lowercase hex). */
  readonly sha256?: string;
}

/**
 * How a process ended.
 *
 * See the {@linkcode createPlatform} example.
 */
export interface ExitStatus {
  /** Exit code; for a signal death on Linux, 128 + signal number. */
  readonly code: number;
  /** Signal name if a signal ended it (Linux), else null. */
  readonly signal: string | null;
}

/**
 * A started workload process.
 *
 * See the {@linkcode createPlatform} example.
 */
export interface LaunchedProcess {
  /** Operating-system process id. */
  readonly pid: number;
  /** The file that was started, and its verified digest when one was pinned. */
  readonly program: ResolvedProgram;
  /** Raw stdout bytes of the child. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** Raw stderr bytes of the child. */
  readonly stderr: ReadableStream<Uint8Array>;
  /** Resolves once the child has exited. */
  readonly status: Promise<ExitStatus>;
  /** Ask the child to stop (SIGTERM on Linux, Ctrl-Break on Windows). */
  terminate(): void;
  /** Stop the child and everything it started, now. */
  kill(): void;
}

/**
 * Options for waiting on resolution.
 *
 * See the {@linkcode createPlatform} example.
 */
export interface ResolveOptions {
  /** Give up when this signal aborts (the anchor's timeout). */
  readonly signal?: AbortSignal;
}

/**
 * An operating-system backend. Its methods reject rather than throw, and every failure they
 * foresee is a `PlatformError` (`errors.ts`), whose `kind` tells a resolution failure from a
 * launch failure, and a `stranded` launcher from everything else.
 *
 * See the {@linkcode createPlatform} example.
 */
export interface PlatformBackend {
  /** `linux` or `windows`. */
  readonly os: "linux" | "windows";
  /**
   * Find the domain that owns `ip`, waiting (bounded by `options.signal`) until the address
   * is configured and usable there.
   */
  resolveAddress(ip: string, options?: ResolveOptions): Promise<IsolationDomain>;
  /** Open a statically configured domain and check that it exists. */
  openStatic(
    anchor: { netns: string } | { compartment: number },
  ): Promise<IsolationDomain>;
  /**
   * Start `spec` inside `domain` and verify it landed there. `command[0]` is resolved once,
   * here (relative to `cwd`, on the PATH of the workload's environment); with `sha256` the
   * digest covers exactly the file that is started.
   */
  launch(domain: IsolationDomain, spec: LaunchSpec): Promise<LaunchedProcess>;
  /**
   * Resolve `spec`'s program the way {@linkcode launch} does and hash it, starting nothing
   * (for recording and checking pinned digests). Applies the `programOwner` check.
   */
  inspectProgram(spec: ProgramSpec): Promise<Required<ResolvedProgram>>;
  /**
   * Whether a process of `child` listens on TCP `port` inside `domain` (and not outside it).
   * Returns `inside` and `outside` flags so callers can report a wrong placement.
   */
  listening(
    domain: IsolationDomain,
    child: LaunchedProcess,
    port: number,
  ): Promise<{ inside: boolean; outside: boolean }>;
  /**
   * Does the backend's one-time work ahead of the first resolution and launch (loading
   * system libraries, a first pass over the node's domains, checking helper programs), so
   * that an anchor becoming ready is answered at full speed. The supervisor calls it while
   * it waits for an anchor; later calls return the first call's promise. Optional.
   */
  warmUp?(): Promise<void>;
}
