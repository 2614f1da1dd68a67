/**
 * Label selector parsing (`parseSelector`) and matching (`selectorMatches`).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  formatRequirement,
  parseSelector,
  selectorMatches,
  type SelectorRequirement,
} from "../../src/config/mod.ts";

const SEED = Number(Deno.env.get("FC_SEED") ?? 20_240_601);

function requirements(selector: string): SelectorRequirement[] {
  const result = parseSelector(selector);
  if (!result.ok) assert.fail(`expected ${JSON.stringify(selector)} to parse: ${result.message}`);
  return result.requirements;
}

function problem(selector: string): string {
  const result = parseSelector(selector);
  if (result.ok) assert.fail(`expected ${JSON.stringify(selector)} to be rejected`);
  return result.message;
}

Deno.test("parseSelector: equality, inequality, sets, existence", () => {
  const cases: [string, SelectorRequirement[]][] = [
    ["app=x", [{ key: "app", operator: "=", values: ["x"] }]],
    ["app==x", [{ key: "app", operator: "=", values: ["x"] }]],
    ["app!=x", [{ key: "app", operator: "!=", values: ["x"] }]],
    [" app = x ", [{ key: "app", operator: "=", values: ["x"] }]],
    ["app=", [{ key: "app", operator: "=", values: [""] }]],
    ["env in (a, b)", [{ key: "env", operator: "in", values: ["a", "b"] }]],
    ["env in(a)", [{ key: "env", operator: "in", values: ["a"] }]],
    ["env notin (a,b,c)", [{ key: "env", operator: "notin", values: ["a", "b", "c"] }]],
    ["env in ()", [{ key: "env", operator: "in", values: [""] }]],
    // Empty entries stand for the empty value, as in the apiserver; duplicates count once.
    ["env in (a,)", [{ key: "env", operator: "in", values: ["a", ""] }]],
    ["env in (,a)", [{ key: "env", operator: "in", values: ["", "a"] }]],
    ["env in (a,,b)", [{ key: "env", operator: "in", values: ["a", "", "b"] }]],
    ["env in (,,)", [{ key: "env", operator: "in", values: [""] }]],
    ["env in (a,a)", [{ key: "env", operator: "in", values: ["a"] }]],
    ["replicas>1", [{ key: "replicas", operator: ">", values: ["1"] }]],
    ["replicas < 10", [{ key: "replicas", operator: "<", values: ["10"] }]],
    ["in=notin", [{ key: "in", operator: "=", values: ["notin"] }]],
    ["a\tin\t(x)", [{ key: "a", operator: "in", values: ["x"] }]],
    ["canary", [{ key: "canary", operator: "exists", values: [] }]],
    ["!canary", [{ key: "canary", operator: "!exists", values: [] }]],
    ["! canary", [{ key: "canary", operator: "!exists", values: [] }]],
    [
      "example.com/app=cp-albums-win",
      [{ key: "example.com/app", operator: "=", values: ["cp-albums-win"] }],
    ],
    ["app.kubernetes.io/name=x_y.z", [{
      key: "app.kubernetes.io/name",
      operator: "=",
      values: ["x_y.z"],
    }]],
    [`${"k".repeat(63)}=${"v".repeat(63)}`, [{
      key: "k".repeat(63),
      operator: "=",
      values: ["v".repeat(63)],
    }]],
    [
      "app=cp-albums-win,tier in (web, api),!canary,env!=dev",
      [
        { key: "app", operator: "=", values: ["cp-albums-win"] },
        { key: "tier", operator: "in", values: ["web", "api"] },
        { key: "canary", operator: "!exists", values: [] },
        { key: "env", operator: "!=", values: ["dev"] },
      ],
    ],
  ];
  for (const [selector, expected] of cases) {
    assert.deepEqual(requirements(selector), expected, selector);
  }
});

Deno.test("parseSelector: syntax errors say what is wrong", () => {
  const cases: [string, string | RegExp][] = [
    ["", "selector is empty"],
    ["   ", "selector is empty"],
    ["app=x,", 'empty requirement in "app=x,"'],
    [",app=x", 'empty requirement in ",app=x"'],
    ["a=b,,c=d", 'empty requirement in "a=b,,c=d"'],
    ["app in (x", 'unbalanced parentheses in "app in (x"'],
    ["app in x)", 'unbalanced parentheses in "app in x)"'],
    ["app=x)", 'unbalanced parentheses in "app=x)"'],
    ["=x", '"=x": expected a label key, found "="'],
    ["!", '"!": expected a label key after "!", found nothing'],
    ["!a=b", '"!a=b": "!a" must stand alone, found "="'],
    ["a b", '"a b": expected an operator (=, ==, !=, in, notin, >, <) after "a", found "b"'],
    ["app foo (x)", /^"app foo \(x\)": expected an operator .* found "foo"$/],
    ["a>=1", /^label value "=1" is not valid/],
    ["a in x", '"a in x": expected "(" after the operator, found "x"'],
    ["a in (x)(y)", '"a in (x)(y)": unexpected "(" after the value list'],
    ["a in ((x))", '"a in ((x))": expected a value or "," in the value list, found "("'],
    ["a in (x=)", '"a in (x=)": expected "," or ")" in the value list, found "="'],
    ["a>x", '"a>x": > compares integers, and "x" is not a 64-bit integer'],
    ["a<1.5", '"a<1.5": < compares integers, and "1.5" is not a 64-bit integer'],
    ["a>9223372036854775808", /is not a 64-bit integer$/],
    ["a>", '"a>": > compares integers, and "" is not a 64-bit integer'],
    ["a\u00a0=b", /^label key "a\u00a0" is not valid/],
    ["a=b\v", /^label value "b\\u000b" is not valid/],
    ["app=a b", /^label value "a b" is not valid/],
    ["app=-x", /^label value "-x" is not valid/],
    ["app=x-", /^label value "x-" is not valid/],
    ["app in (a b)", /^label value "a b" is not valid/],
    [`app=${"v".repeat(64)}`, /^label value "v{64}" is not valid/],
    [`${"k".repeat(64)}=x`, /^label key "k{64}" is not valid/],
    ["Example.com/app=x", 'label key prefix "Example.com" is not a DNS subdomain'],
    ["/app=x", 'label key prefix "" is not a DNS subdomain'],
    [`${"a".repeat(254)}/app=x`, /^label key prefix "a{254}" is not a DNS subdomain$/],
    ["a/b/c=x", /^label key "a\/b\/c" is not valid/],
    ["app=${NODE}", /^label value "\$\{NODE\}" is not valid/],
  ];
  for (const [selector, expected] of cases) {
    const message = problem(selector);
    if (typeof expected === "string") assert.equal(message, expected, selector);
    else assert.match(message, expected, selector);
  }
});

Deno.test("selectorMatches: each operator, with the label present, different and absent", () => {
  const match = (selector: string, labels: Record<string, string>) =>
    selectorMatches(requirements(selector), labels);
  const cases: [string, Record<string, string>, boolean][] = [
    ["app=x", { app: "x" }, true],
    ["app=x", { app: "y" }, false],
    ["app=x", {}, false],
    ["app!=x", { app: "x" }, false],
    ["app!=x", { app: "y" }, true],
    ["app!=x", {}, true],
    ["app=", { app: "" }, true],
    ["app=", {}, false],
    ["env in (a, b)", { env: "b" }, true],
    ["env in (a, b)", { env: "c" }, false],
    ["env in (a, b)", {}, false],
    ["env notin (a, b)", { env: "b" }, false],
    ["env notin (a, b)", { env: "c" }, true],
    ["env notin (a, b)", {}, true],
    ["canary", { canary: "" }, true],
    ["canary", {}, false],
    ["!canary", { canary: "yes" }, false],
    ["!canary", {}, true],
    ["app=x,tier in (web)", { app: "x", tier: "web" }, true],
    ["app=x,tier in (web)", { app: "x", tier: "db" }, false],
    ["app=x,tier in (web)", { tier: "web" }, false],
    ["env in (a,)", { env: "" }, true],
    ["env in (a,)", { env: "a" }, true],
    ["env in (a)", { env: "" }, false],
    ["env notin (,a)", { env: "" }, false],
    ["n>1", { n: "2" }, true],
    ["n>1", { n: "1" }, false],
    ["n>1", { n: "x" }, false],
    ["n>1", {}, false],
    ["n<10", { n: "9" }, true],
    ["n<10", { n: "10" }, false],
    ["n<10", { n: "09" }, true],
    ["n>9223372036854775806", { n: "9223372036854775807" }, true],
    ["n<9223372036854775807", { n: "99999999999999999999" }, false],
  ];
  for (const [selector, labels, expected] of cases) {
    assert.equal(match(selector, labels), expected, `${selector} vs ${JSON.stringify(labels)}`);
  }
  // Inherited properties are not labels.
  assert.equal(match("constructor", {}), false);
  assert.equal(match("toString=x", {}), false);
  // No requirements match everything.
  assert.equal(selectorMatches([], { any: "thing" }), true);
});

const labelName = fc.stringMatching(/^[a-z0-9]([-a-z0-9_.]{0,12}[a-z0-9])?$/);
const labelKey = fc.tuple(
  fc.option(fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?(\.[a-z]{2,5})?$/), {
    nil: undefined,
  }),
  labelName,
).map(([prefix, name]) => (prefix ? `${prefix}/${name}` : name));

const requirement: fc.Arbitrary<SelectorRequirement> = fc.oneof(
  fc.record({
    key: labelKey,
    operator: fc.constantFrom("=" as const, "!=" as const),
    values: fc.tuple(labelName),
  }, { noNullPrototype: true }),
  fc.record({
    key: labelKey,
    operator: fc.constantFrom("in" as const, "notin" as const),
    values: fc.uniqueArray(fc.oneof(labelName, fc.constant("")), { minLength: 1, maxLength: 4 }),
  }, { noNullPrototype: true }),
  fc.record({
    key: labelKey,
    operator: fc.constantFrom(">" as const, "<" as const),
    values: fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String)),
  }, { noNullPrototype: true }),
  fc.record({
    key: labelKey,
    operator: fc.constantFrom("exists" as const, "!exists" as const),
    values: fc.constant([]),
  }, { noNullPrototype: true }),
);

Deno.test("property: rendered requirements parse back to themselves", () => {
  fc.assert(
    fc.property(fc.array(requirement, { minLength: 1, maxLength: 5 }), (reqs) => {
      assert.deepEqual(requirements(reqs.map(formatRequirement).join(",")), reqs);
    }),
    { numRuns: 1000, seed: SEED },
  );
});

Deno.test("property: negated operators match exactly the complement", () => {
  const negate: Partial<Record<SelectorRequirement["operator"], SelectorRequirement["operator"]>> =
    {
      "=": "!=",
      "!=": "=",
      in: "notin",
      notin: "in",
      exists: "!exists",
      "!exists": "exists",
    };
  const labels = fc.dictionary(labelName, labelName, { maxKeys: 4 });
  fc.assert(
    fc.property(requirement, labels, fc.boolean(), (r, extra, present) => {
      const negated = negate[r.operator];
      if (negated === undefined) return; // > and < have no complement among the operators
      const set = present ? { ...extra, [r.key]: r.values[0] ?? "" } : extra;
      const positive = selectorMatches([r], set);
      const negative = selectorMatches([{ ...r, operator: negated }], set);
      assert.equal(positive, !negative);
      if (present && (r.operator === "=" || r.operator === "in" || r.operator === "exists")) {
        assert.equal(positive, true);
      }
    }),
    { numRuns: 1000, seed: SEED },
  );
});

Deno.test("property: parseSelector never throws and always explains a rejection", () => {
  const text = fc.oneof(
    fc.string(),
    fc.array(
      fc.constantFrom("a", "b", "=", "!", ",", "(", ")", " ", "in", "notin", "/", ".", ">", "1"),
      { maxLength: 12 },
    ).map((parts) => parts.join("")),
  );
  fc.assert(
    fc.property(text, (selector) => {
      const result = parseSelector(selector);
      if (!result.ok) assert.ok(result.message.length > 0);
      else assert.ok(result.requirements.length > 0);
    }),
    { numRuns: 2000, seed: SEED },
  );
});
