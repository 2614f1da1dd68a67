/**
 * Summaries of samples, and the seeded Monte Carlo used for modelled (not run) figures.
 *
 * @module
 */

/** p50/p90/max and friends of a sample, in its unit. */
export interface Summary {
  readonly n: number;
  readonly min: number;
  readonly p25: number;
  readonly p50: number;
  readonly p75: number;
  readonly p90: number;
  readonly max: number;
  readonly mean: number;
}

/** Percentile `p` (0–100) of ascending `sorted`, linearly interpolated. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

/** Rounds to `digits` decimals (figures are stored rounded, to keep the JSON readable). */
export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Summary of `values` (NaN fields for an empty sample). */
export function summarize(values: readonly number[], digits = 1): Summary {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN;
  return {
    n: s.length,
    min: round(s[0] ?? NaN, digits),
    p25: round(percentile(s, 25), digits),
    p50: round(percentile(s, 50), digits),
    p75: round(percentile(s, 75), digits),
    p90: round(percentile(s, 90), digits),
    max: round(s[s.length - 1] ?? NaN, digits),
    mean: round(mean, digits),
  };
}

/** A small seeded PRNG (mulberry32): the modelled figures are reproducible run to run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Draws `n` samples of a sum of terms: each term is either a measured sample (an array,
 * drawn from with replacement) or a uniform interval `[lo, hi]`.
 */
export function monteCarlo(
  terms: readonly (readonly number[] | { readonly uniform: readonly [number, number] })[],
  n: number,
  seed = 1,
): number[] {
  const random = prng(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (const term of terms) {
      if ("uniform" in term) {
        const [lo, hi] = term.uniform;
        sum += lo + (hi - lo) * random();
      } else {
        const arr = term as readonly number[];
        sum += arr[Math.floor(random() * arr.length)];
      }
    }
    out.push(sum);
  }
  return out;
}
