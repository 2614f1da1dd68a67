/**
 * Starting an unmodified process inside a network compartment, without DLL injection.
 *
 * Strategy `job` (default):
 * 1. `CreateJobObjectW` — the job is *nested* in the HostProcess container's job. We never
 *    ask for breakaway: the container's bind-mounted paths exist only inside its silo.
 * 2. `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`: if the launcher dies, its handle closes and the
 *    whole tree dies with it — no orphan keeps the port.
 * 3. `SetJobCompartmentId(job, id)` while the job is still empty, so no process of the
 *    workload ever exists outside the compartment.
 * 4. `CreateProcessW` with `EXTENDED_STARTUPINFO_PRESENT` and `PROC_THREAD_ATTRIBUTE_JOB_LIST`
 *    so the process is in the job from its first instruction (assigning afterwards would
 *    leave a window), and `PROC_THREAD_ATTRIBUTE_HANDLE_LIST` so it inherits exactly its three
 *    pipe ends and nothing else of ours. It starts suspended; we verify, then resume.
 * 5. Verification: `GetJobCompartmentId(job)` must read back the target and the process must
 *    be in the job; otherwise we kill it and say which strategy failed on which build.
 *
 * Strategy `self`: the same job (for kill-on-close) but no compartment on it; the workload gets
 * the id in an environment variable (k2s's `COMPARTMENT_ID_ATTACH`) and switches itself.
 *
 * This module is the orchestration: the numbered steps above, and an undo stack that releases
 * whatever a failing step leaves behind. The pieces live next to it: the job object in
 * `job.ts`, the standard-handle pipes (read on worker threads, so a silent child never blocks
 * the event loop) in `pipes.ts`, the environment block in `environment.ts` and the attribute
 * list in `attributes.ts`.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { PlatformError } from "../errors.ts";
import type { ExitStatus, LaunchedProcess, ResolvedProgram } from "../types.ts";
import { ProcThreadAttributeList } from "./attributes.ts";
import { buildCommandLine, MAX_COMMAND_LINE } from "./cmdline.ts";
import { environmentBlock } from "./environment.ts";
import { WindowsError } from "./errors.ts";
import { closeHandle, exportAddress, kernel32, lastError } from "./kernel32.ts";
import { JobObject, waitForEmptyJob } from "./job.ts";
import { alloc, dv, readPtr, writePtr, wstr } from "./memory.ts";
import { childEnds, createStdioPipes, pipeStream, type StdioPipes } from "./pipes.ts";
import { PROCESS_INFORMATION, STARTUPINFOEXW, W } from "./structs.ts";

const log = getLogger(["cplauncher", "windows"]);

/** What to start, at the level of Win32 (the backend maps a `LaunchSpec` onto this). */
export interface JobSpawnOptions {
  /** Workload name for logs and errors. */
  readonly name: string;
  /**
   * argv; argv[0] is the program, found by `CreateProcessW`'s search rules unless `program`
   * names the file.
   */
  readonly argv: readonly string[];
  /**
   * The file to start, resolved by the backend: its path is passed as `lpApplicationName`, so
   * `CreateProcessW` searches nothing; reported on the process with its verified digest.
   */
  readonly program?: ResolvedProgram;
  /** The complete environment of the child. */
  readonly env: Readonly<Record<string, string>>;
  /** Working directory, or undefined for the launcher's. */
  readonly cwd?: string;
  /**
   * Compartment to put the job in before the process exists. Undefined: leave the job's
   * compartment alone (strategy `self`, and the Wine tests, where the API does not exist).
   */
  readonly compartmentId?: number;
  /** Strategy name, for error messages. */
  readonly strategy: "job" | "self";
  /** `status` settles only once every process in the job has exited (see `LaunchSpec`). */
  readonly waitTree?: boolean;
}

/** A process started by {@linkcode spawnInJob}, with access to its job. */
export interface JobProcess extends LaunchedProcess {
  /** Process ids currently in the job (the workload and everything it started). */
  processIds(): number[];
  /** The job's compartment as `GetJobCompartmentId` reports it; null when not exported. */
  jobCompartmentId(): number | null;
  /** Whether the process is in our job (`IsProcessInJob`). */
  inJob(): boolean;
  /**
   * Deliver console control event `event` to the process the way hcsshim does: a thread
   * started inside it at `kernel32!CtrlRoutine`. Needs no shared console. Returns the error
   * when the thread cannot be started.
   */
  startCtrlRoutine(event: number): WindowsError | null;
}

const byProcess = new WeakMap<LaunchedProcess, JobProcess>();

/** The job-aware view of a process this module started, if it is one. */
export function asJobProcess(p: LaunchedProcess): JobProcess | undefined {
  return byProcess.get(p);
}

/**
 * The Windows build string for error messages (`10.0.20348`); `Deno.osRelease()` reads it
 * with `RtlGetVersion`, which — unlike `GetVersionEx` — is not shimmed by manifests.
 */
export function windowsBuild(): string {
  try {
    return Deno.osRelease();
  } catch {
    return "unknown";
  }
}

/** Win32 codes with which `CreateProcessW` says the program does not exist. */
const PROGRAM_MISSING = new Set([2, /* ERROR_FILE_NOT_FOUND */ 3 /* ERROR_PATH_NOT_FOUND */]);

/**
 * Start `opts.argv` in a new kill-on-close job (optionally placed in a compartment first),
 * verify the placement, then let it run.
 *
 * @throws {PlatformError} `invalid-command` for a command line or environment Windows cannot
 *   carry, `command-not-found` or `spawn` when `CreateProcessW` fails, `placement` when the
 *   process cannot be put or verified in its job and compartment, or a `win32` `WindowsError`
 *   when another call fails. Nothing acquired is left behind.
 */
export function spawnInJob(opts: JobSpawnOptions): JobProcess {
  const k = kernel32();
  const cmdline = buildCommandLine(opts.argv);
  if (cmdline.length > MAX_COMMAND_LINE) {
    throw new PlatformError(
      "invalid-command",
      `workload "${opts.name}": command line is ${cmdline.length} UTF-16 units; Windows allows ${MAX_COMMAND_LINE}`,
    );
  }
  const envBlock = environmentBlock(opts.env);

  // Everything acquired so far, released in reverse order if any step fails. Handles are
  // closed exactly once: a handle value closed twice may already belong to someone else.
  const cleanup: Array<() => void> = [];
  const owned = new Set<Deno.PointerObject>();
  const own = (h: Deno.PointerObject) => {
    owned.add(h);
    cleanup.push(() => release(h));
  };
  const release = (h: Deno.PointerObject) => {
    if (owned.delete(h)) closeHandle(h);
  };
  const undo = () => {
    for (const f of cleanup.reverse()) {
      try {
        f();
      } catch { /* best effort while unwinding */ }
    }
  };

  try {
    // 1-2. A fresh job that kills its processes when the last handle to it closes.
    const job = JobObject.create({ killOnClose: true });
    cleanup.push(() => job.close());

    // 3. The compartment goes on the job while it is empty.
    if (opts.compartmentId !== undefined) {
      try {
        job.setCompartment(opts.compartmentId);
      } catch (e) {
        if (e instanceof PlatformError) throw placementError(opts, e.message, e);
        throw e;
      }
    }

    // Standard handles: three pipes. The child's ends are inheritable, ours are not.
    const pipes = createStdioPipes(own);

    // 4. Attribute list: HANDLE_LIST + JOB_LIST. It references its values until deleted,
    //    which must not happen before CreateProcessW has returned.
    const attrs = ProcThreadAttributeList.create(2);
    cleanup.push(() => attrs.delete());
    attrs.setHandleList(childEnds(pipes));
    attrs.setJobList([job.handle]);

    const pi = alloc(PROCESS_INFORMATION.size);
    const cmdBuf = wstr(cmdline); // CreateProcessW may write into it: never a literal
    const flags = W.EXTENDED_STARTUPINFO_PRESENT | W.CREATE_NEW_PROCESS_GROUP |
      W.CREATE_UNICODE_ENVIRONMENT | W.CREATE_SUSPENDED;
    const ok = k.CreateProcessW(
      opts.program ? wstr(opts.program.path) : null,
      cmdBuf,
      null,
      null,
      1, // inherit — limited to the handle list by PROC_THREAD_ATTRIBUTE_HANDLE_LIST
      flags,
      envBlock,
      opts.cwd !== undefined ? wstr(opts.cwd) : null,
      startupInfo(pipes, attrs),
      pi,
    );
    if (ok === 0) {
      const err = lastError("CreateProcessW");
      throw new PlatformError(
        PROGRAM_MISSING.has(err.code) ? "command-not-found" : "spawn",
        `workload "${opts.name}": cannot start ${JSON.stringify(opts.argv[0])}: ${err.message}`,
        { cause: err },
      );
    }
    attrs.delete();
    const hProcess = readPtr(pi, PROCESS_INFORMATION.fields.hProcess)!;
    const hThread = readPtr(pi, PROCESS_INFORMATION.fields.hThread)!;
    const pid = dv(pi).getUint32(PROCESS_INFORMATION.fields.dwProcessId, true);
    // From here the suspended process must die with any failure: the job does that.
    cleanup.push(() => job.terminate(1));
    own(hThread);
    own(hProcess);

    // The child has its own copies now; ours would keep the pipes open forever.
    for (const end of childEnds(pipes)) release(end);
    // EOF on stdin: workloads are services and must not wait for a terminal.
    release(pipes.stdin.write);

    // 5. Verify placement before the first instruction runs.
    if (!job.contains(hProcess)) {
      throw placementError(
        opts,
        "the process is not in the job (PROC_THREAD_ATTRIBUTE_JOB_LIST ignored)",
      );
    }
    if (opts.compartmentId !== undefined) {
      const actual = job.compartmentId();
      if (actual === null) {
        throw placementError(
          opts,
          "GetJobCompartmentId is not exported, so placement cannot be verified",
        );
      }
      if (actual !== opts.compartmentId) {
        throw placementError(opts, `GetJobCompartmentId returned ${actual}`);
      }
    }

    if (k.ResumeThread(hThread) === 0xffffffff) throw lastError("ResumeThread");
    release(hThread);
    log.info(
      "workload {name}: started pid {pid} (strategy {strategy}, compartment {compartment}): {cmdline}",
      {
        name: opts.name,
        pid,
        strategy: opts.strategy,
        compartment: opts.compartmentId ?? "unchanged",
        cmdline,
      },
    );
    return track(opts, job, hProcess, pid, pipes);
  } catch (e) {
    undo();
    throw e;
  }
}

/** `STARTUPINFOEXW` with the child's pipe ends as its standard handles and `attrs`. */
function startupInfo(pipes: StdioPipes, attrs: ProcThreadAttributeList): Uint8Array {
  const si = alloc(STARTUPINFOEXW.size);
  const F = STARTUPINFOEXW.fields;
  dv(si).setUint32(F["StartupInfo.cb"], STARTUPINFOEXW.size, true);
  dv(si).setUint32(F["StartupInfo.dwFlags"], W.STARTF_USESTDHANDLES, true);
  writePtr(si, F["StartupInfo.hStdInput"], pipes.stdin.read);
  writePtr(si, F["StartupInfo.hStdOutput"], pipes.stdout.write);
  writePtr(si, F["StartupInfo.hStdError"], pipes.stderr.write);
  writePtr(si, F.lpAttributeList, Deno.UnsafePointer.of(attrs.buffer));
  return si;
}

function placementError(opts: JobSpawnOptions, why: string, cause?: unknown): PlatformError {
  return new PlatformError(
    "placement",
    `workload "${opts.name}": strategy "${opts.strategy}" could not place the process in ` +
      `compartment ${opts.compartmentId} on Windows ${windowsBuild()}: ${why}. ` +
      `Try \`windows: { strategy: self }\` (the workload then reads the compartment id from ` +
      `its environment and switches its own threads).`,
    cause === undefined ? undefined : { cause },
  );
}

/** A workload process this module started and whose handle it still holds. */
interface LiveWorkload {
  readonly name: string;
  readonly pid: number;
  readonly process: Deno.PointerObject;
  readonly job: JobObject;
}

/** Workloads still running, for {@linkcode stopWorkloadsNow}. Touched on the JS thread only. */
const live = new Set<LiveWorkload>();

/** Whether the launcher already said that Ctrl-Break cannot reach workloads here. */
let ctrlBreakFallbackLogged = false;

/**
 * Send CTRL_BREAK_EVENT to the process group of `pid` (the workload's: it was created with
 * `CREATE_NEW_PROCESS_GROUP`). This needs a console the launcher shares with the workload,
 * which a HostProcess container may not have; the first failure is logged once, naming what
 * stops workloads instead. Returns whether the event was sent.
 */
export function sendCtrlBreak(name: string, pid: number): boolean {
  const k = kernel32();
  if (k.GenerateConsoleCtrlEvent(W.CTRL_BREAK_EVENT, pid) !== 0) return true;
  const error = lastError("GenerateConsoleCtrlEvent").message;
  if (!ctrlBreakFallbackLogged) {
    ctrlBreakFallbackLogged = true;
    log.warn(
      "Ctrl-Break cannot reach workloads here ({error}: the launcher shares no console with " +
        "them); workloads are stopped with TerminateJobObject once their stopTimeout has run out",
      { error },
    );
  } else {
    log.debug("workload {name}: Ctrl-Break to pid {pid} failed: {error}", { name, pid, error });
  }
  return false;
}

/** What {@linkcode stopWorkloadsNow} did. */
export interface ImmediateStop {
  /** Workloads that were running. */
  readonly workloads: number;
  /** Of those, how many received Ctrl-Break. */
  readonly signalled: number;
  /** How many ended by themselves within the budget. */
  readonly exited: number;
  /** How many had their job terminated. */
  readonly terminated: number;
  /** How many processes were still running when it gave up waiting (0 when all are gone). */
  readonly remaining: number;
}

/**
 * Stop every running workload before returning: Ctrl-Break to each, wait for their processes
 * (`WaitForMultipleObjects`, blocking this thread) up to `budgetMs`, then end each job that
 * still has processes and close it (which clears its compartment). For the console control
 * handler, which must not return before the workloads are gone (see `console.ts`).
 */
export function stopWorkloadsNow(budgetMs: number): ImmediateStop {
  const targets = [...live];
  const deadline = performance.now() + budgetMs;
  let signalled = 0;
  for (const t of targets) if (sendCtrlBreak(t.name, t.pid)) signalled++;
  waitForAll(targets.map((t) => t.process), () => Math.max(0, deadline - performance.now()));
  const k = kernel32();
  const running = targets.filter((t) => k.WaitForSingleObject(t.process, 0) !== W.WAIT_OBJECT_0);
  let terminated = 0;
  for (const t of targets) {
    if (!t.job.isOpen) continue;
    let pids: number[] = [];
    try {
      pids = t.job.processIds();
    } catch { /* the job is being torn down anyway */ }
    if (pids.length === 0 && !running.includes(t)) continue;
    try {
      t.job.terminate(1);
      terminated++;
    } catch (e) {
      log.warn("workload {name}: TerminateJobObject: {error}", {
        name: t.name,
        error: (e as Error).message,
      });
    }
  }
  // TerminateJobObject returns before the processes are gone; give them a moment, so that
  // the job is empty when its compartment is cleared.
  waitForAll(running.map((t) => t.process), () => TERMINATE_WAIT_MS);
  const remaining =
    running.filter((t) => k.WaitForSingleObject(t.process, 0) !== W.WAIT_OBJECT_0).length;
  for (const t of targets) t.job.close();
  return {
    workloads: targets.length,
    signalled,
    exited: targets.length - running.length,
    terminated,
    remaining,
  };
}

/** How long {@linkcode stopWorkloadsNow} waits for terminated processes to go. */
const TERMINATE_WAIT_MS = 1000;

/** Wait until every handle in `handles` is signalled or `remainingMs()` reaches 0. */
function waitForAll(handles: readonly Deno.PointerObject[], remainingMs: () => number): void {
  const k = kernel32();
  for (let i = 0; i < handles.length; i += W.MAXIMUM_WAIT_OBJECTS) {
    const chunk = handles.slice(i, i + W.MAXIMUM_WAIT_OBJECTS);
    const array = alloc(chunk.length * 8);
    chunk.forEach((h, j) => writePtr(array, j * 8, h));
    const rc = k.WaitForMultipleObjects(chunk.length, array, 1, Math.floor(remainingMs()));
    if (rc === W.WAIT_FAILED) {
      log.warn("WaitForMultipleObjects: {error}", {
        error: lastError("WaitForMultipleObjects").message,
      });
      return;
    }
    if (rc === W.WAIT_TIMEOUT) return;
  }
}

/** How often the exit path polls a terminated job until it is empty. */
const EMPTY_POLL_MS = 25;
/** How long the exit path waits for a terminated job to empty before closing it anyway. */
const EMPTY_WAIT_MS = 2000;

/**
 * End a workload's job after its process exited: end what it left behind, wait until the job
 * is empty, take the job out of its compartment, close it. Kill-on-close alone would end the
 * leftovers too, but the compartment can only be cleared once nothing runs in it.
 */
async function endJob(name: string, job: JobObject): Promise<void> {
  if (!job.isOpen) return;
  if (job.compartment !== undefined) {
    const deadline = performance.now() + EMPTY_WAIT_MS;
    let terminated = false;
    for (;;) {
      let pids: number[];
      try {
        pids = job.processIds();
      } catch {
        break;
      }
      if (pids.length === 0 || performance.now() > deadline) break;
      if (!terminated) {
        terminated = true;
        try {
          job.terminate(1);
        } catch (e) {
          log.warn("workload {name}: TerminateJobObject: {error}", {
            name,
            error: (e as Error).message,
          });
          break;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, EMPTY_POLL_MS));
    }
  }
  job.close();
}

function track(
  opts: JobSpawnOptions,
  job: JobObject,
  hProcess: Deno.PointerObject,
  pid: number,
  pipes: StdioPipes,
): JobProcess {
  const k = kernel32();
  const workload: LiveWorkload = { name: opts.name, pid, process: hProcess, job };
  live.add(workload);

  const status: Promise<ExitStatus> = (async () => {
    const rc = await k.WaitForSingleObjectAsync(hProcess, W.INFINITE);
    if (rc !== W.WAIT_OBJECT_0) log.warn("WaitForSingleObject returned {rc}", { rc });
    const codeBuf = alloc(4);
    let code = 1;
    if (k.GetExitCodeProcess(hProcess, codeBuf) !== 0) {
      code = dv(codeBuf).getUint32(0, true);
    } else {
      log.warn("GetExitCodeProcess: {error}", { error: lastError("GetExitCodeProcess").message });
    }
    // Out of the registry before the handle goes: stopWorkloadsNow must never wait on it.
    live.delete(workload);
    closeHandle(hProcess);
    if (opts.waitTree) {
      await waitForEmptyJob(() => job.isOpen ? job.processIds() : [], (pids) =>
        log.info(
          "workload {name}: pid {pid} exited with code {code}; waiting for {count} remaining " +
            "process(es) of its job: {pids}",
          { name: opts.name, pid, code, count: pids.length, pids: pids.join(", ") },
        ));
    }
    // Ending the job ends whatever the workload left behind: a service's stray children must
    // not outlive it and hold its port.
    await endJob(opts.name, job);
    log.info("workload {name}: pid {pid} exited with code {code}", {
      name: opts.name,
      pid,
      code,
      hex: `0x${code.toString(16)}`,
    });
    return { code, signal: null };
  })();

  const proc: JobProcess = {
    pid,
    program: opts.program ?? { path: opts.argv[0] },
    stdout: pipeStream(pipes.stdout.read),
    stderr: pipeStream(pipes.stderr.read),
    status,
    terminate() {
      // CTRL_BREAK reaches the new process group we created; CTRL_C is disabled for it.
      sendCtrlBreak(opts.name, pid);
    },
    kill() {
      if (!job.isOpen) return;
      try {
        job.terminate(1);
      } catch (e) {
        log.warn("TerminateJobObject: {error}", { error: (e as Error).message });
      }
    },
    processIds() {
      return job.isOpen ? job.processIds() : [];
    },
    jobCompartmentId() {
      return job.isOpen ? job.compartmentId() : null;
    },
    inJob() {
      if (!job.isOpen) return false;
      try {
        return job.contains(hProcess);
      } catch {
        return false;
      }
    },
    startCtrlRoutine(event) {
      if (!live.has(workload)) {
        return new WindowsError("CreateRemoteThread", "win32", 6, "the process has exited");
      }
      const routine = exportAddress("kernel32.dll", "CtrlRoutine");
      if (routine === null) return lastError("GetProcAddress(kernel32!CtrlRoutine)");
      const thread = k.CreateRemoteThread(
        hProcess,
        null,
        0n,
        routine,
        Deno.UnsafePointer.create(BigInt(event)),
        0,
        null,
      );
      if (thread === null) return lastError("CreateRemoteThread");
      closeHandle(thread);
      return null;
    },
  };
  byProcess.set(proc, proc);
  return proc;
}
