/**
 * Restart delays: exponential from `initial` up to `max`, reset after a run that lasted at
 * least `resetAfter` (kubelet's CrashLoopBackOff idea).
 *
 * @module
 */

import type { BackoffSettings } from "../config/mod.ts";

/** How many restarts in a row have happened (the only state backoff needs). */
export interface BackoffState {
  /** Consecutive failures counted so far. */
  readonly failures: number;
}

/** The state before the first restart. */
export const INITIAL_BACKOFF: BackoffState = { failures: 0 };

/**
 * The delay before the next start, given how long the last run lasted, and the state after
 * it. Pure: the same inputs always give the same delay.
 */
export function nextBackoff(
  settings: Readonly<BackoffSettings>,
  state: BackoffState,
  lastRunMs: number,
): { readonly delayMs: number; readonly state: BackoffState } {
  const failures = lastRunMs >= settings.resetAfter ? 0 : state.failures;
  return {
    delayMs: Math.min(settings.initial * 2 ** failures, settings.max),
    // Capped so 2 ** failures stays a finite number however long a workload crash-loops.
    state: { failures: Math.min(failures + 1, 62) },
  };
}

/** Computes successive restart delays (a stateful wrapper of {@linkcode nextBackoff}). */
export class Backoff {
  readonly #settings: Readonly<BackoffSettings>;
  #state: BackoffState = INITIAL_BACKOFF;

  /** Creates a backoff with no failures yet. */
  constructor(settings: Readonly<BackoffSettings>) {
    this.#settings = settings;
  }

  /**
   * The delay before the next start, given how long the last run lasted.
   * A long enough run forgets earlier failures.
   */
  next(lastRunMs: number): number {
    const { delayMs, state } = nextBackoff(this.#settings, this.#state, lastRunMs);
    this.#state = state;
    return delayMs;
  }
}
