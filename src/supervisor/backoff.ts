/**
 * Restart delays: exponential from `initial` up to `max`, reset after a run that lasted at
 * least `resetAfter` (kubelet's CrashLoopBackOff idea).
 *
 * @module
 */

/** Backoff settings in milliseconds. */
export interface BackoffSettings {
  readonly initial: number;
  readonly max: number;
  readonly resetAfter: number;
}

/** Computes successive restart delays. */
export class Backoff {
  readonly #settings: BackoffSettings;
  #failures = 0;

  /** Creates a backoff with no failures yet. */
  constructor(settings: BackoffSettings) {
    this.#settings = settings;
  }

  /**
   * The delay before the next start, given how long the last run lasted.
   * A long enough run forgets earlier failures.
   */
  next(lastRunMs: number): number {
    if (lastRunMs >= this.#settings.resetAfter) this.#failures = 0;
    const delay = Math.min(this.#settings.initial * 2 ** this.#failures, this.#settings.max);
    this.#failures = Math.min(this.#failures + 1, 62);
    return delay;
  }
}
