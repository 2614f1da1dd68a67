/**
 * Supervising workloads: anchors → domains → processes, with restarts, probes and health.
 *
 * @module
 */
export { type AnchorContext, AnchorError, resolveAnchor, type ResolvedAnchor } from "./anchors.ts";
export { Backoff, type BackoffSettings } from "./backoff.ts";
export { handleHealth, type HealthServer, renderMetrics, serveHealth } from "./health.ts";
export { probeOnce, type ProbeResult } from "./probes.ts";
export { relayLines } from "./relay.ts";
export {
  type OutputLine,
  Supervisor,
  type SupervisorEvents,
  type SupervisorListener,
  type SupervisorOptions,
  type SupervisorResult,
  type WorkloadStatus,
} from "./supervisor.ts";
