/**
 * Supervising workloads: anchors → domains → processes, with restarts, probes and health.
 *
 * @module
 */
export {
  type AnchorContext,
  AnchorError,
  type AnchorSource,
  anchorSource,
  resolveAnchor,
  type ResolvedAnchor,
} from "./anchors.ts";
export { Backoff, type BackoffState, INITIAL_BACKOFF, nextBackoff } from "./backoff.ts";
export { handleHealth, type HealthServer, renderMetrics, serveHealth } from "./health.ts";
export {
  type ByteWriter,
  createOutputWriter,
  LineBatch,
  type LineBatchOptions,
  type OutputFormat,
  type OutputWriter,
} from "./output.ts";
export { probeOnce, type ProbeResult } from "./probes.ts";
export { relayLines } from "./relay.ts";
export {
  type AttemptOutcome,
  decideRestart,
  type FailedStage,
  type RestartDecision,
  type RestartState,
} from "./restart.ts";
export { Supervisor, type SupervisorListener, type SupervisorOptions } from "./supervisor.ts";
export type {
  Emit,
  OutputLine,
  OutputSink,
  SupervisorEvents,
  SupervisorResult,
  WorkloadStatus,
} from "./types.ts";
