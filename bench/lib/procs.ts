/**
 * Processes the benchmarks start: each in its own session (so one signal to the group
 * ends it with everything it forked), with its output collected, registered for cleanup
 * until it has ended. Plus the clock every benchmark shares and `/proc` readers.
 *
 * @module
 */

/** Milliseconds since the epoch with sub-millisecond resolution (same clock in every process). */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A started process; `stop()` ends its whole process group. */
export interface BenchProcess {
  readonly pid: number;
  readonly child: Deno.ChildProcess;
  /** Output collected so far (empty when the stream was not piped or is counted). */
  stdout(): string;
  stderr(): string;
  /** Exit status once it ended (and its piped output was drained). */
  readonly status: Promise<Deno.CommandStatus>;
  /** Whether it has ended. */
  ended(): boolean;
  /** Waits until `pattern` shows up in stderr + stdout; throws after `ms` or on exit. */
  waitFor(pattern: RegExp, ms: number): Promise<RegExpMatchArray>;
  /** SIGTERM to the group, SIGKILL after `graceMs`; resolves when it ended. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** Options of {@linkcode spawn}. */
export interface SpawnOptions {
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  /** `collect` (default) keeps the text; `count` hands chunks to `onStdout`; or `null`. */
  readonly stdout?: "collect" | "null" | "count";
  readonly stderr?: "collect" | "null";
  /** With `stdout: "count"`: called with each chunk as it arrives. */
  readonly onStdout?: (chunk: Uint8Array) => void;
}

const live = new Set<BenchProcess>();

/** Every process started by {@linkcode spawn} that has not ended yet. */
export function liveProcesses(): BenchProcess[] {
  return [...live];
}

/** Stops every process still running (for cleanup paths). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop(2000).catch(() => {})));
}

function signalGroup(pid: number, signal: Deno.Signal): void {
  try {
    Deno.kill(-pid, signal);
  } catch {
    // The group is gone already.
  }
}

/** Starts `cmd args` in a new session. */
export function spawn(cmd: string, args: string[], options: SpawnOptions = {}): BenchProcess {
  const outMode = options.stdout ?? "collect";
  const errMode = options.stderr ?? "collect";
  const child = new Deno.Command(cmd, {
    args,
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: outMode === "null" ? "null" : "piped",
    stderr: errMode === "null" ? "null" : "piped",
    detached: true, // setsid: its own process group, which stop() signals as a whole
  }).spawn();
  let out = "";
  let err = "";
  let done = false;
  const drain = async (
    stream: ReadableStream<Uint8Array>,
    add: (chunk: Uint8Array, decoder: TextDecoder) => void,
  ) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) add(chunk, decoder);
  };
  const pumps: Promise<void>[] = [];
  if (outMode === "collect") {
    pumps.push(drain(child.stdout, (c, d) => out += d.decode(c, { stream: true })));
  } else if (outMode === "count") {
    const on = options.onStdout ?? (() => {});
    pumps.push(drain(child.stdout, (c) => on(c)));
  }
  if (errMode === "collect") {
    pumps.push(drain(child.stderr, (c, d) => err += d.decode(c, { stream: true })));
  }
  const status = Promise.all(pumps).then(() => child.status).finally(() => {
    done = true;
    live.delete(proc);
  });
  let stopping: Promise<void> | undefined;
  const proc: BenchProcess = {
    pid: child.pid,
    child,
    stdout: () => out,
    stderr: () => err,
    status,
    ended: () => done,
    async waitFor(pattern, ms) {
      const deadline = performance.now() + ms;
      while (performance.now() < deadline) {
        const match = (err + out).match(pattern);
        if (match) return match;
        if (done) break;
        await sleep(20);
      }
      const match = (err + out).match(pattern);
      if (match) return match;
      throw new Error(
        `${cmd} never printed ${pattern}${done ? " (it exited)" : ` within ${ms} ms`}:\n` +
          `${err.slice(-3000)}\n${out.slice(-1000)}`,
      );
    },
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        if (done) return;
        signalGroup(child.pid, "SIGTERM");
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timedOut = await Promise.race([
          status.then(() => false),
          new Promise<boolean>((r) => timer = setTimeout(() => r(true), graceMs)),
        ]);
        clearTimeout(timer);
        if (timedOut) {
          signalGroup(child.pid, "SIGKILL");
          await status;
        }
        // Anything of the group that outlived its leader (it ignored SIGTERM).
        signalGroup(child.pid, "SIGKILL");
      })();
      return stopping;
    },
  };
  live.add(proc);
  return proc;
}

/** Runs a command to completion: exit code, output and wall time. */
export async function runCommand(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  const out = await new Deno.Command(cmd, {
    args,
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr), ms };
}

/** A `VmXxx:` field of `/proc/PID/status` in KiB (0 when the process is gone). */
export function procStatusKiB(pid: number, field: "VmHWM" | "VmRSS"): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** CPU time (user + system) a process has used so far, in ms (null when it is gone). */
export function procCpuMs(pid: number): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 (1-based), in clock ticks of 1/100 s on Linux.
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}
