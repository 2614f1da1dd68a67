/**
 * A Win32 job object as a small typed handle: create it with its limits, put it in a network
 * compartment, ask which processes it holds, end them, close it.
 *
 * The job is what ties a workload's whole process tree to the launcher: with
 * `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE` every process in it dies when its last handle closes,
 * which happens at the latest when the launcher itself dies. Jobs created here are *nested* in
 * the HostProcess container's job; breakaway is never asked for, because the container's
 * bind-mounted paths exist only inside its silo.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { netioStatusError, WindowsError } from "./errors.ts";
import { iphlpapi, requireExport } from "./iphlpapi.ts";
import { checkBool, closeHandle, kernel32, lastError } from "./kernel32.ts";
import { alloc, dv } from "./memory.ts";
import {
  JOBOBJECT_BASIC_PROCESS_ID_LIST,
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
  W,
} from "./structs.ts";

const log = getLogger(["cplauncher", "windows"]);

/** Limits set on a job when it is created. */
export interface JobLimits {
  /** End every process in the job when its last handle closes. */
  readonly killOnClose: boolean;
}

/** How often {@linkcode waitForEmptyJob} asks a job for its processes. */
export const JOB_POLL_MS = 250;

/**
 * Resolves once `processIds()` (a job's process list) is empty: for waiting on a workload's
 * whole tree. `onWaiting` hears the remaining pids once, the first time any remain. A failing
 * query ends the wait (the caller then closes the job, which ends what remains).
 */
export async function waitForEmptyJob(
  processIds: () => readonly number[],
  onWaiting: (pids: readonly number[]) => void = () => {},
  pollMs = JOB_POLL_MS,
): Promise<void> {
  let told = false;
  for (;;) {
    let pids: readonly number[];
    try {
      pids = processIds();
    } catch {
      return;
    }
    if (pids.length === 0) return;
    if (!told) {
      told = true;
      onWaiting(pids);
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/** Win32 `ERROR_MORE_DATA`: the process id list did not fit the buffer. */
const ERROR_MORE_DATA = 234;

/** An open, unnamed job object. Methods other than `close` need it to be open. */
export class JobObject {
  #handle: Deno.PointerObject | null;
  #compartment: number | undefined;

  private constructor(handle: Deno.PointerObject) {
    this.#handle = handle;
  }

  /**
   * Create an unnamed job with `limits` (`CreateJobObjectW`, `SetInformationJobObject`).
   * On failure nothing is left open.
   */
  static create(limits: JobLimits): JobObject {
    const handle = kernel32().CreateJobObjectW(null, null);
    if (handle === null) throw lastError("CreateJobObjectW");
    const job = new JobObject(handle);
    try {
      job.#setLimits(limits);
    } catch (e) {
      job.close();
      throw e;
    }
    return job;
  }

  #setLimits(limits: JobLimits): void {
    if (!limits.killOnClose) return;
    const info = alloc(JOBOBJECT_EXTENDED_LIMIT_INFORMATION.size);
    dv(info).setUint32(
      JOBOBJECT_EXTENDED_LIMIT_INFORMATION.fields["BasicLimitInformation.LimitFlags"],
      W.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
      true,
    );
    checkBool(
      "SetInformationJobObject(JobObjectExtendedLimitInformation)",
      kernel32().SetInformationJobObject(
        this.handle,
        W.JobObjectExtendedLimitInformation,
        info,
        info.length,
      ),
    );
  }

  /** The job's handle, for `PROC_THREAD_ATTRIBUTE_JOB_LIST`. */
  get handle(): Deno.PointerObject {
    if (this.#handle === null) throw new TypeError("the job object is already closed");
    return this.#handle;
  }

  /** Whether {@linkcode JobObject.close} has not been called yet. */
  get isOpen(): boolean {
    return this.#handle !== null;
  }

  /**
   * Put the job in network compartment `id` (`SetJobCompartmentId`); processes started in it
   * afterwards live in that compartment. Throws a `MissingExportError` where the
   * export does not exist (older builds, Wine) and a {@linkcode WindowsError} when it fails.
   */
  setCompartment(id: number): void {
    const set = requireExport("SetJobCompartmentId", iphlpapi().SetJobCompartmentId);
    const err = netioStatusError("SetJobCompartmentId", set(this.handle, id));
    if (err) throw err;
    this.#compartment = id;
  }

  /** The compartment {@linkcode JobObject.setCompartment} put the job in, until cleared. */
  get compartment(): number | undefined {
    return this.#compartment;
  }

  /**
   * Take the job out of its compartment again (`SetJobCompartmentId(job, 0)`), so that the job
   * holds no reference to it: the anchor's compartment can then be deleted when its pod goes
   * away, even while this handle stays open. Meant for an empty job. Returns the error instead
   * of throwing, because callers are on their way out and can only report it.
   */
  clearCompartment(): WindowsError | null {
    if (this.#compartment === undefined) return null;
    const set = iphlpapi().SetJobCompartmentId;
    if (set === null) return null;
    const err = netioStatusError("SetJobCompartmentId(0)", set(this.handle, 0));
    if (err === null) this.#compartment = undefined;
    return err;
  }

  /** The job's compartment as `GetJobCompartmentId` reads it; null when not exported. */
  compartmentId(): number | null {
    const get = iphlpapi().GetJobCompartmentId;
    return get === null ? null : get(this.handle);
  }

  /** Whether `process` (a process handle) is in this job (`IsProcessInJob`). */
  contains(process: Deno.PointerObject): boolean {
    const result = alloc(4);
    checkBool("IsProcessInJob", kernel32().IsProcessInJob(process, this.handle, result));
    return dv(result).getInt32(0, true) !== 0;
  }

  /** Ids of the processes in the job now (`JobObjectBasicProcessIdList`). */
  processIds(): number[] {
    const k = kernel32();
    const L = JOBOBJECT_BASIC_PROCESS_ID_LIST;
    for (let cap = 64; cap <= 1 << 16; cap *= 4) {
      const buf = alloc(L.fields.ProcessIdList + cap * 8);
      const ok = k.QueryInformationJobObject(
        this.handle,
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
        if (err.code !== ERROR_MORE_DATA) throw err;
        continue;
      }
      if (listed < assigned) continue;
      const out: number[] = [];
      for (let i = 0; i < listed; i++) {
        out.push(Number(v.getBigUint64(L.fields.ProcessIdList + i * 8, true)));
      }
      return out;
    }
    throw new WindowsError(
      "QueryInformationJobObject",
      "win32",
      ERROR_MORE_DATA,
      "too many processes",
    );
  }

  /** End every process in the job with `exitCode` (`TerminateJobObject`). */
  terminate(exitCode: number): void {
    checkBool("TerminateJobObject", kernel32().TerminateJobObject(this.handle, exitCode));
  }

  /**
   * Close the job's handle; with kill-on-close, whatever still runs in it ends. A compartment
   * still set on the job is cleared first (best effort: see
   * {@linkcode JobObject.clearCompartment}). Closing twice is a no-op: a handle value closed
   * twice may already belong to someone else.
   */
  close(): void {
    if (this.#handle === null) return;
    const err = this.clearCompartment();
    if (err) {
      log.warn("closing a job still in compartment {id}: {error}", {
        id: this.#compartment,
        error: err.message,
      });
    }
    const handle = this.#handle;
    this.#handle = null;
    closeHandle(handle);
  }
}
