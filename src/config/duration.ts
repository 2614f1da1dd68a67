/**
 * Durations as written in compartments.yaml: `500ms`, `30s`, `2m`, `1h`, or sums such as
 * `1m30s`.
 *
 * @module
 */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const WHOLE = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;

/**
 * Parses a duration string into milliseconds.
 *
 * @example
 * ```ts
 * parseDuration("1m30s"); // 90000
 * ```
 * @returns the duration in milliseconds, or `undefined` when `text` is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  if (!WHOLE.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(PART)) {
    total += Number(amount) * UNIT_MS[unit];
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** Formats milliseconds the way they are written in the config (`1m30s`, `250ms`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000 || ms % 1000 !== 0) return `${ms}ms`;
  let seconds = ms / 1000;
  const parts: string[] = [];
  for (const [unit, size] of [["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (seconds >= size) {
      parts.push(`${Math.floor(seconds / size)}${unit}`);
      seconds %= size;
    }
  }
  return parts.join("");
}
