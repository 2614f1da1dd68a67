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
 * Output is read by `ReadFile` calls that run on worker threads (`nonblocking` FFI), so a
 * silent child never blocks the event loop.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ExitStatus, LaunchedProcess } from "../types.ts";
import { buildCommandLine, MAX_COMMAND_LINE } from "./cmdline.ts";
import { MissingExportError, netioStatusError, WindowsError } from "./errors.ts";
import { iphlpapi } from "./iphlpapi.ts";
import { checkBool, closeHandle, kernel32, lastError } from "./kernel32.ts";
import { alloc, dv, ptrValue, readPtr, writePtr, wstr } from "./memory.ts";
import {
  JOBOBJECT_BASIC_PROCESS_ID_LIST,
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
  PROCESS_INFORMATION,
  SECURITY_ATTRIBUTES,
  STARTUPINFOEXW,
  W,
} from "./structs.ts";

const log = getLogger(["cplauncher", "windows"]);

/** What to start, at the level of Win32 (the backend maps a `LaunchSpec` onto this). */
export interface JobSpawnOptions {
  /** Workload name for logs and errors. */
  readonly name: string;
  /** argv; argv[0] is the program (resolved by `CreateProcessW`'s search rules). */
  readonly argv: readonly string[];
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
}

/** A process started by {@linkcode spawnInJob}, with access to its job. */
export interface JobProcess extends LaunchedProcess {
  /** Process ids currently in the job (the workload and everything it started). */
  processIds(): number[];
  /** The job's compartment as `GetJobCompartmentId` reports it; null when not exported. */
  jobCompartmentId(): number | null;
  /** Whether the process is in our job (`IsProcessInJob`). */
  inJob(): boolean;
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

/** Build a `CREATE_UNICODE_ENVIRONMENT` block: sorted `K=V\0` entries and a final `\0`. */
export function environmentBlock(env: Readonly<Record<string, string>>): Uint16Array<ArrayBuffer> {
  // Windows compares names case-insensitively and documents the block as sorted that way.
  const entries = Object.entries(env)
    .filter(([k]) => k.length > 0 && !k.includes("=", 1) && !k.includes("\0"))
    .sort(([a], [b]) => {
      const A = a.toUpperCase();
      const B = b.toUpperCase();
      return A < B ? -1 : A > B ? 1 : 0;
    });
  let text = "";
  for (const [k, v] of entries) {
    if (v.includes("\0")) throw new Error(`environment variable ${k} contains a NUL`);
    text += `${k}=${v}\0`;
  }
  if (entries.length === 0) text += "\0";
  return wstr(text); // wstr appends the block's final NUL
}

/**
 * Merge `extra` into `base`, replacing names case-insensitively as Windows would (so `Path`
 * and `PATH` never both reach the child).
 */
export function mergeEnv(
  base: Readonly<Record<string, string>>,
  extra: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  const keyOf = new Map<string, string>();
  for (const [k, v] of [...Object.entries(base), ...Object.entries(extra)]) {
    const prev = keyOf.get(k.toUpperCase());
    if (prev !== undefined) delete out[prev];
    keyOf.set(k.toUpperCase(), k);
    out[k] = v;
  }
  return out;
}

interface Pipe {
  read: Deno.PointerObject;
  write: Deno.PointerObject;
}

function createPipe(name: string): Pipe {
  const k = kernel32();
  const sa = alloc(SECURITY_ATTRIBUTES.size);
  dv(sa).setUint32(SECURITY_ATTRIBUTES.fields.nLength, SECURITY_ATTRIBUTES.size, true);
  dv(sa).setInt32(SECURITY_ATTRIBUTES.fields.bInheritHandle, 1, true);
  const r = alloc(8);
  const w = alloc(8);
  checkBool(`CreatePipe(${name})`, k.CreatePipe(r, w, sa, 0));
  const read = readPtr(r);
  const write = readPtr(w);
  if (read === null || write === null) throw new Error(`CreatePipe(${name}) returned NULL`);
  return { read, write };
}

/** Clear the inherit flag on our end of a pipe, so no other child can hold it open. */
function notInheritable(h: Deno.PointerObject, what: string): void {
  checkBool(
    `SetHandleInformation(${what})`,
    kernel32().SetHandleInformation(h, W.HANDLE_FLAG_INHERIT, 0),
  );
}

/**
 * Start `opts.argv` in a new kill-on-close job (optionally placed in a compartment first),
 * verify the placement, then let it run.
 */
export function spawnInJob(opts: JobSpawnOptions): JobProcess {
  const k = kernel32();
  const cmdline = buildCommandLine(opts.argv);
  if (cmdline.length > MAX_COMMAND_LINE) {
    throw new Error(
      `workload "${opts.name}": command line is ${cmdline.length} UTF-16 units; Windows allows ${MAX_COMMAND_LINE}`,
    );
  }

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
    const job = k.CreateJobObjectW(null, null);
    if (job === null) throw lastError("CreateJobObjectW");
    own(job);
    const limits = alloc(JOBOBJECT_EXTENDED_LIMIT_INFORMATION.size);
    dv(limits).setUint32(
      JOBOBJECT_EXTENDED_LIMIT_INFORMATION.fields["BasicLimitInformation.LimitFlags"],
      W.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
      true,
    );
    checkBool(
      "SetInformationJobObject(JobObjectExtendedLimitInformation)",
      k.SetInformationJobObject(job, W.JobObjectExtendedLimitInformation, limits, limits.length),
    );

    // 3. The compartment goes on the job while it is empty.
    if (opts.compartmentId !== undefined) {
      const setJob = iphlpapi().SetJobCompartmentId;
      if (setJob === null) {
        throw placementError(
          opts,
          new MissingExportError("iphlpapi.dll", "SetJobCompartmentId").message,
        );
      }
      const err = netioStatusError("SetJobCompartmentId", setJob(job, opts.compartmentId));
      if (err) throw placementError(opts, err.message);
    }

    // Standard handles: three pipes. The child's ends are inheritable, ours are not.
    const stdin = createPipe("stdin");
    own(stdin.read);
    own(stdin.write);
    const stdout = createPipe("stdout");
    own(stdout.read);
    own(stdout.write);
    const stderr = createPipe("stderr");
    own(stderr.read);
    own(stderr.write);
    notInheritable(stdin.write, "stdin");
    notInheritable(stdout.read, "stdout");
    notInheritable(stderr.read, "stderr");

    // 4. Attribute list: HANDLE_LIST + JOB_LIST. The value buffers must outlive CreateProcessW
    //    (the list stores pointers to them), hence the locals kept until after the call.
    const sizeBuf = alloc(8);
    k.InitializeProcThreadAttributeList(null, 2, 0, sizeBuf); // fails by design: size query
    const attrSize = Number(dv(sizeBuf).getBigUint64(0, true));
    if (attrSize === 0) throw lastError("InitializeProcThreadAttributeList(size)");
    const attrs = alloc(attrSize);
    checkBool(
      "InitializeProcThreadAttributeList",
      k.InitializeProcThreadAttributeList(attrs, 2, 0, sizeBuf),
    );
    let attrsLive = true;
    const deleteAttrs = () => {
      if (attrsLive) k.DeleteProcThreadAttributeList(attrs);
      attrsLive = false;
    };
    cleanup.push(deleteAttrs);
    const handleList = alloc(3 * 8);
    writePtr(handleList, 0, stdin.read);
    writePtr(handleList, 8, stdout.write);
    writePtr(handleList, 16, stderr.write);
    checkBool(
      "UpdateProcThreadAttribute(PROC_THREAD_ATTRIBUTE_HANDLE_LIST)",
      k.UpdateProcThreadAttribute(
        attrs,
        0,
        BigInt(W.PROC_THREAD_ATTRIBUTE_HANDLE_LIST),
        handleList,
        BigInt(handleList.length),
        null,
        null,
      ),
    );
    const jobList = alloc(8);
    writePtr(jobList, 0, job);
    checkBool(
      "UpdateProcThreadAttribute(PROC_THREAD_ATTRIBUTE_JOB_LIST)",
      k.UpdateProcThreadAttribute(
        attrs,
        0,
        BigInt(W.PROC_THREAD_ATTRIBUTE_JOB_LIST),
        jobList,
        BigInt(jobList.length),
        null,
        null,
      ),
    );

    const si = alloc(STARTUPINFOEXW.size);
    const F = STARTUPINFOEXW.fields;
    dv(si).setUint32(F["StartupInfo.cb"], STARTUPINFOEXW.size, true);
    dv(si).setUint32(F["StartupInfo.dwFlags"], W.STARTF_USESTDHANDLES, true);
    writePtr(si, F["StartupInfo.hStdInput"], stdin.read);
    writePtr(si, F["StartupInfo.hStdOutput"], stdout.write);
    writePtr(si, F["StartupInfo.hStdError"], stderr.write);
    writePtr(si, F.lpAttributeList, Deno.UnsafePointer.of(attrs));

    const pi = alloc(PROCESS_INFORMATION.size);
    const cmdBuf = wstr(cmdline); // CreateProcessW may write into it: never a literal
    const envBlock = environmentBlock(opts.env);
    const flags = W.EXTENDED_STARTUPINFO_PRESENT | W.CREATE_NEW_PROCESS_GROUP |
      W.CREATE_UNICODE_ENVIRONMENT | W.CREATE_SUSPENDED;
    const ok = k.CreateProcessW(
      null,
      cmdBuf,
      null,
      null,
      1, // inherit — limited to handleList by PROC_THREAD_ATTRIBUTE_HANDLE_LIST
      flags,
      envBlock,
      opts.cwd !== undefined ? wstr(opts.cwd) : null,
      si,
      pi,
    );
    if (ok === 0) {
      const err = lastError("CreateProcessW");
      throw new Error(
        `workload "${opts.name}": cannot start ${JSON.stringify(opts.argv[0])}: ${err.message}`,
        {
          cause: err,
        },
      );
    }
    // The attribute values (handleList, jobList) had to stay reachable until here.
    deleteAttrs();
    const hProcess = readPtr(pi, PROCESS_INFORMATION.fields.hProcess)!;
    const hThread = readPtr(pi, PROCESS_INFORMATION.fields.hThread)!;
    const pid = dv(pi).getUint32(PROCESS_INFORMATION.fields.dwProcessId, true);
    // From here the suspended process must die with any failure: the job does that.
    cleanup.push(() => k.TerminateJobObject(job, 1));
    own(hThread);
    own(hProcess);

    // The child has its own copies now; ours would keep the pipes open forever.
    release(stdin.read);
    release(stdout.write);
    release(stderr.write);
    // EOF on stdin: workloads are services and must not wait for a terminal.
    release(stdin.write);

    // 5. Verify placement before the first instruction runs.
    const inJobBuf = alloc(4);
    checkBool("IsProcessInJob", k.IsProcessInJob(hProcess, job, inJobBuf));
    if (dv(inJobBuf).getInt32(0, true) === 0) {
      throw placementError(
        opts,
        "the process is not in the job (PROC_THREAD_ATTRIBUTE_JOB_LIST ignored)",
      );
    }
    const getJob = iphlpapi().GetJobCompartmentId;
    if (opts.compartmentId !== undefined) {
      if (getJob === null) {
        throw placementError(
          opts,
          "GetJobCompartmentId is not exported, so placement cannot be verified",
        );
      }
      const actual = getJob(job);
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
    return track(opts, job, hProcess, pid, stdout.read, stderr.read, getJob);
  } catch (e) {
    undo();
    throw e;
  }
}

function placementError(opts: JobSpawnOptions, why: string): Error {
  return new Error(
    `workload "${opts.name}": strategy "${opts.strategy}" could not place the process in ` +
      `compartment ${opts.compartmentId} on Windows ${windowsBuild()}: ${why}. ` +
      `Try \`windows: { strategy: self }\` (the workload then reads the compartment id from ` +
      `its environment and switches its own threads).`,
  );
}

function track(
  opts: JobSpawnOptions,
  job: Deno.PointerObject,
  hProcess: Deno.PointerObject,
  pid: number,
  outRead: Deno.PointerObject,
  errRead: Deno.PointerObject,
  getJob: ((h: Deno.PointerValue) => number) | null,
): JobProcess {
  const k = kernel32();
  let jobOpen = true;

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
    closeHandle(hProcess);
    // Closing the job ends whatever the workload left behind (kill-on-close): a service's
    // stray children must not outlive it and hold its port.
    jobOpen = false;
    closeHandle(job);
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
    stdout: pipeStream(outRead),
    stderr: pipeStream(errRead),
    status,
    terminate() {
      // CTRL_BREAK reaches the new process group we created; CTRL_C is disabled for it.
      if (k.GenerateConsoleCtrlEvent(W.CTRL_BREAK_EVENT, pid) === 0) {
        log.warn("workload {name}: Ctrl-Break to pid {pid} failed: {error}", {
          name: opts.name,
          pid,
          error: lastError("GenerateConsoleCtrlEvent").message,
        });
      }
    },
    kill() {
      if (!jobOpen) return;
      if (k.TerminateJobObject(job, 1) === 0) {
        log.warn("TerminateJobObject: {error}", { error: lastError("TerminateJobObject").message });
      }
    },
    processIds() {
      return jobOpen ? jobProcessIds(job) : [];
    },
    jobCompartmentId() {
      return jobOpen && getJob ? getJob(job) : null;
    },
    inJob() {
      if (!jobOpen) return false;
      const b = alloc(4);
      return k.IsProcessInJob(hProcess, job, b) !== 0 && dv(b).getInt32(0, true) !== 0;
    },
  };
  byProcess.set(proc, proc);
  return proc;
}

/** Process ids in `job` (`JobObjectBasicProcessIdList`). */
export function jobProcessIds(job: Deno.PointerObject): number[] {
  const k = kernel32();
  const L = JOBOBJECT_BASIC_PROCESS_ID_LIST;
  for (let cap = 64; cap <= 1 << 16; cap *= 4) {
    const buf = alloc(L.fields.ProcessIdList + cap * 8);
    const ok = k.QueryInformationJobObject(
      job,
      W.JobObjectBasicProcessIdList,
      buf,
      buf.length,
      null,
    );
    const v = dv(buf);
    const assigned = v.getUint32(L.fields.NumberOfAssignedProcesses, true);
    const listed = v.getUint32(L.fields.NumberOfProcessIdsInList, true);
    if (ok === 0) {
      const err = lastError("QueryInformationJobObject");
      if (err.code !== 234 /* ERROR_MORE_DATA */) throw err;
      continue;
    }
    if (listed < assigned) continue;
    const out: number[] = [];
    for (let i = 0; i < listed; i++) {
      out.push(Number(v.getBigUint64(L.fields.ProcessIdList + i * 8, true)));
    }
    return out;
  }
  throw new WindowsError("QueryInformationJobObject", "win32", 234, "too many processes");
}

/** A pipe's read end as a byte stream; reads happen on worker threads. */
function pipeStream(h: Deno.PointerObject): ReadableStream<Uint8Array> {
  const k = kernel32();
  const buf = alloc(64 * 1024);
  const got = alloc(4);
  let closed = false;
  let cancelled = false;
  let inflight: Promise<Uint8Array | null> | null = null;
  // Only after the last read returned: closing a handle under a pending ReadFile is a race.
  const finish = () => {
    if (!closed) {
      closed = true;
      closeHandle(h);
    }
  };
  // ReadFile returns FALSE with ERROR_BROKEN_PIPE once every write end is closed. The error
  // code itself is unavailable (it was set on the worker thread), so FALSE means "end".
  const readOnce = (): Promise<Uint8Array | null> => {
    inflight = k.ReadFile(h, buf, buf.length, got, null).then((ok) =>
      ok === 0 ? null : buf.slice(0, dv(got).getUint32(0, true))
    );
    return inflight;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const chunk = await readOnce();
        if (cancelled) return; // cancel() owns the handle now
        if (chunk === null) {
          finish();
          controller.close();
          return;
        }
        // Zero-byte reads happen when the child writes zero bytes; they are not EOF.
        if (chunk.length > 0) {
          controller.enqueue(chunk);
          return;
        }
      }
    },
    async cancel() {
      cancelled = true;
      // Keep draining: a child blocked on a full pipe would otherwise hang forever.
      if (inflight !== null && (await inflight) === null) return finish();
      while ((await readOnce()) !== null) { /* discard */ }
      finish();
    },
  });
}

/** For logs: a handle as hex. */
export function handleHex(h: Deno.PointerValue): string {
  return `0x${ptrValue(h).toString(16)}`;
}
