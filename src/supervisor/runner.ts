/**
 * One workload's loop, shaped like a reconciler: each turn makes one attempt (resolve the
 * anchor if needed → start the process → supervise it until it ends) and then carries out
 * the decision {@linkcode decideRestart} returns for the attempt's outcome. The loop, its
 * delays and its events live here; what to do next does not.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { SHA256_AUTO, type Workload } from "../config/mod.ts";
import { isPlatformError } from "../platform/errors.ts";
import type { LaunchedProcess, PlatformBackend } from "../platform/types.ts";
import { aborted, sleep } from "../util/sleep.ts";
import type { AnchorSource, ResolvedAnchor } from "./anchors.ts";
import { INITIAL_BACKOFF } from "./backoff.ts";
import { RotatingLogFile } from "./logfile.ts";
import { addLine, LineBatch, type OutputWriter } from "./output.ts";
import { probeOnce, ProbeState } from "./probes.ts";
import { forEachLine, type LineBlockHandler, relayLineBlocks } from "./relay.ts";
import {
  type AttemptOutcome,
  decideRestart,
  type FailedStage,
  type RestartState,
} from "./restart.ts";
import type { Emit, OutputSink, WorkloadStatus } from "./types.ts";

const log = getLogger(["cplauncher", "supervisor"]);

/** What a runner needs from the world, and nothing more. */
export interface RunnerContext {
  /** Starts processes in domains and checks where they listen. */
  readonly platform: PlatformBackend;
  /** The workload's anchor. */
  readonly anchor: AnchorSource;
  /** Aborts when the supervisor stops. */
  readonly stop: AbortSignal;
  /** Reports events to the supervisor's listeners. */
  readonly emit: Emit;
  /** Receives relayed output: a line at a time, or a writer that also takes blocks of lines. */
  readonly output?: OutputSink | OutputWriter;
  /**
   * Called once when this workload finds the launcher stranded (a `stranded` platform error):
   * the supervisor then stops every workload.
   */
  readonly halt?: (workload: string, message: string) => void;
  /**
   * The digest recorded for this workload in the lock file, which pins its program unless the
   * config gives a digest itself.
   */
  readonly pin?: ProgramPin;
}

/** A pinned program digest and where it was recorded, for the refusal message. */
export interface ProgramPin {
  /** Lowercase hex SHA-256. */
  readonly sha256: string;
  /** Where the digest comes from, e.g. `compartments.lock`. */
  readonly source: string;
}

/** How a runner ended. */
export interface RunnerResult {
  /** Set when the workload gave up. */
  readonly failedStage?: FailedStage;
}

type Wake =
  | { readonly kind: "exit" }
  | { readonly kind: "lost"; readonly reason: string }
  | { readonly kind: "unhealthy"; readonly reason: string }
  | { readonly kind: "stranded"; readonly reason: string }
  | { readonly kind: "stop" };

type Probe = NonNullable<Workload["probes"]["readiness"]>;

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => resolve = r);
  return { promise, resolve };
}

function firstLine(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0] : String(error);
}

/** The message of a `stranded` platform error in `error` or its causes, if there is one. */
function strandedMessage(error: unknown): string | undefined {
  for (let e = error, depth = 0; e !== undefined && depth < 8; depth++) {
    if (isPlatformError(e, "stranded")) return firstLine(e);
    e = e instanceof Error ? e.cause : undefined;
  }
  return undefined;
}

/** Runs one workload until its policy says it is done, it fails, or the supervisor stops. */
export class WorkloadRunner {
  readonly #name: string;
  readonly #spec: Workload;
  readonly #context: RunnerContext;
  #state: WorkloadStatus["state"] = "resolving";
  #ready = false;
  #pid?: number;
  #ip?: string;
  #restarts = 0;
  #lastExitCode?: number;
  #resolutionSeconds?: number;
  #error?: string;
  #failedStage?: FailedStage;
  #anchor?: ResolvedAnchor;
  #logFile?: { readonly file: RotatingLogFile; readonly batch: LineBatch };

  /** Prepares the loop of workload `name`; nothing happens until {@linkcode run}. */
  constructor(name: string, spec: Workload, context: RunnerContext) {
    this.#name = name;
    this.#spec = spec;
    this.#context = context;
  }

  /** The workload's current state. */
  status(): WorkloadStatus {
    return {
      name: this.#name,
      anchor: this.#spec.anchor,
      state: this.#state,
      ready: this.#ready,
      restarts: this.#restarts,
      ...(this.#pid !== undefined ? { pid: this.#pid } : {}),
      ...(this.#ip !== undefined ? { ip: this.#ip } : {}),
      ...(this.#lastExitCode !== undefined ? { lastExitCode: this.#lastExitCode } : {}),
      ...(this.#resolutionSeconds !== undefined
        ? { anchorResolutionSeconds: this.#resolutionSeconds }
        : {}),
      ...(this.#error ? { error: this.#error } : {}),
      ...(this.#failedStage ? { failedStage: this.#failedStage } : {}),
    };
  }

  /** The loop: attempt, decide, act, until done. */
  async run(): Promise<RunnerResult> {
    const { stop, emit } = this.#context;
    const settings = this.#spec.restart;
    let state: RestartState = { started: false, backoff: INITIAL_BACKOFF };
    if (this.#spec.logs) {
      const file = new RotatingLogFile(this.#name, this.#spec.logs);
      this.#logFile = { file, batch: new LineBatch((bytes) => file.write(bytes)) };
    }
    try {
      while (!stop.aborted) {
        const outcome = await this.#attempt();
        // A stranded launcher is decided on even while stopping: it must not exit 0.
        if (stop.aborted && outcome.kind !== "stranded") break;
        const next = decideRestart(outcome, settings, state);
        state = next.state;
        const decision = next.decision;
        switch (decision.kind) {
          case "fail":
            this.#fail(decision.stage, decision.message);
            return { failedStage: decision.stage };
          case "halt":
            this.#fail("stranded", decision.message);
            this.#context.halt?.(this.#name, decision.message);
            return { failedStage: "stranded" };
          case "done":
            this.#state = "done";
            return {};
          case "move":
            emit("anchorChanged", {
              workload: this.#name,
              anchor: this.#spec.anchor,
              reason: decision.reason,
            });
            log.warn("workload {workload}: {reason}; moving to the new anchor", {
              workload: this.#name,
              reason: decision.reason,
            });
            await this.#releaseAnchor();
            this.#restarts++;
            break;
          case "re-resolve":
            // After a replacement, keep waiting for a new anchor: report not-ready and retry.
            log.warn("workload {workload}: anchor not available yet: {message}", {
              workload: this.#name,
              message: decision.reason,
            });
            await sleep(decision.delayMs, stop);
            break;
          case "restart":
            this.#state = "backoff";
            if (decision.counted) {
              this.#restarts++;
            } else {
              log.error("workload {workload}: {message}", {
                workload: this.#name,
                message: decision.reason,
              });
            }
            emit("restarting", {
              workload: this.#name,
              reason: decision.reason,
              delayMs: decision.delayMs,
            });
            if (decision.counted && outcome.kind === "ran") {
              log.info(
                "workload {workload}: restarting in {delay} ms ({reason}, exit code {code}, restart #{n})",
                {
                  workload: this.#name,
                  delay: decision.delayMs,
                  reason: decision.reason,
                  code: outcome.status.code,
                  n: this.#restarts,
                },
              );
            }
            await sleep(decision.delayMs, stop);
            break;
        }
      }
      this.#state = "done";
      return {};
    } finally {
      this.#setReady(false);
      await this.#releaseAnchor();
      if (this.#logFile) {
        await this.#logFile.batch.drain();
        this.#logFile.file.close();
      }
    }
  }

  /** One attempt: the anchor (if not resolved yet), one launch, supervision to the end. */
  async #attempt(): Promise<AttemptOutcome> {
    this.#state = "resolving";
    this.#setReady(false);
    if (!this.#anchor) {
      try {
        this.#anchor = await this.#context.anchor.resolve(this.#context.stop);
      } catch (error) {
        const stranded = strandedMessage(error);
        if (stranded !== undefined) return { kind: "stranded", message: stranded };
        return { kind: "resolve-failed", message: firstLine(error) };
      }
      this.#ip = this.#anchor.ip;
      this.#resolutionSeconds = this.#anchor.resolutionSeconds;
      this.#context.emit("resolved", { workload: this.#name, anchor: this.#anchor });
    }
    const anchor = this.#anchor;
    const lost = deferred<string>();
    const stopWatching = await this.#context.anchor.watch(anchor, lost.resolve);
    try {
      this.#state = "starting";
      const pin = this.#pin();
      if (typeof pin === "string") return { kind: "launch-failed", message: pin, permanent: true };
      let child: LaunchedProcess;
      try {
        child = await this.#launchOnce(anchor, pin);
      } catch (error) {
        const stranded = strandedMessage(error);
        if (stranded !== undefined) return { kind: "stranded", message: stranded };
        return launchFailure(this.#spec.command[0], error);
      }
      return await this.#supervise(child, anchor, lost.promise);
    } finally {
      await stopWatching();
    }
  }

  #launchOnce(anchor: ResolvedAnchor, pin: ProgramPin | undefined): Promise<LaunchedProcess> {
    return this.#context.platform.launch(anchor.domain, {
      name: this.#name,
      command: this.#spec.command,
      env: this.#spec.env,
      ...(this.#spec.cwd ? { cwd: this.#spec.cwd } : {}),
      windowsStrategy: this.#spec.windows.strategy,
      compartmentEnvName: this.#spec.windows.compartmentEnv,
      ...(pin ? { sha256: pin.sha256, pinnedBy: pin.source } : {}),
      ...(this.#spec.programOwner ? { programOwner: this.#spec.programOwner } : {}),
    });
  }

  /**
   * The digest the program must have: the config's own, else the lock file's; a message when
   * the config asks for the lock file's (`auto`) and it has none.
   */
  #pin(): ProgramPin | string | undefined {
    const configured = this.#spec.sha256;
    if (configured !== undefined && configured !== SHA256_AUTO) {
      return { sha256: configured, source: "the config" };
    }
    if (this.#context.pin) return this.#context.pin;
    if (configured === SHA256_AUTO) {
      return `refusing to start ${JSON.stringify(this.#spec.command[0])}: its sha256 is ` +
        "auto, but no lock file pins it (record it with `cplauncher plan --pin`)";
    }
    return undefined;
  }

  async #releaseAnchor(): Promise<void> {
    const claim = this.#anchor?.pod?.claim;
    this.#anchor = undefined;
    await claim?.release();
  }

  #setReady(ready: boolean): void {
    if (this.#ready === ready) return;
    this.#ready = ready;
    this.#context.emit("ready", { workload: this.#name, ready });
    log.info("workload {workload} is {state}", {
      workload: this.#name,
      state: ready ? "ready" : "not ready",
    });
  }

  #fail(stage: FailedStage, message: string): void {
    this.#state = "failed";
    this.#error = message;
    this.#failedStage = stage;
    this.#context.emit("failed", { workload: this.#name, stage, message });
    log.error("workload {workload}: {message}", { workload: this.#name, message });
  }

  /** Watches a started child until it exits, its anchor is lost, it fails health, or stop. */
  async #supervise(
    child: LaunchedProcess,
    anchor: ResolvedAnchor,
    lost: Promise<string>,
  ): Promise<AttemptOutcome> {
    const startedAt = performance.now();
    const { stop, emit } = this.#context;
    this.#pid = child.pid;
    this.#state = "running";
    emit("started", { workload: this.#name, pid: child.pid, anchor });
    log.info("workload {workload} started: pid {pid} in {domain}{pod}", {
      workload: this.#name,
      pid: child.pid,
      domain: anchor.domain.kind === "netns"
        ? `netns ${anchor.domain.path}`
        : `compartment ${anchor.domain.id}`,
      pod: anchor.pod ? ` of pod ${anchor.pod.namespace}/${anchor.pod.pod} (${anchor.ip})` : "",
    });
    log.info("workload {workload} (pid {pid}) runs {program}: {digest}", {
      workload: this.#name,
      pid: child.pid,
      program: child.program.path,
      digest: child.program.sha256
        ? `sha256 ${child.program.sha256} verified`
        : "sha256 not pinned",
      sha256: child.program.sha256 ?? null,
    });
    const relays = Promise.all([
      this.#relay(child.stdout, "stdout"),
      this.#relay(child.stderr, "stderr"),
    ]);
    const unhealthy = deferred<string>();
    const stranded = deferred<string>();
    const monitors = new AbortController();
    const exited = child.status.then((): Wake => ({ kind: "exit" }));
    this.#monitor(child, anchor, monitors.signal, unhealthy.resolve, exited, stranded.resolve);
    const wake: Wake = await Promise.race([
      exited,
      lost.then((reason): Wake => ({ kind: "lost", reason })),
      unhealthy.promise.then((reason): Wake => ({ kind: "unhealthy", reason })),
      stranded.promise.then((reason): Wake => ({ kind: "stranded", reason })),
      aborted(stop).then((): Wake => ({ kind: "stop" })),
    ]);
    monitors.abort();
    this.#setReady(false);
    let reason = "exited";
    if (wake.kind !== "exit") {
      reason = wake.kind === "stop" ? "launcher stopping" : wake.reason;
      this.#state = "stopping";
      await this.#stopChild(child, reason);
    }
    const status = await child.status;
    await relays;
    const runMs = performance.now() - startedAt;
    log.info(
      "workload {workload} (pid {pid}) exited with code {code}{signal} after {seconds} s ({reason})",
      {
        workload: this.#name,
        pid: child.pid,
        code: status.code,
        signal: status.signal ? ` (signal ${status.signal})` : "",
        seconds: (runMs / 1000).toFixed(1),
        reason,
      },
    );
    this.#lastExitCode = status.code;
    this.#pid = undefined;
    emit("exited", { workload: this.#name, status, runMs, reason });
    if (wake.kind === "stranded") return { kind: "stranded", message: wake.reason };
    return {
      kind: "ran",
      status,
      runMs,
      reason,
      ...(wake.kind === "lost" ? { anchorLost: wake.reason } : {}),
    };
  }

  async #stopChild(child: LaunchedProcess, reason: string): Promise<void> {
    log.info("stopping workload {workload} (pid {pid}): {reason}", {
      workload: this.#name,
      pid: child.pid,
      reason,
    });
    try {
      child.terminate();
    } catch { /* already gone */ }
    // The grace timer is cancelled as soon as the child exits, so it never holds the event
    // loop open for the rest of stopTimeout.
    const grace = new AbortController();
    const timeout = sleep(this.#spec.stopTimeout, grace.signal).then(() => "timeout");
    const outcome = await Promise.race([child.status.then(() => "exited"), timeout]);
    grace.abort();
    if (outcome === "timeout") {
      log.warn("workload {workload} did not stop within {ms} ms; killing it", {
        workload: this.#name,
        ms: this.#spec.stopTimeout,
      });
      try {
        child.kill();
      } catch { /* already gone */ }
    }
  }

  /** Port verification and probes; calls `unhealthy` when the workload must be restarted. */
  async #monitor(
    child: LaunchedProcess,
    anchor: ResolvedAnchor,
    signal: AbortSignal,
    unhealthy: (reason: string) => void,
    exited: Promise<Wake>,
    stranded: (message: string) => void,
  ): Promise<void> {
    let running = true;
    exited.then(() => running = false);
    const port = this.#spec.port;
    if (port !== undefined) {
      const deadline = performance.now() + this.#spec.startupTimeout;
      let placed: { inside: boolean; outside: boolean } = { inside: false, outside: false };
      while (running && !signal.aborted && performance.now() < deadline) {
        try {
          placed = await this.#context.platform.listening(anchor.domain, child, port);
        } catch (error) {
          const message = strandedMessage(error);
          if (message !== undefined) return stranded(message);
          log.debug("listening check failed: {message}", { message: String(error) });
        }
        if (placed.inside || placed.outside) break;
        await sleep(100, signal);
      }
      if (!running || signal.aborted) return;
      if (placed.outside && !placed.inside) {
        return unhealthy(`port ${port} is listening outside the anchor's network, not inside it`);
      }
      if (!placed.inside) {
        return unhealthy(
          `port ${port} was not listening inside the anchor within ${this.#spec.startupTimeout} ms`,
        );
      }
      log.info("workload {workload} listens on port {port} inside the anchor{ip}", {
        workload: this.#name,
        port,
        ip: anchor.ip ? ` (${anchor.ip}:${port})` : "",
      });
    }
    const probes = this.#spec.probes;
    const host = anchor.ip ?? "127.0.0.1";
    if (probes.startup) {
      const ok = await this.#probeLoop(probes.startup, host, signal, "startup", true);
      if (!running || signal.aborted) return;
      if (!ok) return unhealthy("startup probe failed");
    }
    if (!probes.readiness) this.#setReady(true);
    const loops: Promise<unknown>[] = [];
    if (probes.readiness) {
      loops.push(this.#probeLoop(probes.readiness, host, signal, "readiness", false));
    }
    if (probes.liveness) {
      loops.push(
        this.#probeLoop(probes.liveness, host, signal, "liveness", false).then((ok) => {
          if (!ok && !signal.aborted) unhealthy("liveness probe failed");
        }),
      );
    }
    await Promise.all(loops);
  }

  /**
   * Runs a probe every `period`. Readiness loops forever, toggling readiness; liveness and
   * startup return false on failure; startup returns true on its first success.
   */
  async #probeLoop(
    probe: Probe,
    host: string,
    signal: AbortSignal,
    kind: "readiness" | "liveness" | "startup",
    untilSuccess: boolean,
  ): Promise<boolean> {
    const state = new ProbeState(probe);
    await sleep(probe.initialDelay, signal);
    while (!signal.aborted) {
      const result = await probeOnce(probe, host);
      if (signal.aborted) break;
      const changed = state.record(result.ok);
      if (changed) {
        log.info("workload {workload}: {kind} probe {verdict}: {detail}", {
          workload: this.#name,
          kind,
          verdict: state.healthy ? "succeeded" : "failed",
          detail: result.detail,
        });
      }
      if (kind === "readiness" && state.healthy !== undefined) this.#setReady(state.healthy);
      if (state.healthy === false && kind !== "readiness") return false;
      if (state.healthy === true && untilSuccess) return true;
      await sleep(probe.period, signal);
    }
    return true;
  }

  async #relay(stream: ReadableStream<Uint8Array>, name: "stdout" | "stderr"): Promise<void> {
    try {
      // A per-line sink may keep a line's bytes; a writer and the log file copy them.
      const reuseBuffer = typeof this.#context.output !== "function";
      await relayLineBlocks(stream, this.#relayHandler(name), { reuseBuffer });
    } catch (error) {
      log.warn("workload {workload}: {stream} relay ended: {message}", {
        workload: this.#name,
        stream: name,
        message: String(error),
      });
    }
  }

  /**
   * Where one stream's lines go: the output (a block at a time when it takes blocks, else
   * line by line) and the workload's log file; the relay waits for both.
   */
  #relayHandler(name: "stdout" | "stderr"): LineBlockHandler {
    const workload = this.#name;
    const output = this.#context.output;
    const logBatch = this.#logFile?.batch;
    const both = (written: void | Promise<void>, logged: Promise<void> | undefined) =>
      written && logged ? Promise.all([written, logged]).then(() => {}) : written ?? logged;
    const outputLine = (line: Uint8Array, continued: boolean) =>
      typeof output === "function"
        ? output({ workload, stream: name, line, continued })
        : output?.write({ workload, stream: name, line, continued });
    return {
      lines: (block) => {
        const written = typeof output === "function"
          ? forEachLine(block, outputLine)
          : output?.writeLines(workload, name, block);
        return both(written, logBatch?.add(block));
      },
      piece: (line, continued) =>
        both(outputLine(line, continued), logBatch ? addLine(logBatch, line) : undefined),
    };
  }
}

/**
 * The outcome of a launch that threw. A refused program (unsafe, or with another digest) is a
 * permanent failure: starting again would find the same file. The backend's own message names
 * the program and, when it was not found, where it was looked for.
 */
function launchFailure(program: string, error: unknown): AttemptOutcome {
  if (isPlatformError(error, "digest-mismatch", "unsafe-program")) {
    return { kind: "launch-failed", message: firstLine(error), permanent: true };
  }
  if (isPlatformError(error, "command-not-found", "invalid-command")) {
    return { kind: "launch-failed", message: firstLine(error), permanent: false };
  }
  return {
    kind: "launch-failed",
    message: `cannot start ${JSON.stringify(program)}: ${firstLine(error)}`,
    permanent: false,
  };
}
