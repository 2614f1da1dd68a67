/**
 * An in-memory platform backend for fast supervisor tests: every launch follows a script
 * (exit code and when, output lines, whether SIGTERM is honoured, where the port listens),
 * and every call is recorded. No processes, no namespaces, no root. A pinned digest is checked
 * against the file `command[0]` names, as given; a refused launch is not recorded.
 */
import { createHash } from "node:crypto";
import { PlatformError } from "../../src/platform/errors.ts";
import { digestMismatch } from "../../src/platform/program.ts";
import type {
  ExitStatus,
  IsolationDomain,
  LaunchedProcess,
  LaunchSpec,
  PlatformBackend,
  ProgramSpec,
  ResolvedProgram,
} from "../../src/platform/types.ts";

/** What one launch does. */
export interface ScriptedRun {
  /** Throw this message from `launch` instead of starting. */
  readonly launchError?: string;
  /** Exit by itself with this code after `exitAfterMs` (default: run until stopped). */
  readonly exitCode?: number;
  /** Milliseconds until the scripted exit (default 0). */
  readonly exitAfterMs?: number;
  /** Lines written to stdout / stderr right after the start. */
  readonly stdout?: readonly string[];
  /** Lines written to stderr right after the start. */
  readonly stderr?: readonly string[];
  /** Ignore `terminate()` (only `kill()` ends it). */
  readonly ignoreTerminate?: boolean;
  /** Where the workload's port listens. */
  readonly listens?: { readonly inside: boolean; readonly outside: boolean };
  /**
   * Report the launcher stranded (a `stranded` PlatformError with this message): from
   * `launch` instead of starting, or from the `listening` checks of the started process.
   */
  readonly stranded?: { readonly in: "launch" | "listening"; readonly message: string };
}

/** One recorded launch. */
export interface LaunchRecord {
  readonly domain: IsolationDomain;
  readonly spec: LaunchSpec;
  readonly pid: number;
  /** Signals the process received, in order: `TERM`, `KILL`. */
  readonly signals: string[];
  /** Resolves with the exit status. */
  readonly status: Promise<ExitStatus>;
}

/** A scripted backend: `script(n, spec)` says what launch number `n` (from 0) does. */
export class FakePlatform implements PlatformBackend {
  readonly os = "linux" as const;
  readonly launches: LaunchRecord[] = [];
  /** How often the supervisor asked the backend to warm up, and how many launches came first. */
  readonly warmUps: { readonly launchesBefore: number }[] = [];
  readonly #script: (n: number, spec: LaunchSpec) => ScriptedRun;
  readonly #staticError?: string;
  #nextPid = 1000;

  constructor(
    script: (n: number, spec: LaunchSpec) => ScriptedRun,
    options: { staticError?: string; staticStranded?: string } = {},
  ) {
    this.#script = script;
    if (options.staticError) this.#staticError = options.staticError;
    if (options.staticStranded) this.#staticStranded = options.staticStranded;
  }

  readonly #staticStranded?: string;

  warmUp(): Promise<void> {
    this.warmUps.push({ launchesBefore: this.launches.length });
    return Promise.resolve();
  }

  resolveAddress(ip: string): Promise<IsolationDomain> {
    return Promise.resolve({ kind: "netns", path: `/fake/netns/${ip}`, inode: inodeOf(ip) });
  }

  openStatic(anchor: { netns: string } | { compartment: number }): Promise<IsolationDomain> {
    if (this.#staticStranded) {
      return Promise.reject(new PlatformError("stranded", this.#staticStranded));
    }
    if (this.#staticError) return Promise.reject(new Error(this.#staticError));
    return Promise.resolve(
      "netns" in anchor
        ? { kind: "netns", path: anchor.netns, inode: inodeOf(anchor.netns) }
        : { kind: "compartment", id: anchor.compartment, source: "static" },
    );
  }

  async inspectProgram(spec: ProgramSpec): Promise<Required<ResolvedProgram>> {
    const path = spec.command[0];
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      throw new PlatformError("command-not-found", `program ${path} not found: ${error}`);
    }
    return { path, sha256: createHash("sha256").update(bytes).digest("hex") };
  }

  async launch(domain: IsolationDomain, spec: LaunchSpec): Promise<LaunchedProcess> {
    if (spec.sha256 === undefined) return this.#start(domain, spec, { path: spec.command[0] });
    const program = await this.inspectProgram(spec);
    if (program.sha256 !== spec.sha256) throw digestMismatch(program.path, program.sha256, spec);
    return await this.#start(domain, spec, program);
  }

  #start(
    domain: IsolationDomain,
    spec: LaunchSpec,
    program: ResolvedProgram,
  ): Promise<LaunchedProcess> {
    const run = this.#script(this.launches.length, spec);
    const launchFailure = run.stranded?.in === "launch"
      ? new PlatformError("stranded", run.stranded.message)
      : run.launchError
      ? new Error(run.launchError)
      : undefined;
    if (launchFailure) {
      this.launches.push({
        domain,
        spec,
        pid: 0,
        signals: [],
        status: Promise.resolve({ code: -1, signal: null }),
      });
      return Promise.reject(launchFailure);
    }
    const pid = this.#nextPid++;
    const signals: string[] = [];
    let finish!: (status: ExitStatus) => void;
    let ended = false;
    const status = new Promise<ExitStatus>((resolve) => {
      finish = (s) => {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        out.close();
        err.close();
        resolve(s);
      };
    });
    const out = lineStream(run.stdout ?? []);
    const err = lineStream(run.stderr ?? []);
    const timer = run.exitCode !== undefined
      ? setTimeout(() => finish({ code: run.exitCode!, signal: null }), run.exitAfterMs ?? 0)
      : undefined;
    this.launches.push({ domain, spec, pid, signals, status });
    const listens = run.listens;
    this.#listening.set(pid, listens ?? { inside: true, outside: false });
    if (run.stranded?.in === "listening") this.#strandedListening.set(pid, run.stranded.message);
    return Promise.resolve({
      pid,
      program,
      stdout: out.stream,
      stderr: err.stream,
      status,
      terminate: () => {
        signals.push("TERM");
        if (!run.ignoreTerminate) finish({ code: 143, signal: "SIGTERM" });
      },
      kill: () => {
        signals.push("KILL");
        finish({ code: 137, signal: "SIGKILL" });
      },
    });
  }

  readonly #listening = new Map<number, { inside: boolean; outside: boolean }>();
  readonly #strandedListening = new Map<number, string>();

  listening(
    _domain: IsolationDomain,
    child: LaunchedProcess,
    _port: number,
  ): Promise<{ inside: boolean; outside: boolean }> {
    const stranded = this.#strandedListening.get(child.pid);
    if (stranded) return Promise.reject(new PlatformError("stranded", stranded));
    return Promise.resolve(this.#listening.get(child.pid) ?? { inside: false, outside: false });
  }
}

function inodeOf(text: string): number {
  let hash = 7;
  for (const c of text) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return hash;
}

function lineStream(lines: readonly string[]): {
  stream: ReadableStream<Uint8Array>;
  close: () => void;
} {
  let controller!: ReadableByteStreamController;
  let closed = false;
  // A byte stream, like a real child's pipe: the relay may read it into its own buffer.
  const stream = new ReadableStream({
    type: "bytes",
    start(c) {
      controller = c;
      const encoder = new TextEncoder();
      for (const line of lines) c.enqueue(encoder.encode(`${line}\n`));
    },
  });
  return {
    stream: stream as ReadableStream<Uint8Array>,
    close: () => {
      if (closed) return;
      closed = true;
      controller.close();
      // A read into the reader's own buffer that is waiting ends with zero bytes.
      controller.byobRequest?.respond(0);
    },
  };
}
