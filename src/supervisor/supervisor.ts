/**
 * The supervisor: every selected workload runs in its own loop (resolve anchor → launch in
 * its domain → verify → probe → wait → restart by policy), concurrently, so one slow anchor
 * does not hold back the others. Library code: it reports through typed events and logs,
 * never prints.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Anchor, Config, Workload } from "../config/mod.ts";
import { type LoadedKubeConfig, loadKubeConfig, PodWatchHub } from "../kube/mod.ts";
import type { ExitStatus, LaunchedProcess, PlatformBackend } from "../platform/types.ts";
import { resolveAnchor, type ResolvedAnchor, watchAnchorPod } from "./anchors.ts";
import { Backoff } from "./backoff.ts";
import { RotatingLogFile } from "./logfile.ts";
import { probeOnce, ProbeState } from "./probes.ts";
import { relayLines } from "./relay.ts";

const log = getLogger(["cplauncher", "supervisor"]);

/** One relayed line of a workload's output. */
export interface OutputLine {
  /** Workload name. */
  readonly workload: string;
  /** Which of the child's streams. */
  readonly stream: "stdout" | "stderr";
  /** The line's bytes without the newline. */
  readonly line: Uint8Array;
  /** True when this is a piece of an over-long line that continues. */
  readonly continued: boolean;
}

/** Events the supervisor emits, by name. */
export interface SupervisorEvents {
  /** The anchor of a workload resolved to a domain. */
  resolved: { workload: string; anchor: ResolvedAnchor };
  /** A workload process started. */
  started: { workload: string; pid: number; anchor: ResolvedAnchor };
  /** Readiness changed. */
  ready: { workload: string; ready: boolean };
  /** A workload process ended. */
  exited: { workload: string; status: ExitStatus; runMs: number; reason: string };
  /** A workload will start again after `delayMs`. */
  restarting: { workload: string; reason: string; delayMs: number };
  /** The anchor pod went away or changed; the workload moves. */
  anchorChanged: { workload: string; anchor: string; reason: string };
  /** A workload gave up. */
  failed: { workload: string; stage: "resolve" | "launch"; message: string };
}

/** State of one workload, for health endpoints and metrics. */
export interface WorkloadStatus {
  /** Workload name. */
  readonly name: string;
  /** Anchor name. */
  readonly anchor: string;
  /** Where the workload is in its life cycle. */
  readonly state: "resolving" | "starting" | "running" | "backoff" | "stopping" | "done" | "failed";
  /** Whether it is ready (port verified and readiness probe passing). */
  readonly ready: boolean;
  /** Process id while running. */
  readonly pid?: number;
  /** The anchor IP it answers on. */
  readonly ip?: string;
  /** How often it was restarted. */
  readonly restarts: number;
  /** Exit code of the last run. */
  readonly lastExitCode?: number;
  /** How long its anchor took to resolve. */
  readonly anchorResolutionSeconds?: number;
  /** Why it failed, when it did. */
  readonly error?: string;
}

/** How a supervisor run ended. */
export interface SupervisorResult {
  /** Suggested process exit code (see the README's exit code table). */
  readonly exitCode: number;
  /** Final state of every workload. */
  readonly workloads: readonly WorkloadStatus[];
}

/** Options of {@linkcode Supervisor}. */
export interface SupervisorOptions {
  /** The validated config. */
  readonly config: Config;
  /** The OS backend (see createPlatform). */
  readonly platform: PlatformBackend;
  /** Only these workloads (default: all). */
  readonly workloads?: readonly string[];
  /** Credentials loader (default: from `config.kubernetes.kubeconfig`, loaded on first use). */
  readonly kube?: () => Promise<LoadedKubeConfig>;
  /**
   * Receives relayed child output, in order per stream. Returning a promise makes the relay
   * wait before reading more of that stream (backpressure onto the child's pipe).
   */
  readonly output?: (line: OutputLine) => void | Promise<void>;
  /** Claim identity / TTL and watch backoff for Kubernetes anchors. */
  readonly resolveOptions?: { holder?: string; claimTtlMs?: number; maxBackoffMs?: number };
}

/** A listener of one supervisor event. */
export type SupervisorListener<K extends keyof SupervisorEvents> = (
  event: SupervisorEvents[K],
) => void;

/** Runs and watches over the workloads of a config. */
export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #runners: WorkloadRunner[];
  readonly #listeners = new Map<keyof SupervisorEvents, Set<(event: unknown) => void>>();
  readonly #stop = new AbortController();
  #done?: Promise<SupervisorResult>;
  #kube?: Promise<LoadedKubeConfig>;
  #hub?: Promise<PodWatchHub>;

  /** Prepares runners for the selected workloads; nothing starts until {@linkcode start}. */
  constructor(options: SupervisorOptions) {
    this.#options = options;
    const names = options.workloads ?? Object.keys(options.config.workloads);
    for (const name of names) {
      if (!Object.hasOwn(options.config.workloads, name)) {
        throw new Error(
          `no workload named "${name}" in the config (have: ${
            Object.keys(options.config.workloads).join(", ")
          })`,
        );
      }
    }
    this.#runners = names.map((name) =>
      new WorkloadRunner(this, name, options.config.workloads[name])
    );
  }

  /** Subscribes to an event; returns an unsubscribe function. */
  on<K extends keyof SupervisorEvents>(type: K, listener: SupervisorListener<K>): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, set = new Set());
    set.add(listener as (event: unknown) => void);
    return () => set.delete(listener as (event: unknown) => void);
  }

  /** @internal */
  emit<K extends keyof SupervisorEvents>(type: K, event: SupervisorEvents[K]): void {
    for (const listener of this.#listeners.get(type) ?? []) {
      try {
        listener(event);
      } catch (error) {
        log.error("a {type} listener threw: {message}", { type, message: String(error) });
      }
    }
  }

  /** @internal */
  get options(): SupervisorOptions {
    return this.#options;
  }

  /** @internal */
  get stopSignal(): AbortSignal {
    return this.#stop.signal;
  }

  /** @internal One pod watch per namespace, shared by all anchors of this supervisor. */
  hub(): Promise<PodWatchHub> {
    this.#hub ??= this.kube().then((kube) =>
      new PodWatchHub(
        kube,
        this.#options.resolveOptions?.maxBackoffMs !== undefined
          ? { maxBackoffMs: this.#options.resolveOptions.maxBackoffMs }
          : {},
      )
    );
    return this.#hub;
  }

  /** @internal Credentials, loaded once on first use. */
  kube(): Promise<LoadedKubeConfig> {
    this.#kube ??= this.#options.kube?.() ??
      loadKubeConfig(this.#options.config.kubernetes.kubeconfig);
    return this.#kube;
  }

  /** Starts every workload; resolves when all have ended (or after {@linkcode stop}). */
  start(): Promise<SupervisorResult> {
    this.#done ??= (async () => {
      const outcomes = await Promise.all(this.#runners.map((runner) => runner.run()));
      await this.#hub?.then((hub) => hub.close(), () => {});
      return { exitCode: this.#exitCode(outcomes), workloads: this.status() };
    })();
    return this.#done;
  }

  /** Stops every workload gracefully (SIGTERM / Ctrl-Break, then kill after stopTimeout). */
  async stop(): Promise<SupervisorResult> {
    this.#stop.abort();
    return await (this.#done ?? this.start());
  }

  /** Current state of every workload. */
  status(): WorkloadStatus[] {
    return this.#runners.map((runner) => runner.status());
  }

  #exitCode(outcomes: RunOutcome[]): number {
    if (outcomes.some((o) => o.failedStage === "resolve")) return 3;
    if (outcomes.some((o) => o.failedStage === "launch")) return 4;
    if (this.#stop.signal.aborted) return 0;
    if (this.#runners.length === 1) return outcomes[0].lastExit?.code ?? 0;
    return outcomes.every((o) => (o.lastExit?.code ?? 0) === 0) ? 0 : 1;
  }
}

interface RunOutcome {
  failedStage?: "resolve" | "launch";
  lastExit?: ExitStatus;
}

type WakeReason =
  | { kind: "exit"; status: ExitStatus }
  | { kind: "lost"; reason: string }
  | { kind: "unhealthy"; reason: string }
  | { kind: "stop" };

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => resolve = r);
  return { promise, resolve };
}

function abortPromise(signal: AbortSignal): Promise<void> {
  return signal.aborted
    ? Promise.resolve()
    : new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Where a bare program name would be found on PATH (for the digest check); names with a
 * directory part are used as they are.
 */
function findProgram(program: string, path: string | undefined): string {
  if (/[\\/]/.test(program) || !path) return program;
  const windows = Deno.build.os === "windows";
  const suffixes = windows && !/\.[a-z0-9]+$/i.test(program) ? [".exe", ""] : [""];
  for (const dir of path.split(windows ? ";" : ":")) {
    for (const suffix of suffixes) {
      const candidate = `${dir}${windows ? "\\" : "/"}${program}${suffix}`;
      try {
        if (Deno.statSync(candidate).isFile) return candidate;
      } catch { /* not here */ }
    }
  }
  return program;
}

/** One workload's loop. */
class WorkloadRunner {
  readonly #supervisor: Supervisor;
  readonly #name: string;
  readonly #spec: Workload;
  readonly #anchor: Anchor;
  #state: WorkloadStatus["state"] = "resolving";
  #ready = false;
  #pid?: number;
  #ip?: string;
  #restarts = 0;
  #lastExit?: ExitStatus;
  #resolutionSeconds?: number;
  #error?: string;
  #logFile?: RotatingLogFile;

  constructor(supervisor: Supervisor, name: string, spec: Workload) {
    this.#supervisor = supervisor;
    this.#name = name;
    this.#spec = spec;
    this.#anchor = supervisor.options.config.anchors[spec.anchor];
  }

  status(): WorkloadStatus {
    return {
      name: this.#name,
      anchor: this.#spec.anchor,
      state: this.#state,
      ready: this.#ready,
      restarts: this.#restarts,
      ...(this.#pid !== undefined ? { pid: this.#pid } : {}),
      ...(this.#ip !== undefined ? { ip: this.#ip } : {}),
      ...(this.#lastExit ? { lastExitCode: this.#lastExit.code } : {}),
      ...(this.#resolutionSeconds !== undefined
        ? { anchorResolutionSeconds: this.#resolutionSeconds }
        : {}),
      ...(this.#error ? { error: this.#error } : {}),
    };
  }

  #setReady(ready: boolean): void {
    if (this.#ready === ready) return;
    this.#ready = ready;
    this.#supervisor.emit("ready", { workload: this.#name, ready });
    log.info("workload {workload} is {state}", {
      workload: this.#name,
      state: ready ? "ready" : "not ready",
    });
  }

  #fail(stage: "resolve" | "launch", message: string): RunOutcome {
    this.#state = "failed";
    this.#error = message;
    this.#supervisor.emit("failed", { workload: this.#name, stage, message });
    log.error("workload {workload}: {message}", { workload: this.#name, message });
    return { failedStage: stage };
  }

  async run(): Promise<RunOutcome> {
    const stop = this.#supervisor.stopSignal;
    const { backoff: settings, policy } = this.#spec.restart;
    const backoff = new Backoff(settings);
    const context = {
      platform: this.#supervisor.options.platform,
      kube: () => this.#supervisor.kube(),
      hub: () => this.#supervisor.hub(),
      ...(this.#supervisor.options.resolveOptions
        ? { resolveOptions: this.#supervisor.options.resolveOptions }
        : {}),
    };
    if (this.#spec.logs) this.#logFile = new RotatingLogFile(this.#name, this.#spec.logs);
    let started = false;
    let anchor: ResolvedAnchor | undefined;
    try {
      while (!stop.aborted) {
        this.#state = "resolving";
        this.#setReady(false);
        if (!anchor) {
          try {
            anchor = await resolveAnchor(this.#spec.anchor, this.#anchor, context, stop);
          } catch (error) {
            if (stop.aborted) break;
            const message = error instanceof Error ? error.message : String(error);
            if (!started) return this.#fail("resolve", message);
            // After a replacement, keep waiting for a new anchor: report not-ready and retry.
            log.warn("workload {workload}: anchor not available yet: {message}", {
              workload: this.#name,
              message,
            });
            await sleep(1000, stop);
            continue;
          }
          this.#ip = anchor.ip;
          this.#resolutionSeconds = anchor.resolutionSeconds;
          this.#supervisor.emit("resolved", { workload: this.#name, anchor });
        }

        const lost = deferred<string>();
        const stopWatching = this.#anchor.kind === "selector"
          ? await watchAnchorPod(anchor, this.#anchor, context, lost.resolve)
          : async () => {};
        let outcome:
          | { status: ExitStatus; reason: string; lost?: string; runMs: number }
          | undefined;
        try {
          this.#state = "starting";
          const problem = await this.#checkDigest();
          if (problem) return this.#fail("launch", problem);
          let child: LaunchedProcess;
          try {
            child = await context.platform.launch(anchor.domain, {
              name: this.#name,
              command: this.#spec.command,
              env: this.#spec.env,
              ...(this.#spec.cwd ? { cwd: this.#spec.cwd } : {}),
              windowsStrategy: this.#spec.windows.strategy,
              compartmentEnvName: this.#spec.windows.compartmentEnv,
            });
          } catch (error) {
            const message = `cannot start ${JSON.stringify(this.#spec.command[0])}: ${
              error instanceof Error ? error.message.split("\n")[0] : String(error)
            }`;
            if (!started) return this.#fail("launch", message);
            log.error("workload {workload}: {message}", { workload: this.#name, message });
            const delay = backoff.next(0);
            this.#state = "backoff";
            this.#supervisor.emit("restarting", {
              workload: this.#name,
              reason: message,
              delayMs: delay,
            });
            await sleep(delay, stop);
            continue;
          }
          started = true;
          outcome = await this.#supervise(child, anchor, lost.promise);
        } finally {
          await stopWatching();
        }
        this.#lastExit = outcome.status;
        this.#pid = undefined;
        this.#supervisor.emit("exited", {
          workload: this.#name,
          status: outcome.status,
          runMs: outcome.runMs,
          reason: outcome.reason,
        });
        if (stop.aborted) break;
        if (outcome.lost) {
          this.#supervisor.emit("anchorChanged", {
            workload: this.#name,
            anchor: this.#spec.anchor,
            reason: outcome.lost,
          });
          log.warn("workload {workload}: {reason}; moving to the new anchor", {
            workload: this.#name,
            reason: outcome.lost,
          });
          await anchor.pod?.claim?.release();
          anchor = undefined;
          this.#restarts++;
          continue;
        }
        const failed = outcome.status.code !== 0 || outcome.reason !== "exited";
        if (policy === "never" || (policy === "on-failure" && !failed)) {
          this.#state = "done";
          return { lastExit: outcome.status };
        }
        const delay = backoff.next(outcome.runMs);
        this.#state = "backoff";
        this.#restarts++;
        this.#supervisor.emit("restarting", {
          workload: this.#name,
          reason: outcome.reason,
          delayMs: delay,
        });
        log.info(
          "workload {workload}: restarting in {delay} ms ({reason}, exit code {code}, restart #{n})",
          {
            workload: this.#name,
            delay,
            reason: outcome.reason,
            code: outcome.status.code,
            n: this.#restarts,
          },
        );
        await sleep(delay, stop);
      }
      this.#state = "done";
      return this.#lastExit ? { lastExit: this.#lastExit } : {};
    } finally {
      this.#setReady(false);
      await anchor?.pod?.claim?.release();
      this.#logFile?.close();
    }
  }

  async #checkDigest(): Promise<string | undefined> {
    const expected = this.#spec.sha256;
    if (!expected) return undefined;
    const program = findProgram(this.#spec.command[0], this.#spec.env.PATH ?? Deno.env.get("PATH"));
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(program);
    } catch (error) {
      return `cannot read ${program} to check its sha256: ${
        error instanceof Error ? error.message : error
      }`;
    }
    const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
    const actual = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    return actual === expected
      ? undefined
      : `refusing to start ${program}: sha256 is ${actual}, the config expects ${expected}`;
  }

  async #supervise(
    child: LaunchedProcess,
    anchor: ResolvedAnchor,
    lost: Promise<string>,
  ): Promise<{ status: ExitStatus; reason: string; lost?: string; runMs: number }> {
    const startedAt = performance.now();
    const stop = this.#supervisor.stopSignal;
    this.#pid = child.pid;
    this.#state = "running";
    this.#supervisor.emit("started", { workload: this.#name, pid: child.pid, anchor });
    log.info("workload {workload} started: pid {pid} in {domain}{pod}", {
      workload: this.#name,
      pid: child.pid,
      domain: anchor.domain.kind === "netns"
        ? `netns ${anchor.domain.path}`
        : `compartment ${anchor.domain.id}`,
      pod: anchor.pod ? ` of pod ${anchor.pod.namespace}/${anchor.pod.pod} (${anchor.ip})` : "",
    });
    const relays = Promise.all([
      this.#relay(child.stdout, "stdout"),
      this.#relay(child.stderr, "stderr"),
    ]);
    const unhealthy = deferred<string>();
    const monitors = new AbortController();
    const exited = child.status.then((status) => ({ kind: "exit", status }) as WakeReason);
    this.#monitor(child, anchor, monitors.signal, unhealthy.resolve, exited);
    const wake: WakeReason = await Promise.race([
      exited,
      lost.then((reason) => ({ kind: "lost", reason }) as WakeReason),
      unhealthy.promise.then((reason) => ({ kind: "unhealthy", reason }) as WakeReason),
      abortPromise(stop).then(() => ({ kind: "stop" }) as WakeReason),
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
    return { status, reason, ...(wake.kind === "lost" ? { lost: wake.reason } : {}), runMs };
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
    exited: Promise<WakeReason>,
  ): Promise<void> {
    let running = true;
    exited.then(() => running = false);
    const platform = this.#supervisor.options.platform;
    const port = this.#spec.port;
    if (port !== undefined) {
      const deadline = performance.now() + this.#spec.startupTimeout;
      let placed: { inside: boolean; outside: boolean } = { inside: false, outside: false };
      while (running && !signal.aborted && performance.now() < deadline) {
        try {
          placed = await platform.listening(anchor.domain, child, port);
        } catch (error) {
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
    probe: NonNullable<Workload["probes"]["readiness"]>,
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
    const output = this.#supervisor.options.output;
    const newline = new Uint8Array([0x0a]);
    try {
      await relayLines(stream, (line, continued) => {
        const written = output?.({ workload: this.#name, stream: name, line, continued });
        if (this.#logFile) {
          const withNewline = new Uint8Array(line.length + 1);
          withNewline.set(line);
          withNewline.set(newline, line.length);
          this.#logFile.write(withNewline);
        }
        return written;
      });
    } catch (error) {
      log.warn("workload {workload}: {stream} relay ended: {message}", {
        workload: this.#name,
        stream: name,
        message: String(error),
      });
    }
  }
}
