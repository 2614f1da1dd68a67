/**
 * What a workload does after each attempt to run it: the reconcile decision. A pure function
 * of the attempt's outcome, the restart policy and the backoff state, so every combination is
 * tested in a table without processes or clocks; the runner carries the decision out.
 *
 * @module
 */
import type { RestartSettings } from "../config/mod.ts";
import type { ExitStatus } from "../platform/types.ts";
import { type BackoffState, nextBackoff } from "./backoff.ts";

/**
 * The stage a workload failed in: its anchor, starting its process, or `stranded` — the
 * launcher's own thread could not leave the workload's network (the whole launcher stops).
 *
 * See the {@linkcode Supervisor} example, which reports it.
 */
export type FailedStage = "resolve" | "launch" | "stranded";

/** How one attempt to run a workload ended. */
export type AttemptOutcome =
  /** The anchor could not be resolved. */
  | { readonly kind: "resolve-failed"; readonly message: string }
  /**
   * The process could not be started. `permanent` failures (a digest mismatch) are not
   * retried: starting again would run the same refused file.
   */
  | { readonly kind: "launch-failed"; readonly message: string; readonly permanent: boolean }
  /**
   * The backend reported that the launcher itself is stranded in a workload's network (a
   * `stranded` platform error): nothing it does afterwards can be trusted.
   */
  | { readonly kind: "stranded"; readonly message: string }
  /** The process ran and ended. */
  | {
    readonly kind: "ran";
    readonly status: ExitStatus;
    readonly runMs: number;
    /** `exited` when it ended by itself, else why the launcher stopped it. */
    readonly reason: string;
    /** Set when it was stopped because its anchor pod went away or changed. */
    readonly anchorLost?: string;
  };

/** What the runner does next. */
export type RestartDecision =
  /** Start again after `delayMs`; `counted` says whether it counts as a restart. */
  | {
    readonly kind: "restart";
    readonly delayMs: number;
    readonly reason: string;
    readonly counted: boolean;
  }
  /** Resolve the anchor again (after `delayMs`), without counting a restart. */
  | { readonly kind: "re-resolve"; readonly delayMs: number; readonly reason: string }
  /** The anchor pod is gone or changed: resolve the new one at once and start there. */
  | { readonly kind: "move"; readonly reason: string }
  /** The workload is finished according to its policy. */
  | { readonly kind: "done" }
  /** The workload gives up. */
  | { readonly kind: "fail"; readonly stage: FailedStage; readonly message: string }
  /** The whole launcher must stop: every workload, whatever its policy, and exit non-zero. */
  | { readonly kind: "halt"; readonly message: string };

/** What the decision depends on besides the outcome. */
export interface RestartState {
  /** Whether the workload has started at least once (early failures are fatal). */
  readonly started: boolean;
  /** Backoff between restarts. */
  readonly backoff: BackoffState;
}

/** Pause before asking again for an anchor that went away after the workload had run. */
export const ANCHOR_RETRY_MS = 1000;

/**
 * Decides what follows an attempt. Failures before the first successful start are fatal
 * (a wrong config should fail the launcher, not loop); afterwards the workload keeps
 * trying, because a replaced anchor pod or a briefly missing file are expected in a
 * running cluster. A stranded launcher halts everything, at any time.
 */
export function decideRestart(
  outcome: AttemptOutcome,
  settings: Readonly<RestartSettings>,
  state: RestartState,
): { readonly decision: RestartDecision; readonly state: RestartState } {
  switch (outcome.kind) {
    case "stranded":
      return { decision: { kind: "halt", message: outcome.message }, state };
    case "resolve-failed":
      return state.started
        ? {
          decision: { kind: "re-resolve", delayMs: ANCHOR_RETRY_MS, reason: outcome.message },
          state,
        }
        : { decision: { kind: "fail", stage: "resolve", message: outcome.message }, state };
    case "launch-failed": {
      if (!state.started || outcome.permanent) {
        return { decision: { kind: "fail", stage: "launch", message: outcome.message }, state };
      }
      const next = nextBackoff(settings.backoff, state.backoff, 0);
      return {
        decision: {
          kind: "restart",
          delayMs: next.delayMs,
          reason: outcome.message,
          counted: false,
        },
        state: { ...state, backoff: next.state },
      };
    }
    case "ran": {
      const started = { ...state, started: true };
      if (outcome.anchorLost !== undefined) {
        return { decision: { kind: "move", reason: outcome.anchorLost }, state: started };
      }
      const failed = outcome.status.code !== 0 || outcome.reason !== "exited";
      if (settings.policy === "never" || (settings.policy === "on-failure" && !failed)) {
        return { decision: { kind: "done" }, state: started };
      }
      const next = nextBackoff(settings.backoff, state.backoff, outcome.runMs);
      return {
        decision: { kind: "restart", delayMs: next.delayMs, reason: outcome.reason, counted: true },
        state: { ...started, backoff: next.state },
      };
    }
  }
}
