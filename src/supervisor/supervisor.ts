/**
 * The supervisor: every selected workload runs in its own loop (resolve anchor → launch in
 * its domain → verify → probe → wait → restart by policy), concurrently, so one slow anchor
 * does not hold back the others. Library code: it reports through typed events and logs,
 * never prints.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { type Config, lockName, type ProgramLock } from "../config/mod.ts";
import {
  clientNodePodSource,
  type LoadedKubeConfig,
  loadKubeConfig,
  type PodListerWatcher,
  PodWatchHub,
} from "../kube/mod.ts";
import type { PlatformBackend } from "../platform/types.ts";
import { type AnchorContext, anchorSource } from "./anchors.ts";
import { WorkloadRunner } from "./runner.ts";
import type { OutputWriter } from "./output.ts";
import type {
  Emit,
  OutputSink,
  SupervisorEvents,
  SupervisorResult,
  WorkloadStatus,
} from "./types.ts";

const log = getLogger(["cplauncher", "supervisor"]);

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
   * Where anchor pods are listed and watched (default: the apiserver named by the
   * credentials). Tests pass a scripted source here.
   */
  readonly podSource?: PodListerWatcher;
  /**
   * Receives relayed child output, in order per stream. Returning a promise makes the relay
   * wait before reading more of that stream (backpressure onto the child's pipe). An
   * {@linkcode OutputWriter} gets whole blocks of lines instead, the fast way for chatty
   * workloads.
   */
  readonly output?: OutputSink | OutputWriter;
  /**
   * Program digests recorded by `cplauncher plan --pin`: a workload with an entry runs only a
   * program with that digest, unless its config gives a digest itself.
   */
  readonly lock?: ProgramLock;
  /** Claim identity / TTL and watch backoff for Kubernetes anchors. */
  readonly resolveOptions?: { holder?: string; claimTtlMs?: number; maxBackoffMs?: number };
}

/**
 * A listener of one supervisor event.
 *
 * See the {@linkcode Supervisor} example.
 */
export type SupervisorListener<K extends keyof SupervisorEvents> = (
  event: SupervisorEvents[K],
) => void;

/**
 * Runs and watches over the workloads of a config.
 *
 * @example Run one workload, relay its output and report how it ended
 * ```ts
 * import {
 *   createPlatform,
 *   loadConfig,
 *   lockPathFor,
 *   readLock,
 *   Supervisor,
 * } from "@cplauncher/cplauncher";
 *
 * const path = "compartments.yaml";
 * const config = await loadConfig(path);
 * const decoder = new TextDecoder();
 * const supervisor = new Supervisor({
 *   config,
 *   platform: await createPlatform(),
 *   workloads: ["web"],
 *   lock: await readLock(lockPathFor(path)),
 *   output: (line) => {
 *     console.log(`[${line.workload} ${line.stream}] ${decoder.decode(line.line)}`);
 *   },
 * });
 * supervisor.on("started", (e) => console.log(`${e.workload}: pid ${e.pid} in ${e.anchor.name}`));
 * supervisor.on("exited", (e) => console.log(`${e.workload}: exit ${e.status.code}`));
 * supervisor.on("failed", (e) => console.error(`${e.workload}: ${e.stage}: ${e.message}`));
 * Deno.addSignalListener("SIGTERM", () => void supervisor.stop());
 * const result = await supervisor.start();
 * for (const workload of result.workloads) {
 *   console.log(workload.name, workload.state, workload.restarts, workload.failedStage ?? "");
 * }
 * ```
 *
 * A complete script: examples/scripts/stream_logs.ts.
 */
export class Supervisor {
  readonly #runners: WorkloadRunner[];
  readonly #listeners = new Map<keyof SupervisorEvents, Set<(event: unknown) => void>>();
  readonly #stop = new AbortController();
  #done?: Promise<SupervisorResult>;
  #hub?: Promise<PodWatchHub>;

  /**
   * Prepares runners for the selected workloads; nothing starts until {@linkcode start}.
   *
   * @throws {Error} when `options.workloads` names a workload the config does not have.
   */
  constructor(options: SupervisorOptions) {
    const { config } = options;
    const names = options.workloads ?? Object.keys(config.workloads);
    for (const name of names) {
      if (!Object.hasOwn(config.workloads, name)) {
        throw new Error(
          `no workload named "${name}" in the config (have: ${
            Object.keys(config.workloads).join(", ")
          })`,
        );
      }
    }
    let kube: Promise<LoadedKubeConfig> | undefined;
    const loadKube = () =>
      kube ??= options.kube?.() ?? loadKubeConfig(config.kubernetes.kubeconfig);
    // Pod watches shared by all anchors of this supervisor (see PodWatchHub).
    const hub = () =>
      this.#hub ??= (async () =>
        new PodWatchHub(
          options.podSource ?? clientNodePodSource(await loadKube()),
          options.resolveOptions?.maxBackoffMs !== undefined
            ? { maxBackoffMs: options.resolveOptions.maxBackoffMs }
            : {},
        ))();
    const anchors: AnchorContext = {
      platform: options.platform,
      kube: loadKube,
      hub,
      ...(options.podSource ? { podSource: options.podSource } : {}),
      ...(options.resolveOptions ? { resolveOptions: options.resolveOptions } : {}),
    };
    const emit: Emit = (type, event) => this.#emit(type, event);
    this.#runners = names.map((name) => {
      const spec = config.workloads[name];
      return new WorkloadRunner(name, spec, {
        platform: options.platform,
        anchor: anchorSource(spec.anchor, config.anchors[spec.anchor], anchors),
        stop: this.#stop.signal,
        emit,
        halt: (workload, message) => this.#halt(workload, message),
        ...(options.output ? { output: options.output } : {}),
        ...(options.lock && Object.hasOwn(options.lock.workloads, name)
          ? { pin: { sha256: options.lock.workloads[name].sha256, source: lockName(options.lock) } }
          : {}),
      });
    });
  }

  /** Subscribes to an event; returns an unsubscribe function. */
  on<K extends keyof SupervisorEvents>(type: K, listener: SupervisorListener<K>): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, set = new Set());
    set.add(listener as (event: unknown) => void);
    return () => set.delete(listener as (event: unknown) => void);
  }

  /** Starts every workload; resolves when all have ended (or after {@linkcode stop}). */
  start(): Promise<SupervisorResult> {
    this.#done ??= (async () => {
      await Promise.all(this.#runners.map((runner) => runner.run()));
      await this.#hub?.then((hub) => hub.close(), () => {});
      return { stopped: this.#stop.signal.aborted, workloads: this.status() };
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

  /** A workload found the launcher stranded: every workload stops, whatever its policy. */
  #halt(workload: string, message: string): void {
    if (this.#stop.signal.aborted) return;
    log.fatal("workload {workload}: {message}; stopping every workload", { workload, message });
    this.#stop.abort();
  }

  #emit<K extends keyof SupervisorEvents>(type: K, event: SupervisorEvents[K]): void {
    for (const listener of this.#listeners.get(type) ?? []) {
      try {
        listener(event);
      } catch (error) {
        log.error("a {type} listener threw: {message}", { type, message: String(error) });
      }
    }
  }
}
