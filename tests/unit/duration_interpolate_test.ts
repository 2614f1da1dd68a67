/**
 * Durations (`parseDuration`, `formatDuration`) and `${VAR}` interpolation (`interpolate`).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { formatDuration, interpolate, parseDuration } from "../../src/config/mod.ts";

const SEED = Number(Deno.env.get("FC_SEED") ?? 20_240_601);

Deno.test("parseDuration: units, sums and fractions", () => {
  const cases: [string, number][] = [
    ["0s", 0],
    ["500ms", 500],
    ["30s", 30_000],
    ["2m", 120_000],
    ["1h", 3_600_000],
    ["1m30s", 90_000],
    ["1h1m1s", 3_661_000],
    ["1s1ms", 1_001],
    ["1h1h", 7_200_000],
    ["1.5s", 1_500],
    ["0.5ms", 1],
    ["120s", 120_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

Deno.test("parseDuration: anything else is not a duration", () => {
  const bad = [
    "",
    "10",
    "s",
    "1d",
    "-1s",
    "+1s",
    " 1s",
    "1s ",
    "1 s",
    "1S",
    "1.s",
    ".5s",
    "1e3s",
    "1sm",
    "10 seconds",
    "${T}",
    `${"9".repeat(400)}h`, // overflows to Infinity
  ];
  for (const text of bad) assert.equal(parseDuration(text), undefined, JSON.stringify(text));
});

Deno.test("formatDuration: largest units, milliseconds when not whole seconds", () => {
  const cases: [number, string][] = [
    [0, "0s"],
    [1, "1ms"],
    [999, "999ms"],
    [1_000, "1s"],
    [1_500, "1500ms"],
    [60_000, "1m"],
    [90_000, "1m30s"],
    [120_000, "2m"],
    [3_600_000, "1h"],
    [3_661_000, "1h1m1s"],
    [86_400_000, "24h"],
  ];
  for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
});

Deno.test("property: formatDuration output parses back to the same milliseconds", () => {
  fc.assert(
    fc.property(fc.nat({ max: 10 * 24 * 3_600_000 }), (ms) => {
      const text = formatDuration(ms);
      assert.match(text, /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/); // the JSON Schema pattern
      assert.equal(parseDuration(text), ms);
    }),
    { numRuns: 2000, seed: SEED },
  );
});

Deno.test("property: sums of parts add up; parseDuration never throws", () => {
  const part = fc.tuple(fc.nat({ max: 1000 }), fc.constantFrom("ms", "s", "m", "h"));
  const size: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  fc.assert(
    fc.property(fc.array(part, { minLength: 1, maxLength: 5 }), (parts) => {
      const text = parts.map(([n, unit]) => `${n}${unit}`).join("");
      const expected = parts.reduce((sum, [n, unit]) => sum + n * size[unit], 0);
      assert.equal(parseDuration(text), expected);
    }),
    { numRuns: 1000, seed: SEED },
  );
  fc.assert(
    fc.property(fc.string(), (text) => {
      const ms = parseDuration(text);
      assert.ok(ms === undefined || (Number.isInteger(ms) && ms >= 0));
    }),
    { numRuns: 1000, seed: SEED },
  );
});

const ENV: Record<string, string> = { A: "1", EMPTY: "", NESTED: "${A}", PATH_LIKE: "/a:/b" };
const lookup = (name: string) => (Object.hasOwn(ENV, name) ? ENV[name] : undefined);

Deno.test("interpolate: ${VAR}, ${VAR:-default}, $${ and text without references", () => {
  const cases: [string, string][] = [
    ["plain text", "plain text"],
    ["$A and $ {A}", "$A and $ {A}"],
    ["${A}", "1"],
    ["x${A}y${A}z", "x1y1z"],
    ["${EMPTY}", ""],
    ["${MISSING:-fallback}", "fallback"],
    ["${MISSING:-}", ""],
    ["${EMPTY:-fallback}", "fallback"],
    ["${A:-fallback}", "1"],
    ["${MISSING:-a:-b}", "a:-b"],
    ["${PATH_LIKE}", "/a:/b"],
    ["$${A}", "${A}"],
    ["$${", "${"],
    ["cost: $${PRICE}", "cost: ${PRICE}"],
    ["${NESTED}", "${A}"], // values are not expanded again
    ["}${A}{", "}1{"],
  ];
  for (const [text, value] of cases) {
    assert.deepEqual(interpolate(text, lookup), { ok: true, value }, text);
  }
});

Deno.test("interpolate: unset, invalid and unterminated references", () => {
  const cases: [string, string][] = [
    [
      "${MISSING}",
      "environment variable MISSING is not set (use ${MISSING:-default} to give a default)",
    ],
    [
      "a${A}b${FIRST}${SECOND}",
      "environment variable FIRST is not set (use ${FIRST:-default} to give a default)",
    ],
    ["${}", "invalid variable reference ${} (use ${NAME} or ${NAME:-default})"],
    ["${1X}", "invalid variable reference ${1X} (use ${NAME} or ${NAME:-default})"],
    ["${A B}", "invalid variable reference ${A B} (use ${NAME} or ${NAME:-default})"],
    ["${A-x}", "invalid variable reference ${A-x} (use ${NAME} or ${NAME:-default})"],
    ["${", 'unterminated variable reference in "${"'],
    ["/x${HOME", 'unterminated variable reference in "/x${HOME"'],
  ];
  for (const [text, message] of cases) {
    assert.deepEqual(interpolate(text, lookup), { ok: false, message }, text);
  }
});

Deno.test("interpolate: an empty value counts as set for ${VAR} and as unset for :-", () => {
  assert.deepEqual(interpolate("[${EMPTY}]", lookup), { ok: true, value: "[]" });
  assert.deepEqual(interpolate("[${EMPTY:-d}]", lookup), { ok: true, value: "[d]" });
});

const safeText = fc.string().filter((s) => !s.includes("$"));
const varName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/);

Deno.test("property: interpolation identities", () => {
  // Text without "$" is returned unchanged and asks for nothing.
  fc.assert(
    fc.property(safeText, (text) => {
      assert.deepEqual(interpolate(text, () => assert.fail("no lookup expected")), {
        ok: true,
        value: text,
      });
    }),
    { numRuns: 500, seed: SEED },
  );
  // ${NAME} is replaced by the value verbatim, whatever the value contains.
  fc.assert(
    fc.property(safeText, varName, fc.string(), safeText, (before, name, value, after) => {
      const result = interpolate(
        `${before}\${${name}}${after}`,
        (n) => n === name ? value : undefined,
      );
      assert.deepEqual(result, { ok: true, value: `${before}${value}${after}` });
    }),
    { numRuns: 500, seed: SEED },
  );
  // The default applies exactly when the variable is unset or empty.
  fc.assert(
    fc.property(
      varName,
      fc.option(fc.string(), { nil: undefined }),
      fc.string().filter((s) => !s.includes("}") && !s.includes("$")),
      (name, value, fallback) => {
        const result = interpolate(
          `\${${name}:-${fallback}}`,
          (n) => n === name ? value : undefined,
        );
        const expected = value === undefined || value === "" ? fallback : value;
        assert.deepEqual(result, { ok: true, value: expected });
      },
    ),
    { numRuns: 500, seed: SEED },
  );
  // $${ always writes a literal ${.
  fc.assert(
    fc.property(safeText.filter((s) => !s.includes("{") && !s.includes("}")), (text) => {
      assert.deepEqual(interpolate(`$\${${text}}`, () => undefined), {
        ok: true,
        value: `\${${text}}`,
      });
    }),
    { numRuns: 500, seed: SEED },
  );
  // Never throws.
  fc.assert(
    fc.property(fc.string(), fc.dictionary(varName, fc.string()), (text, env) => {
      const result = interpolate(text, (n) => (Object.hasOwn(env, n) ? env[n] : undefined));
      assert.ok(result.ok ? typeof result.value === "string" : result.message.length > 0);
    }),
    { numRuns: 1000, seed: SEED },
  );
});
