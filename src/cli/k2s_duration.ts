/**
 * Durations as the k2s launcher reads them: Go's `time.ParseDuration` syntax (`1m30s`,
 * `500ms`, `1.5h`, `-2s`, `300us`), plus days (`7d`) where k2s documents them. The config
 * file's own duration grammar (src/config/duration.ts) is deliberately smaller and stays so.
 *
 * @module
 */

const NANOS_PER_MS = 1_000_000;

/** Length of one unit in nanoseconds; `d` only when days are allowed. */
const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1_000,
  "\u00b5s": 1_000, // micro sign
  "\u03bcs": 1_000, // Greek small letter mu
  ms: NANOS_PER_MS,
  s: 1_000 * NANOS_PER_MS,
  m: 60_000 * NANOS_PER_MS,
  h: 3_600_000 * NANOS_PER_MS,
};
const DAY_NS = 24 * UNIT_NS.h;

/** One `<number><unit>` term: digits with an optional fraction, then letters of the unit. */
const TERM = /^(\d*)(?:\.(\d*))?([^\d.]+)/;

/** Options of {@linkcode parseGoDuration}. */
export interface GoDurationOptions {
  /** Also accept `d` (24 h), as k2s's `-log-max-age 7d`. */
  readonly days?: boolean;
}

/**
 * Parses a Go duration into milliseconds (fractions of a millisecond are kept).
 *
 * @example
 * ```ts
 * parseGoDuration("1m30s"); // 90000
 * parseGoDuration("7d", { days: true }); // 604800000
 * ```
 * @returns the duration, or an explanation of what is wrong with `text`.
 */
export function parseGoDuration(
  text: string,
  options: GoDurationOptions = {},
): { ok: true; ms: number } | { ok: false; message: string } {
  const bad = (why: string) => ({
    ok: false as const,
    message: `invalid duration "${text}"${why}`,
  });
  let rest = text;
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    sign = rest.startsWith("-") ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === "0") return { ok: true, ms: 0 };
  if (rest === "") return bad("");
  let totalNs = 0;
  while (rest !== "") {
    const match = TERM.exec(rest);
    if (!match || (match[1] === "" && (match[2] ?? "") === "")) {
      return /^[\d.]+$/.test(rest) ? bad(": missing unit") : bad("");
    }
    const [term, whole, fraction = "", unit] = match;
    const size = unit === "d" && options.days ? DAY_NS : UNIT_NS[unit];
    if (size === undefined) {
      const known = `ns, us, ms, s, m, h${options.days ? ", d" : ""}`;
      return bad(`: unknown unit "${unit}" (use ${known})`);
    }
    totalNs += Number(`${whole || "0"}.${fraction || "0"}`) * size;
    rest = rest.slice(term.length);
  }
  return { ok: true, ms: (sign * totalNs) / NANOS_PER_MS };
}
