/**
 * Wider pipes for relayed output. A pipe holds 64 KiB by default, so a chatty workload
 * blocks on every 64 KiB and the launcher reads (and its reader reads from the launcher) in
 * 64 KiB steps, with a wake-up and an event-loop turn each. At 1 MiB both sides move in
 * larger steps. Pipe pages are only allocated while they hold data, so an idle pipe costs
 * nothing more. Best effort: a pipe that cannot be widened (limits, not a pipe) stays as it
 * is.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { libc } from "./libc.ts";

const log = getLogger(["cplauncher", "linux"]);

/** `F_SETPIPE_SZ` from `<fcntl.h>`. */
export const F_SETPIPE_SZ = 1031;
/** Size asked for (the default `fs.pipe-max-size`, so it is allowed without privileges). */
export const OUTPUT_PIPE_BYTES = 1024 * 1024;

/** Sets the capacity of the pipe behind `fd`; returns the new size, or null if it is not one. */
export function widenPipe(fd: number, bytes = OUTPUT_PIPE_BYTES): number | null {
  const size = libc().fcntl(fd, F_SETPIPE_SZ, bytes);
  return size < 0 ? null : size;
}

function pipeOf(path: string): string | undefined {
  try {
    const target = Deno.readLinkSync(path);
    return target.startsWith("pipe:") ? target : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Widens the pipes that carry `pid`'s stdout and stderr to the launcher, through the
 * launcher's own read ends (found by comparing `/proc/<pid>/fd/{1,2}` with
 * `/proc/self/fd/*`): nothing of the child's is opened. Returns how many were widened.
 */
export function widenChildOutputPipes(pid: number): number {
  const wanted = new Set(
    [pipeOf(`/proc/${pid}/fd/1`), pipeOf(`/proc/${pid}/fd/2`)].filter((p) => p !== undefined),
  );
  if (wanted.size === 0) return 0;
  let widened = 0;
  try {
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      const fd = Number(entry.name);
      if (!Number.isInteger(fd) || !wanted.has(pipeOf(`/proc/self/fd/${fd}`) ?? "")) continue;
      if (widenPipe(fd) !== null) widened++;
    }
  } catch (error) {
    log.debug("pid {pid}: output pipes not widened: {error}", { pid, error: String(error) });
  }
  return widened;
}

/** Widens the launcher's own stdout and stderr where they are pipes. */
export function widenOwnOutputPipes(): void {
  try {
    for (const fd of [1, 2]) {
      if (pipeOf(`/proc/self/fd/${fd}`)) widenPipe(fd);
    }
  } catch (error) {
    // No libc to call (a host without glibc): the pipes keep their size.
    log.debug("own output pipes not widened: {error}", { error: String(error) });
  }
}
