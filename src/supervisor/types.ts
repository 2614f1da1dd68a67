/**
 * The supervisor's public vocabulary: events, workload states, relayed output lines.
 *
 * @module
 */
import type { ExitStatus } from "../platform/types.ts";
import type { ResolvedAnchor } from "./anchors.ts";
import type { FailedStage } from "./restart.ts";

/**
 * One relayed line of a workload's output.
 *
 * See the {@linkcode Supervisor} example and examples/scripts/stream_logs.ts.
 */
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

/**
 * Receives relayed child output, in order per stream. Returning a promise makes the relay
 * wait before reading more of that stream (backpressure onto the child's pipe).
 *
 * See the {@linkcode Supervisor} example and examples/scripts/stream_logs.ts.
 */
export type OutputSink = (line: OutputLine) => void | Promise<void>;

/**
 * Events the supervisor emits, by name.
 *
 * See the {@linkcode Supervisor} example and examples/scripts/stream_logs.ts.
 */
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
  failed: { workload: string; stage: FailedStage; message: string };
}

/** Delivers one supervisor event to its listeners. */
export type Emit = <K extends keyof SupervisorEvents>(
  type: K,
  event: SupervisorEvents[K],
) => void;

/**
 * State of one workload, for health endpoints and metrics.
 *
 * See the {@linkcode Supervisor} example and examples/scripts/stream_logs.ts.
 */
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
  /** The stage it failed in (its anchor, or starting the process), when it failed. */
  readonly failedStage?: FailedStage;
}

/**
 * How a supervisor run ended.
 *
 * See the {@linkcode Supervisor} example and examples/scripts/stream_logs.ts.
 */
export interface SupervisorResult {
  /** Whether {@linkcode Supervisor.stop} ended the run (rather than the workloads ending). */
  readonly stopped: boolean;
  /** Final state of every workload. */
  readonly workloads: readonly WorkloadStatus[];
}
