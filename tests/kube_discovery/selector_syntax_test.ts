/**
 * Label selectors are "checked like the apiserver does": the same strings go to a real
 * kube-apiserver (as `labelSelector` of a pod list) and to `parseSelector`, and both must
 * accept or both refuse. Where both accept, both must pick the same pods out of a fixed set,
 * and so must the selector as the launcher writes it back for its watch requests
 * (`formatRequirement`), because that is what the apiserver receives at run time.
 *
 * The strings are hand-picked edge cases plus generated ones: token soup from the lexer's
 * alphabet, and requirement-shaped text with whitespace, empty list entries and integer
 * comparisons. Two documented differences are excluded from the comparison and checked as
 * such: an empty (or blank) selector, which the apiserver reads as "every pod" and the config
 * refuses, and NUL characters, which the apiserver's lexer takes for the end of a token or of
 * the whole string (`a=1\0` is `a=1` there) and the config refuses (only a `\0` escape in a
 * quoted YAML string can bring one in).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { formatRequirement, parseSelector, selectorMatches } from "../../src/config/mod.ts";
import { type KubeCluster, startKubeCluster } from "../support/kube_cluster.ts";

const SEED = Number(Deno.env.get("FC_SEED") ?? 20_250_119);

/** Pods with labels that separate the operators: empty values, integers, keywords, prefixes. */
const PODS: Record<string, Record<string, string>> = {
  "p-a1": { a: "1" },
  "p-a2": { a: "2", b: "y" },
  "p-a10": { a: "10", b: "x" },
  "p-a007": { a: "007" },
  "p-ax": { a: "x", b: "in" },
  "p-aempty": { a: "" },
  "p-abig": { a: "99999999999999999999" },
  "p-amax": { a: "9223372036854775807" },
  "p-in": { in: "x", notin: "1" },
  "p-prefixed": { "example.com/a": "1", b: "" },
  "p-none": {},
};

const HAND_PICKED = [
  "a",
  "!a",
  "! a",
  "a=1",
  "a==1",
  "a!=1",
  "a=",
  "a!=",
  "a = 1",
  " a=1 ",
  "a\t=\t1",
  "a\n=1",
  "a\r=1",
  "a\v=1",
  "a\f=1",
  "a\u00a0=1",
  "a=1\u00a0",
  "a=1 ,b=y",
  "a=1,,b=y",
  "a=1,",
  ",a=1",
  "a=,b",
  "a in (1,2)",
  "a in (1, 2)",
  "a in(1)",
  "a in ( 1 , 2 )",
  "a in ()",
  "a in (,)",
  "a in (,,)",
  "a in (,,,)",
  "a in (1,)",
  "a in (,1)",
  "a in (1,,)",
  "a in (1,,2)",
  "a in (1,,,2)",
  "a in (1 2)",
  "a in ((1))",
  "a in (1)(2)",
  "a in 1",
  "a in",
  "a notin (1,x)",
  "a notin ()",
  "a IN (1)",
  "ain (1)",
  "in",
  "notin",
  "in=x",
  "in in (x)",
  "notin notin (1)",
  "a=in",
  "b in (in, notin)",
  "a>1",
  "a<2",
  "a > 1",
  "a>01",
  "a<007",
  "a>-1",
  "a>+1",
  "a>1.5",
  "a>0x10",
  "a>1_0",
  "a>",
  "a<",
  "a>x",
  "a>9223372036854775806",
  "a>9223372036854775807",
  "a>9223372036854775808",
  "a<99999999999999999999",
  "a>=1",
  "a<=1",
  "a=>1",
  "a><1",
  "a!1",
  "a!",
  "!!a",
  "!a=1",
  "!a,b",
  "!a b",
  "!=a",
  "=a",
  "==",
  "a===1",
  "a!==1",
  "a=!1",
  "a=1=2",
  "a=(1)",
  "a=1)",
  "a=(1",
  "(a=1)",
  "a b",
  "a=1 b",
  "a=-x",
  "a=x-",
  `a=${"v".repeat(63)}`,
  `a=${"v".repeat(64)}`,
  `${"k".repeat(63)}=1`,
  `${"k".repeat(64)}=1`,
  "example.com/a=1",
  "example.com/a",
  "Example.com/a=1",
  "/a=1",
  "example.com/=1",
  "a/b/c=1",
  "a.b_c-d=1",
  "_a=1",
  "a_=1",
  "a=_x",
  "app=cp-albums-win,tier in (web, api),!canary,env!=dev",
  "app in (x",
  "app=${NODE}",
];

/** Token soup from the lexer's alphabet: mostly refused, sometimes surprising. */
const soup = fc.array(
  fc.constantFrom(
    "a",
    "b",
    "in",
    "notin",
    "example.com/a",
    "x",
    "y",
    "1",
    "2",
    "007",
    "-1",
    "=",
    "==",
    "!=",
    "!",
    ">",
    "<",
    "(",
    ")",
    ",",
    " ",
    "\t",
    "\v",
    "\u00a0",
    ".",
    "_",
  ),
  { minLength: 1, maxLength: 8 },
).map((tokens) => tokens.join(""));

const space = fc.constantFrom("", "", " ", "  ", "\t", "\n", "\u00a0");
const key = fc.constantFrom("a", "b", "in", "notin", "example.com/a", "a-", "A", "k.k");
const value = fc.constantFrom("", "1", "2", "10", "007", "x", "y", "in", "-1", "x y", "_");

/** Requirement-shaped text: keys, operators and values in every arrangement the parser meets. */
const shaped = fc.array(
  fc.oneof(
    fc.tuple(
      space,
      key,
      space,
      fc.constantFrom("=", "==", "!=", ">", "<"),
      space,
      value,
      space,
    ).map((parts) => parts.join("")),
    fc.tuple(
      space,
      key,
      fc.constantFrom(" in ", " notin ", " in", "\tin\t"),
      space,
      fc.array(fc.tuple(space, value, space).map((p) => p.join("")), { maxLength: 4 }),
      space,
    ).map(([s1, k, op, s2, list, s3]) => `${s1}${k}${op}${s2}(${list.join(",")})${s3}`),
    fc.tuple(space, fc.constantFrom("", "!"), space, key, space).map((parts) => parts.join("")),
  ),
  { minLength: 1, maxLength: 3 },
).map((requirements) => requirements.join(","));

function generated(): string[] {
  return [
    ...fc.sample(soup, { numRuns: 300, seed: SEED }),
    ...fc.sample(shaped, { numRuns: 500, seed: SEED + 1 }),
  ];
}

/** The apiserver's verdict: the matching pod names, or undefined when it refuses. */
async function serverVerdict(
  cluster: KubeCluster,
  namespace: string,
  selector: string,
): Promise<string[] | undefined> {
  const response = await cluster.api<{ items: { metadata: { name: string } }[] }>(
    "GET",
    `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`,
  );
  if (response.status === 400) return undefined;
  assert.equal(response.status, 200, `unexpected answer to ${JSON.stringify(selector)}`);
  return response.body.items.map((pod) => pod.metadata.name).sort();
}

function ourMatches(requirements: Parameters<typeof selectorMatches>[0]): string[] {
  return Object.entries(PODS).filter(([, labels]) => selectorMatches(requirements, labels))
    .map(([name]) => name).sort();
}

Deno.test("selector syntax: the parser accepts, refuses and matches exactly like the apiserver", async () => {
  await using cluster = await startKubeCluster();
  const namespace = "selectors";
  await cluster.createNamespace(namespace);
  for (const [name, labels] of Object.entries(PODS)) {
    await cluster.createPod(namespace, { name, labels });
  }
  const strings = [...new Set([...HAND_PICKED, ...generated()])];
  const disagreements: string[] = [];
  let accepted = 0;
  let refused = 0;
  for (const selector of strings) {
    const server = await serverVerdict(cluster, namespace, selector);
    const ours = parseSelector(selector);
    if (/^[ \t\r\n]*$/.test(selector) || selector.includes("\0")) continue;
    if ((server !== undefined) !== ours.ok) {
      disagreements.push(
        `${JSON.stringify(selector)}: apiserver ${server ? "accepts" : "refuses"}, we ${
          ours.ok ? "accept" : `refuse (${ours.message})`
        }`,
      );
      continue;
    }
    if (!ours.ok) {
      refused++;
      continue;
    }
    accepted++;
    const matched = ourMatches(ours.requirements);
    if (JSON.stringify(matched) !== JSON.stringify(server)) {
      disagreements.push(
        `${JSON.stringify(selector)}: apiserver matches ${server}, we match ${matched}`,
      );
    }
    const written = ours.requirements.map(formatRequirement).join(",");
    const rewritten = await serverVerdict(cluster, namespace, written);
    if (JSON.stringify(rewritten) !== JSON.stringify(server)) {
      disagreements.push(
        `${JSON.stringify(selector)} written back as ${JSON.stringify(written)}: apiserver ${
          rewritten ? `matches ${rewritten}` : "refuses it"
        }, the original matches ${server}`,
      );
    }
  }
  assert.deepEqual(disagreements, [], `${disagreements.length} of ${strings.length} differ`);
  // The corpus exercises both verdicts and every operator.
  assert.ok(accepted >= 150 && refused >= 150, `${accepted} accepted, ${refused} refused`);
  for (const operator of ["=", "!=", "in", "notin", "exists", "!exists", ">", "<"]) {
    assert.ok(
      strings.some((s) => {
        const parsed = parseSelector(s);
        return parsed.ok && parsed.requirements.some((r) => r.operator === operator);
      }),
      `no accepted selector uses ${operator}`,
    );
  }
});

Deno.test("selector syntax: the two documented differences from the apiserver", async () => {
  await using cluster = await startKubeCluster();
  const namespace = "differences";
  await cluster.createNamespace(namespace);
  await cluster.createPod(namespace, { name: "p", labels: { a: "1" } });
  for (const blank of ["", " ", "\t\n"]) {
    assert.deepEqual(await serverVerdict(cluster, namespace, blank), ["p"], "every pod");
    assert.deepEqual(parseSelector(blank), { ok: false, message: "selector is empty" });
  }
  const nul: [string, string[] | undefined][] = [
    ["\0", ["p"]],
    ["a\0", ["p"]],
    ["a=1\0", ["p"]],
    ["a=1\0,b", []],
    ["a=1\0 b", undefined],
  ];
  for (const [selector, pods] of nul) {
    assert.deepEqual(await serverVerdict(cluster, namespace, selector), pods, selector);
    assert.equal(parseSelector(selector).ok, false, selector);
  }
});
