/**
 * Waiting for a workload's whole process tree (`LaunchSpec.waitTree`, k2s's `-wait-tree`),
 * and killing what remains of it if the launcher dies.
 *
 * Membership. The workload starts in a new session (`detached`), so it leads its own process
 * group and everything it starts inherits that group unless it opts out. The launcher makes
 * itself a child subreaper (`PR_SET_CHILD_SUBREAPER`): a descendant orphaned by its parent's
 * exit is re-parented to the launcher instead of init, so it stays within reach. A poll every
 * {@linkcode POLL_MS} of `/proc` then counts as members: the process group, the children of
 * known members, and children the launcher adopted but never spawned (attributed to the tree
 * when only one tree is being watched). Members are remembered by pid and start time, so a
 * pid reused by an unrelated process is never mistaken for one.
 *
 * Waiting. `status` settles with the workload's own exit status once the workload and every
 * member have exited. Adopted members that exit are reaped here (nobody else waits for them).
 *
 * Launcher death. A guard process (`/bin/sh`, outside the tree) reads the member list from a
 * pipe the launcher holds open. If the launcher ends before the tree — even by SIGKILL — the
 * pipe closes and the guard SIGKILLs the process group and every member it was told about.
 * When the tree ends first, the launcher tells the guard so and it exits quietly.
 *
 * Remaining gap: a descendant that leaves the process group and whose parent exits within
 * one poll interval while several trees are watched is not attributed to any of them.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { ExitStatus } from "../types.ts";
import { becomeChildSubreaper, reapIfExited } from "./libc.ts";

const log = getLogger(["cplauncher", "linux"]);

/** How often `/proc` is read while a tree is watched. */
export const POLL_MS = 100;

/** One `/proc/PID/stat` line, as far as tree membership needs it. */
export interface ProcEntry {
  /** Process id. */
  readonly pid: number;
  /** Parent process id. */
  readonly ppid: number;
  /** Process group id. */
  readonly pgrp: number;
  /** `R`, `S`, `Z`… (`Z` and `X`: exited). */
  readonly state: string;
  /** Start time in clock ticks after boot: with the pid, it names one process for good. */
  readonly startTicks: number;
}

/** Parses `/proc/PID/stat`; null for text that is not one. */
export function parseProcStat(text: string): ProcEntry | null {
  const open = text.indexOf(" (");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  // After "pid (comm)": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
  // cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime …
  const fields = text.slice(close + 2).split(" ");
  const entry = {
    pid: Number(text.slice(0, open)),
    state: fields[0],
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    startTicks: Number(fields[19]),
  };
  return Number.isInteger(entry.pid) && Number.isInteger(entry.ppid) &&
      Number.isInteger(entry.pgrp) && Number.isFinite(entry.startTicks)
    ? entry
    : null;
}

function readProcTable(): ProcEntry[] {
  const entries: ProcEntry[] = [];
  for (const dirent of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(dirent.name)) continue;
    try {
      const entry = parseProcStat(Deno.readTextFileSync(`/proc/${dirent.name}/stat`));
      if (entry) entries.push(entry);
    } catch { /* exited while we looked */ }
  }
  return entries;
}

const exited = (entry: ProcEntry) => entry.state === "Z" || entry.state === "X";

/** The inputs of one membership step, for {@linkcode nextMembers}. */
export interface MembershipInput {
  /** The current `/proc` table. */
  readonly table: readonly ProcEntry[];
  /** Known members: pid → start ticks. */
  readonly members: ReadonlyMap<number, number>;
  /** The tree's process group. */
  readonly pgid: number;
  /** The launcher's pid. */
  readonly self: number;
  /** Children the launcher spawned itself (workloads, guards): never adopted. */
  readonly spawned: ReadonlySet<number>;
  /** Whether the launcher's unknown children may be attributed to this tree. */
  readonly adoptOrphans: boolean;
}

/**
 * One membership step, pure: which members are still alive and which processes joined.
 * Exited members (zombies, vanished pids, pids now naming another process) drop out.
 */
export function nextMembers(input: MembershipInput): {
  alive: Map<number, number>;
  joined: number[];
  exited: ProcEntry[];
} {
  const byPid = new Map(input.table.map((e) => [e.pid, e]));
  const alive = new Map<number, number>();
  const gone: ProcEntry[] = [];
  for (const [pid, start] of input.members) {
    const entry = byPid.get(pid);
    if (entry && entry.startTicks === start && !exited(entry)) alive.set(pid, start);
    else if (entry && entry.startTicks === start) gone.push(entry);
  }
  const joined: number[] = [];
  const belongs = (e: ProcEntry) =>
    e.pgrp === input.pgid || alive.has(e.ppid) ||
    (input.adoptOrphans && e.ppid === input.self && !input.spawned.has(e.pid));
  // Repeat until stable: a new member's own children join in the same step.
  for (let changed = true; changed;) {
    changed = false;
    for (const entry of input.table) {
      if (alive.has(entry.pid) || exited(entry) || entry.pid === input.self) continue;
      if (!belongs(entry)) continue;
      alive.set(entry.pid, entry.startTicks);
      joined.push(entry.pid);
      changed = true;
    }
  }
  // Exited processes the launcher adopted are reaped by it; find the unknown ones too.
  for (const entry of input.table) {
    if (
      exited(entry) && entry.ppid === input.self && !input.spawned.has(entry.pid) &&
      !gone.includes(entry) && (entry.pgrp === input.pgid || input.adoptOrphans)
    ) gone.push(entry);
  }
  return { alive, joined, exited: gone };
}

/** Pids of the launcher's own `Deno.Command` children (Deno reaps those, never us). */
const spawnedBySelf = new Set<number>();
const watched = new Set<ProcessTree>();
let subreaper = false;

/**
 * Makes the launcher a child subreaper, once. Call it before spawning a tree's workload: a
 * descendant orphaned before this call would go to init and out of reach.
 */
export function enableSubreaper(): void {
  if (subreaper) return;
  becomeChildSubreaper();
  subreaper = true;
  log.debug("the launcher is now a child subreaper: orphaned workload processes stay ours");
}

/** Records a child spawned through `Deno.Command`, until its status settles. */
export function rememberSpawn(pid: number, status: Promise<unknown>): void {
  spawnedBySelf.add(pid);
  const forget = () => spawnedBySelf.delete(pid);
  status.then(forget, forget);
}

/**
 * Reads the member list from stdin; on `done` exits, on end of input (the launcher is gone)
 * kills the process group and every listed member. Ignores the signals that end a terminal
 * session, so it outlives the launcher for exactly as long as it needs.
 */
const GUARD_SCRIPT = `trap '' INT TERM HUP PIPE
pgid=$1
pids=
while IFS= read -r line; do
  case $line in
    done) exit 0 ;;
    +*) pids="$pids \${line#+}" ;;
    -*) keep=; for p in $pids; do [ "$p" = "\${line#-}" ] || keep="$keep $p"; done; pids=$keep ;;
  esac
done
kill -s KILL -- "-$pgid" $pids 2>/dev/null
exit 0
`;

/** A workload's process tree, watched until every process in it has exited. */
export class ProcessTree {
  /** The workload's pid, which is also the tree's process group id. */
  readonly pid: number;
  /** The workload's exit status, settled once the whole tree has exited. */
  readonly status: Promise<ExitStatus>;
  #members = new Map<number, number>();
  #primaryStatus: ExitStatus | undefined;
  #guard: { child: Deno.ChildProcess; writer: WritableStreamDefaultWriter<Uint8Array> } | null =
    null;
  #guardWrites: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #reportedWait = false;
  #finish!: (status: ExitStatus) => void;

  /**
   * Starts watching the tree of `pid`, a session leader started by this process.
   *
   * @param primaryStatus the workload's own status (from `Deno.Command`)
   */
  constructor(pid: number, primaryStatus: Promise<ExitStatus>) {
    this.pid = pid;
    this.status = new Promise((resolve) => this.#finish = resolve);
    enableSubreaper();
    watched.add(this);
    try {
      const start = parseProcStat(Deno.readTextFileSync(`/proc/${pid}/stat`));
      if (start) this.#members.set(pid, start.startTicks);
    } catch { /* already exited; its status says so */ }
    this.#startGuard();
    this.#note(pid, "+");
    primaryStatus.then((status) => {
      this.#primaryStatus = status;
      this.#poll();
    });
    this.#schedule();
  }

  /** Pids of the processes in the tree now. */
  members(): number[] {
    this.#refresh();
    return [...this.#members.keys()];
  }

  /** Sends `signal` to every process in the tree (and its process group). */
  signal(signal: Deno.Signal): void {
    this.#refresh();
    try {
      Deno.kill(-this.pid, signal);
    } catch { /* no process left in the group */ }
    for (const pid of this.#members.keys()) {
      try {
        Deno.kill(pid, signal);
      } catch { /* already exited */ }
    }
  }

  #startGuard(): void {
    try {
      const child = new Deno.Command("/bin/sh", {
        args: ["-c", GUARD_SCRIPT, "cplauncher-tree-guard", String(this.pid)],
        stdin: "piped",
        stdout: "null",
        stderr: "null",
      }).spawn();
      rememberSpawn(child.pid, child.status);
      // The guard must not keep the launcher alive; it is told "done" when the tree ends.
      child.unref();
      this.#guard = { child, writer: child.stdin.getWriter() };
    } catch (error) {
      log.warn(
        "wait-tree: cannot start the guard that kills the tree of pid {pid} if the launcher " +
          "dies ({message}); the tree is still waited for",
        { pid: this.pid, message: error instanceof Error ? error.message : String(error) },
      );
    }
  }

  #note(pid: number | "done", sign: "+" | "-" | ""): void {
    const guard = this.#guard;
    if (!guard) return;
    const line = new TextEncoder().encode(`${sign}${pid}\n`);
    this.#guardWrites = this.#guardWrites.then(() => guard.writer.write(line)).catch(() => {});
  }

  #schedule(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#poll();
    }, POLL_MS);
  }

  #refresh(): void {
    const step = nextMembers({
      table: readProcTable(),
      members: this.#members,
      pgid: this.pid,
      self: Deno.pid,
      spawned: spawnedBySelf,
      adoptOrphans: watched.size === 1,
    });
    for (const pid of step.joined) {
      this.#note(pid, "+");
      log.debug("wait-tree {root}: process {pid} joined the tree", { root: this.pid, pid });
    }
    for (const entry of step.exited) {
      if (entry.ppid === Deno.pid && !spawnedBySelf.has(entry.pid)) reapIfExited(entry.pid);
    }
    for (const pid of this.#members.keys()) if (!step.alive.has(pid)) this.#note(pid, "-");
    this.#members = step.alive;
  }

  #poll(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#refresh();
    const primary = this.#primaryStatus;
    // The primary is a Deno child: its status, not /proc, says when it is gone.
    if (primary !== undefined) this.#members.delete(this.pid);
    if (primary === undefined || this.#members.size > 0) {
      if (primary !== undefined && this.#members.size > 0 && !this.#reportedWait) {
        this.#reportedWait = true;
        log.info(
          "workload pid {pid} exited with code {code}; waiting for {count} remaining process(es) " +
            "of its tree: {pids}",
          {
            pid: this.pid,
            code: primary.code,
            count: this.#members.size,
            pids: [...this.#members.keys()].join(", "),
          },
        );
      }
      this.#schedule();
      return;
    }
    watched.delete(this);
    this.#note("done", "");
    const guard = this.#guard;
    this.#guardWrites.then(() => guard?.writer.close()).catch(() => {}).finally(() => {
      this.#finish(primary);
    });
  }
}
