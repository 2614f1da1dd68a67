/**
 * Starting a workload inside a network namespace.
 *
 * `Deno.Command.spawn()` forks synchronously on the calling thread, and a forked child
 * inherits the *thread's* network namespace. So the launch is one synchronous sequence on
 * the calling thread: open the target namespace and a saved fd of the thread's own one,
 * `setns` in, spawn, `setns` back in a `finally`, close both fds. No `await` may appear in
 * that window: async ops run on other threads and the JS thread must never be left in
 * the wrong namespace. Afterwards the child's `/proc/PID/ns/net` inode is compared with the
 * target's; a child that did not land there is killed and the launch fails.
 *
 * No orphans: Deno.Command offers no pre-exec hook to call `prctl(PR_SET_PDEATHSIG)` in
 * the child, so the workload runs through util-linux `setpriv --pdeathsig KILL -- cmd…`.
 * setpriv sets the death signal and `exec`s the command in place, keeping the pid (and the
 * namespace) the verification looks at. The kernel sends the signal when the *thread* that
 * forked the child exits — here the launcher's JS thread, which lives as long as the
 * launcher — and the setting survives `exec` (setpriv is not setuid). Remaining gap: if the
 * launcher dies in the microseconds between fork and setpriv's `prctl`, the signal is not
 * armed. Without setpriv the workload runs directly and a warning says it may outlive a
 * SIGKILLed launcher.
 *
 * The program is resolved once, before any of this, by `program.ts`; a pinned one is started
 * through the launcher's open descriptor of the file whose digest was checked (see there).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { PlatformError } from "../errors.ts";
import type { ExitStatus, LaunchedProcess, LaunchSpec, NetnsDomain } from "../types.ts";
import { closeFd, openReadOnly, setnsNet } from "./libc.ts";
import { restore } from "./netns.ts";
import { widenChildOutputPipes } from "./pipes.ts";
import { isAlive, processTree } from "./proc.ts";
import { type PreparedProgram, prepareProgram, resolveProgram } from "./program.ts";
import { enableSubreaper, ProcessTree, rememberSpawn } from "./tree.ts";

const log = getLogger(["cplauncher", "linux"]);

/** Linux signal numbers, for the `128 + signal` exit code convention. */
const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGIOT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/** Maps a Deno child status to an {@linkcode ExitStatus} (signal deaths → 128 + signo). */
export function toExitStatus(s: Deno.CommandStatus): ExitStatus {
  if (s.signal !== null) return { code: 128 + (SIGNALS[s.signal] ?? 0), signal: s.signal };
  return { code: s.code, signal: null };
}

let setprivPath: string | null | undefined;
/** Path of util-linux `setpriv`, looked up once; null when missing. */
function findSetpriv(): string | null {
  if (setprivPath === undefined) {
    try {
      setprivPath = resolveProgram({ name: "setpriv", command: ["setpriv"], env: {} });
    } catch {
      setprivPath = null;
    }
    if (setprivPath === null) {
      log.warn(
        "setpriv (util-linux) not found on PATH: workloads run without a parent-death " +
          "signal and may outlive the launcher if it is SIGKILLed",
      );
    }
  }
  return setprivPath;
}

/**
 * Runs `setpriv --pdeathsig KILL -- setpriv --version` once: checks that this setpriv
 * supports the parent-death signal (an old util-linux does not, and would fail every launch)
 * and pays the first spawn's one-time cost before a workload waits on it.
 */
export async function checkSetpriv(): Promise<void> {
  const setpriv = findSetpriv();
  if (setpriv === null) return;
  let failure: string | undefined;
  try {
    const result = await new Deno.Command(setpriv, {
      args: ["--pdeathsig", "KILL", "--", setpriv, "--version"],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!result.success) failure = new TextDecoder().decode(result.stderr).trim();
  } catch (error) {
    failure = String(error);
  }
  if (failure !== undefined) {
    setprivPath = null;
    log.warn(
      "{setpriv} --pdeathsig does not work here ({failure}): workloads run without a " +
        "parent-death signal and may outlive the launcher if it is SIGKILLed",
      { setpriv, failure: failure.split("\n")[0] },
    );
  }
}

/** Timings of the last launch, for reporting. */
export interface LaunchTimings {
  /** Microseconds spent with the thread switched into the target namespace. */
  readonly switchedUs: number;
  /** Milliseconds for open + setns + spawn + restore + verify. */
  readonly totalMs: number;
}

/** A launched workload plus launch details. */
export interface LinuxLaunchedProcess extends LaunchedProcess {
  /**
   * The child's verified network namespace inode (equal to the domain's), or null when the
   * child had already exited before it could be checked.
   */
  readonly netnsInode: number | null;
  /** Whether the child runs under `setpriv --pdeathsig KILL`. */
  readonly pdeathsig: boolean;
  /** How long the launch took. */
  readonly timings: LaunchTimings;
}

/** Options of {@linkcode launchInNetns}, mainly for tests. */
export interface LaunchOptions {
  /** Run without `setpriv` even if it exists (default false). */
  readonly noPdeathsig?: boolean;
}

/**
 * Starts `spec` inside `domain` and verifies the child's network namespace.
 *
 * @throws {PlatformError} when the namespace is gone (`errno`) or changed (`domain-changed`),
 *   the command is not found (`command-not-found`), a pinned program is unsafe
 *   (`unsafe-program`) or has another digest (`digest-mismatch`), setns fails (`errno`; EPERM
 *   needs CAP_SYS_ADMIN), spawning fails (`spawn`), the child is not in the target namespace
 *   (`placement`) or the thread cannot return to its own namespace (`stranded`).
 */
export async function launchInNetns(
  domain: NetnsDomain,
  spec: LaunchSpec,
  options: LaunchOptions = {},
): Promise<LinuxLaunchedProcess> {
  if (spec.command.length === 0) {
    throw new PlatformError("invalid-command", `workload ${spec.name}: empty command`);
  }
  const prepared = await prepareProgram(spec);
  try {
    return spawnInNetns(domain, spec, prepared, options);
  } catch (error) {
    prepared.release();
    throw error;
  }
}

/** The synchronous part of {@linkcode launchInNetns}: nothing in here may `await`. */
function spawnInNetns(
  domain: NetnsDomain,
  spec: LaunchSpec,
  prepared: PreparedProgram,
  options: LaunchOptions,
): LinuxLaunchedProcess {
  const program = prepared.execPath;
  const setpriv = options.noPdeathsig ? null : findSetpriv();
  const argv = setpriv !== null
    ? [setpriv, "--pdeathsig", "KILL", "--", program, ...spec.command.slice(1)]
    : [program, ...spec.command.slice(1)];

  if (spec.waitTree) enableSubreaper();
  const t0 = performance.now();
  let child: Deno.ChildProcess;
  let switchedUs = 0;
  const targetFd = openReadOnly(domain.path);
  try {
    // Check the fd we hold, not the path, so a recycled /proc/PID can't fool us.
    const ino = Deno.statSync(`/proc/thread-self/fd/${targetFd}`).ino;
    if (ino !== domain.inode) {
      throw new PlatformError(
        "domain-changed",
        `workload ${spec.name}: ${domain.path} is now network namespace ${ino}, not the ` +
          `resolved ${domain.inode} (did the pod restart?)`,
      );
    }
    const savedFd = openReadOnly("/proc/thread-self/ns/net");
    try {
      const s0 = performance.now();
      setnsNet(targetFd, domain.path);
      // Nothing but the spawn may run while switched: catch its error instead of letting
      // it unwind, restore unconditionally, and only then rethrow.
      let spawned: Deno.ChildProcess | undefined;
      let spawnError: unknown;
      try {
        spawned = new Deno.Command(argv[0], {
          args: argv.slice(1),
          env: { ...spec.env },
          cwd: spec.cwd,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
          // Its own session and process group, which its descendants inherit (see tree.ts).
          detached: spec.waitTree === true,
        }).spawn();
      } catch (e) {
        spawnError = e;
      }
      try {
        restore(savedFd);
      } catch (e) {
        try {
          spawned?.kill("SIGKILL");
        } catch { /* already gone */ }
        throw e;
      }
      switchedUs = (performance.now() - s0) * 1000;
      if (spawned === undefined) {
        throw new PlatformError(
          "spawn",
          `workload ${spec.name}: spawning ${prepared.program.path} failed: ${spawnError}`,
          { cause: spawnError },
        );
      }
      child = spawned;
    } finally {
      closeFd(savedFd);
    }
  } finally {
    closeFd(targetFd);
  }

  const pid = child.pid;
  let childIno: number | undefined;
  try {
    childIno = Deno.statSync(`/proc/${pid}/ns/net`).ino ?? undefined;
  } catch {
    // A child that already exited (zombie or reaped) has no namespace to check; it can do
    // no harm in a wrong one either, and its status reports what happened.
  }
  if (childIno === undefined) {
    log.warn("workload {name} (pid {pid}) exited before its namespace could be verified", {
      name: spec.name,
      pid,
    });
  } else if (childIno !== domain.inode) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    throw new PlatformError(
      "placement",
      `workload ${spec.name}: child pid ${pid} is in network namespace ${childIno}, not the ` +
        `target ${domain.inode} (${domain.path}); killed it`,
    );
  }
  const totalMs = performance.now() - t0;
  log.info(
    "started workload {name} as pid {pid} in netns {netns} (inode {inode}), verified; " +
      "spawn+verify {totalMs} ms, parent-death signal: {pdeathsig}",
    {
      name: spec.name,
      pid,
      netns: domain.path,
      inode: domain.inode,
      totalMs: Math.round(totalMs * 100) / 100,
      pdeathsig: setpriv !== null,
    },
  );

  // After the spawn, so the workload is not kept waiting for it.
  widenChildOutputPipes(pid);
  const status = child.status.then(toExitStatus);
  rememberSpawn(pid, status);
  const wholeTree = spec.waitTree ? new ProcessTree(pid, status) : undefined;
  let exited = false;
  status.then(() => exited = true, () => exited = true);
  // A script's interpreter opens the pinned file by its /proc path after it has started, so
  // the descriptor lives as long as the workload does.
  (wholeTree?.status ?? status).finally(() => prepared.release()).catch(() => {});
  return {
    pid,
    program: prepared.program,
    stdout: child.stdout,
    stderr: child.stderr,
    status: wholeTree?.status ?? status,
    netnsInode: childIno ?? null,
    pdeathsig: setpriv !== null,
    timings: { switchedUs, totalMs },
    terminate() {
      if (wholeTree) return wholeTree.signal("SIGTERM");
      if (exited) return;
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
    },
    kill() {
      if (wholeTree) return wholeTree.signal("SIGKILL");
      if (exited) return;
      // Collect the tree before killing the root: once it dies its children are
      // re-parented and can no longer be found through it.
      const tree = isAlive(pid) ? processTree(pid) : [pid];
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      for (const p of tree.slice(1)) {
        try {
          Deno.kill(p, "SIGKILL");
        } catch { /* already exited */ }
      }
    },
  };
}
