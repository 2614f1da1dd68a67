/**
 * Every kind of config error, each checked for its line, column, field path and message;
 * plus the defaults and normalisation a valid config gets.
 *
 * Fixtures under tests/fixtures/config/bad start with `# deno-fmt-ignore-file` (line 1) so
 * `deno fmt` leaves the broken YAML alone; positions below account for that line.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  type Config,
  ConfigError,
  type ConfigIssue,
  formatIssue,
  loadConfig,
  MAX_CONFIG_BYTES,
  parseConfig,
  readConfigText,
} from "../../src/config/mod.ts";

const NO_ENV: Readonly<Record<string, string>> = {};

function fixture(name: string): string {
  return fileURLToPath(new URL(`../fixtures/config/${name}`, import.meta.url));
}

/** What an issue should look like; `message` is exact (string) or a distinctive part (RegExp). */
interface Expected {
  line: number;
  column: number;
  path: string;
  message: string | RegExp;
}

function assertIssue(actual: ConfigIssue | undefined, expected: Expected, file?: string): void {
  assert.ok(actual, `expected an issue ${JSON.stringify(expected)}, got none`);
  const where = formatIssue(actual);
  assert.equal(actual.line, expected.line, `line of ${where}`);
  assert.equal(actual.column, expected.column, `column of ${where}`);
  assert.equal(actual.path, expected.path, `path of ${where}`);
  if (typeof expected.message === "string") {
    assert.equal(actual.message, expected.message, `message of ${where}`);
  } else assert.match(actual.message, expected.message, `message of ${where}`);
  if (file !== undefined) assert.equal(actual.file, file);
}

function assertIssues(
  actual: readonly ConfigIssue[],
  expected: readonly Expected[],
  file?: string,
): void {
  assert.equal(
    actual.length,
    expected.length,
    `expected ${expected.length} issue(s), got:\n${actual.map(formatIssue).join("\n")}`,
  );
  expected.forEach((e, i) => assertIssue(actual[i], e, file));
}

/** parseConfig must never throw; a throw is reported as a failed assertion naming the bug. */
function parse(text: string, env: Readonly<Record<string, string>> = NO_ENV) {
  try {
    return parseConfig(text, "test.yaml", { env });
  } catch (error) {
    assert.fail(
      `BUG: parseConfig threw instead of returning positioned issues for ${
        JSON.stringify(text.slice(0, 80))
      }: ${error}`,
    );
  }
}

function issuesOf(text: string, env: Readonly<Record<string, string>> = NO_ENV): ConfigIssue[] {
  const result = parse(text, env);
  assert.equal(result.ok, false, `expected issues for ${JSON.stringify(text)}`);
  return result.ok ? [] : [...result.issues];
}

function configOf(text: string, env: Readonly<Record<string, string>> = NO_ENV): Config {
  const result = parse(text, env);
  if (!result.ok) assert.fail(`expected a valid config, got:\n${result.issues.map(formatIssue)}`);
  return result.config;
}

/** loadConfig must reject with a ConfigError (never anything else); returns its issues. */
async function loadIssues(
  path: string,
  env: Readonly<Record<string, string>> = NO_ENV,
): Promise<ConfigIssue[]> {
  try {
    await loadConfig(path, { env });
  } catch (error) {
    if (error instanceof ConfigError) return [...error.issues];
    assert.fail(`BUG: loadConfig(${path}) threw ${error} instead of a ConfigError`);
  }
  assert.fail(`expected loadConfig(${path}) to fail`);
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cplauncher-config-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const HEAD = "apiVersion: cplauncher/v1\nanchors:\n  lab:\n    netns: /var/run/netns/lab\n";

// ---------------------------------------------------------------------------------------------
// YAML syntax and structure

Deno.test("YAML syntax error is positioned at the offending token", async () => {
  const file = fixture("bad/yaml_syntax.yaml");
  assertIssues(await loadIssues(file), [
    {
      line: 5,
      column: 15,
      path: "(document)",
      message: "YAML Nested mappings are not allowed in compact mappings",
    },
  ], file);
});

Deno.test("YAML syntax: reserved character, tabs, unclosed flow collection, unclosed quote", () => {
  assertIssues(issuesOf("apiVersion: cplauncher/v1\nanchors: {}\nworkloads: {}\n@oops: 1\n"), [
    {
      line: 4,
      column: 1,
      path: "(document)",
      message: "YAML Plain value cannot start with reserved character @",
    },
  ]);
  assertIssue(issuesOf("apiVersion: cplauncher/v1\nanchors:\n\tlab: {}\n")[0], {
    line: 3,
    column: 1,
    path: "(document)",
    message: /^YAML Tabs are not allowed as indentation/,
  });
  assertIssues(
    issuesOf("apiVersion: cplauncher/v1\nworkloads:\n  w:\n    command: [a, b\n    anchor: x\n"),
    [{ line: 5, column: 5, path: "(document)", message: /^YAML Flow sequence .* end with a \]/ }],
  );
  const quote = issuesOf('apiVersion: "cplauncher/v1\nanchors: {}\n');
  assert.ok(quote.length >= 1);
  assert.match(quote[0].message, /^YAML Missing closing "quote/);
  assert.equal(quote[0].path, "(document)");
});

Deno.test("duplicate keys are a YAML error at the second occurrence", async () => {
  const file = fixture("bad/duplicate_key.yaml");
  assertIssues(await loadIssues(file), [
    { line: 6, column: 3, path: "anchors.albums", message: 'duplicate key "albums"' },
  ], file);
  // Nested, inside a workload.
  assertIssues(
    issuesOf(`${HEAD}workloads:\n  w:\n    anchor: lab\n    anchor: lab\n    command: [x]\n`),
    [{ line: 8, column: 5, path: "workloads.w.anchor", message: 'duplicate key "anchor"' }],
  );
});

Deno.test("empty file: zero bytes, whitespace only", async () => {
  const expected: Expected = {
    line: 1,
    column: 1,
    path: "(document)",
    message: "file is empty; expected a mapping with apiVersion, anchors and workloads",
  };
  assertIssues(issuesOf(""), [expected]);
  assertIssues(issuesOf("  \n\n\t\n"), [expected]);
  await withTempDir(async (dir) => {
    const file = `${dir}/empty.yaml`;
    await Deno.writeFile(file, new Uint8Array());
    assertIssues(await loadIssues(file), [expected], file);
  });
});

Deno.test("comments-only file is an error at 1:1, not a crash", async () => {
  const expected: Expected = {
    line: 1,
    column: 1,
    path: "(document)",
    message: /no (YAML document|content)/,
  };
  assertIssues(issuesOf("# only a comment\n# and another\n"), [expected]);
  assertIssues(issuesOf("%YAML 1.2\n"), [expected]);
  const file = fixture("bad/comments_only.yaml");
  assertIssues(await loadIssues(file), [expected], file);
});

Deno.test("a document that is not a mapping", async () => {
  const file = fixture("bad/not_mapping.yaml");
  assertIssues(await loadIssues(file), [
    {
      line: 2,
      column: 1,
      path: "(document)",
      message: "expected a mapping at the top level, found a list",
    },
  ], file);
  assertIssues(issuesOf("# a config\ncplauncher\n"), [
    {
      line: 2,
      column: 1,
      path: "(document)",
      message: 'expected a mapping at the top level, found string "cplauncher"',
    },
  ]);
  assertIssues(issuesOf("42\n"), [
    {
      line: 1,
      column: 1,
      path: "(document)",
      message: "expected a mapping at the top level, found number 42",
    },
  ]);
  assertIssues(issuesOf("~\n"), [
    { line: 1, column: 1, path: "(document)", message: /^file has no content/ },
  ]);
});

Deno.test("several YAML documents are refused at the second one", async () => {
  const file = fixture("bad/multiple_documents.yaml");
  assertIssues(await loadIssues(file), [
    {
      line: 6,
      column: 1,
      path: "(document)",
      message: "expected one YAML document, found several (remove the ---)",
    },
  ], file);
});

Deno.test("unresolved alias is positioned at the alias", () => {
  assertIssues(issuesOf("apiVersion: cplauncher/v1\nanchors: *nope\nworkloads: {}\n"), [
    { line: 2, column: 10, path: "anchors", message: "alias *nope refers to no anchor (&nope)" },
  ]);
});

Deno.test("bad merge key is positioned at the merge key", () => {
  assertIssues(issuesOf("apiVersion: cplauncher/v1\n<<: 5\nanchors: {}\nworkloads: {}\n"), [
    { line: 2, column: 1, path: '"<<"', message: /a merge key \(<<\) needs a mapping/ },
  ]);
});

Deno.test("a collection used as a key containing a bad merge does not crash", () => {
  const issues = issuesOf("apiVersion: cplauncher/v1\n? { <<: 1 }\n: value\n");
  assert.ok(issues.length >= 1);
  for (const issue of issues) {
    assert.ok(issue.line >= 1 && issue.column >= 1 && issue.path !== "" && issue.message !== "");
  }
});

Deno.test("alias bombs are refused with a positioned error", () => {
  const bomb = [
    "a: &a [x, x, x, x, x, x, x, x, x]",
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]",
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]",
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]",
    "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]",
  ].join("\n");
  assertIssues(issuesOf(bomb), [
    { line: 1, column: 1, path: "(document)", message: /^YAML Excessive alias count/ },
  ]);
});

// ---------------------------------------------------------------------------------------------
// Schema errors

Deno.test("wrong types name the field and what was found", async () => {
  const file = fixture("bad/wrong_type.yaml");
  assertIssues(await loadIssues(file), [
    {
      line: 5,
      column: 18,
      path: "anchors.legacy.compartment",
      message: 'expected a number, got string "five"',
    },
    {
      line: 9,
      column: 14,
      path: "workloads.tool.command",
      message: 'expected a list, got string "C:\\\\tools\\\\tool.exe"',
    },
    {
      line: 10,
      column: 11,
      path: "workloads.tool.port",
      message: 'expected a number, got string "eighty"',
    },
  ], file);
});

Deno.test("wrong types: lists, nulls, env values, out-of-range numbers", () => {
  assertIssues(issuesOf(`${HEAD}workloads: [a]\n`), [
    { line: 5, column: 12, path: "workloads", message: "expected a mapping, got a list" },
  ]);
  assertIssues(issuesOf("apiVersion: cplauncher/v1\nanchors:\nworkloads: {}\n"), [
    { line: 2, column: 9, path: "anchors", message: "expected a mapping, got null" },
  ]);
  assertIssues(
    issuesOf(`${HEAD}workloads:\n  w:\n    anchor: lab\n    command: [x]\n    env: {A: [1]}\n`),
    [{
      line: 9,
      column: 14,
      path: "workloads.w.env.A",
      message: "expected a string, number or boolean, got a list",
    }],
  );
  assertIssues(
    issuesOf("apiVersion: cplauncher/v1\nanchors:\n  legacy:\n    compartment: 0\nworkloads: {}\n"),
    [{
      line: 4,
      column: 18,
      path: "anchors.legacy.compartment",
      message: "expected number to be >=1 (got 0)",
    }],
  );
});

Deno.test("missing required fields point at the mapping that should hold them", () => {
  assertIssues(issuesOf("apiVersion: cplauncher/v1\nanchors: {}\n"), [
    { line: 1, column: 1, path: "workloads", message: 'missing required field "workloads"' },
  ]);
  assertIssues(issuesOf(`${HEAD}workloads:\n  w:\n    anchor: lab\n`), [
    {
      line: 7,
      column: 5,
      path: "workloads.w.command",
      message: 'missing required field "command"',
    },
  ]);
});

Deno.test("unknown keys, with and without a did-you-mean hint", async () => {
  const file = fixture("bad/unknown_key.yaml");
  assertIssues(await loadIssues(file), [
    {
      line: 10,
      column: 5,
      path: "workloads.server.stopTimout",
      message: 'unknown field "stopTimout" (did you mean "stopTimeout"?)',
    },
    {
      line: 11,
      column: 16,
      path: "workloads.server.restart.polcy",
      message: 'unknown field "polcy" (did you mean "policy"?)',
    },
    {
      line: 12,
      column: 5,
      path: "workloads.server.zzzzzzzz",
      message: 'unknown field "zzzzzzzz"',
    },
  ], file);
  // Top level: "anchor" for "anchors" — both the unknown key and the missing field.
  assertIssues(issuesOf("apiVersion: cplauncher/v1\nanchor: {}\nworkloads: {}\n"), [
    { line: 1, column: 1, path: "anchors", message: 'missing required field "anchors"' },
    {
      line: 2,
      column: 1,
      path: "anchor",
      message: 'unknown field "anchor" (did you mean "anchors"?)',
    },
  ]);
  // Inside an anchor and a probe.
  assertIssues(
    issuesOf("apiVersion: cplauncher/v1\nanchors:\n  a:\n    selectr: app=x\nworkloads: {}\n"),
    [
      {
        line: 4,
        column: 5,
        path: "anchors.a.selectr",
        message: 'unknown field "selectr" (did you mean "selector"?)',
      },
      {
        line: 4,
        column: 5,
        path: "anchors.a",
        message: "an anchor needs exactly one of selector, netns or compartment",
      },
    ],
  );
});

Deno.test("invalid names of anchors and workloads", () => {
  assertIssues(
    issuesOf("apiVersion: cplauncher/v1\nanchors:\n  -bad-:\n    netns: /x\nworkloads: {}\n"),
    [{ line: 3, column: 3, path: "anchors.-bad-", message: /^invalid name: names are 1-63/ }],
  );
});

Deno.test("bad durations", async () => {
  const file = fixture("bad/bad_duration.yaml");
  assertIssues(await loadIssues(file), [
    {
      line: 6,
      column: 14,
      path: "anchors.albums.timeout",
      message:
        '"10 seconds" is not a duration (use a number with ms, s, m or h, e.g. 500ms, 30s, 2m)',
    },
    {
      line: 11,
      column: 18,
      path: "workloads.albums.stopTimeout",
      message: '"1x" is not a duration (use a number with ms, s, m or h, e.g. 500ms, 30s, 2m)',
    },
  ], file);
  assertIssues(
    issuesOf(
      `${HEAD}workloads:\n  w:\n    anchor: lab\n    command: [x]\n    restart: { backoff: { initial: -1s } }\n`,
    ),
    [{
      line: 9,
      column: 36,
      path: "workloads.w.restart.backoff.initial",
      message: /^"-1s" is not a duration/,
    }],
  );
  // A bare number is a type error on the duration field.
  assertIssues(
    issuesOf(`${HEAD}workloads:\n  w:\n    anchor: lab\n    command: [x]\n    stopTimeout: 10\n`),
    [{
      line: 9,
      column: 18,
      path: "workloads.w.stopTimeout",
      message: "expected a duration string such as 500ms, 30s or 2m, got number 10",
    }],
  );
});

Deno.test("bad selector syntax", async () => {
  const file = fixture("bad/bad_selector.yaml");
  assertIssues(await loadIssues(file), [
    {
      line: 5,
      column: 15,
      path: "anchors.albums.selector",
      message: 'bad selector: unbalanced parentheses in "app in (albums, web"',
    },
    {
      line: 7,
      column: 15,
      path: "anchors.other.selector",
      message: /^bad selector: label value "a b" is not valid/,
    },
  ], file);
  assertIssues(
    issuesOf("apiVersion: cplauncher/v1\nanchors:\n  a:\n    selector: ''\nworkloads: {}\n"),
    [{
      line: 4,
      column: 15,
      path: "anchors.a.selector",
      message: "bad selector: selector is empty",
    }],
  );
});

Deno.test('namespace "*" means all namespaces; anything else must be a namespace name', () => {
  const withNamespace = (namespace: string) =>
    `apiVersion: cplauncher/v1\nanchors:\n  a:\n    selector: app=a\n    namespace: ${namespace}\nworkloads: {}\n`;
  for (const value of ['"*"', "'*'", "kube-system", "k2s"]) {
    assert.deepEqual(configOf(withNamespace(value)).anchors.a, {
      kind: "selector",
      selector: "app=a",
      namespace: value.replace(/['"]/g, ""),
      pick: "exactly-one",
      timeoutMs: 120_000,
    });
  }
  for (const value of ['"**"', '"a*"', '"*x"', '" *"', "Prod", '""']) {
    assertIssues(issuesOf(withNamespace(value)), [{
      line: 5,
      column: 16,
      path: "anchors.a.namespace",
      message:
        `a Kubernetes namespace name (lowercase letters, digits and '-'), or "*" for all namespaces`,
    }]);
  }
});

Deno.test("bad sha256", async () => {
  const file = fixture("bad/bad_sha256.yaml");
  assertIssues(await loadIssues(file), [
    {
      line: 10,
      column: 13,
      path: "workloads.server.sha256",
      message: "sha256 must be 64 hex digits or auto",
    },
  ], file);
  const notHex = `${"g".repeat(64)}`;
  assertIssues(
    issuesOf(`${HEAD}workloads:\n  w:\n    anchor: lab\n    command: [x]\n    sha256: ${notHex}\n`),
    [{
      line: 9,
      column: 13,
      path: "workloads.w.sha256",
      message: "sha256 must be 64 hex digits or auto",
    }],
  );
});

Deno.test("an anchor with two or three sources", async () => {
  const file = fixture("bad/anchor_two_sources.yaml");
  assertIssues(await loadIssues(file), [
    {
      line: 6,
      column: 12,
      path: "anchors.albums.netns",
      message:
        "an anchor has exactly one of selector, netns or compartment, not selector and netns",
    },
  ], file);
  assertIssues(
    issuesOf(
      "apiVersion: cplauncher/v1\nanchors:\n  a:\n    netns: /x\n    compartment: 3\n    selector: a=b\nworkloads: {}\n",
    ),
    [{
      line: 4,
      column: 12,
      path: "anchors.a.netns",
      message: /not selector and netns and compartment$/,
    }],
  );
});

Deno.test("selector-only fields on a netns or compartment anchor", async () => {
  const file = fixture("bad/selector_fields_on_netns.yaml");
  const only = (key: string, kind: string) =>
    `${key} is only allowed with selector (this anchor uses ${kind})`;
  assertIssues(await loadIssues(file), [
    { line: 6, column: 16, path: "anchors.lab.namespace", message: only("namespace", "netns") },
    { line: 7, column: 11, path: "anchors.lab.node", message: only("node", "netns") },
    { line: 8, column: 11, path: "anchors.lab.pick", message: only("pick", "netns") },
    { line: 9, column: 14, path: "anchors.lab.timeout", message: only("timeout", "netns") },
  ], file);
  assertIssues(
    issuesOf(
      "apiVersion: cplauncher/v1\nanchors:\n  legacy:\n    compartment: 5\n    pick: claim\nworkloads: {}\n",
    ),
    [{ line: 5, column: 11, path: "anchors.legacy.pick", message: only("pick", "compartment") }],
  );
});

Deno.test("a workload naming a missing anchor names the workload, the anchor and the line", async () => {
  const file = fixture("bad/missing_anchor.yaml");
  const issues = await loadIssues(file);
  assertIssues(issues, [
    {
      line: 8,
      column: 13,
      path: "workloads.albums.anchor",
      message: 'workload "albums" names anchor "albumz", which is not declared (declared: lab)',
    },
  ], file);
  assert.ok(formatIssue(issues[0]).startsWith(`${file}:8:13: workloads.albums.anchor: `));
  assertIssues(
    issuesOf("apiVersion: cplauncher/v1\nanchors: {}\nworkloads:\n  w:\n    anchor: gone\n"),
    [
      {
        line: 5,
        column: 5,
        path: "workloads.w.command",
        message: 'missing required field "command"',
      },
      {
        line: 5,
        column: 13,
        path: "workloads.w.anchor",
        message:
          'workload "w" names anchor "gone", which is not declared (no anchors are declared)',
      },
    ],
  );
});

Deno.test("an anchor that is declared but invalid is not reported as missing", () => {
  const issues = issuesOf(
    "apiVersion: cplauncher/v1\nanchors:\n  a:\n    netns: /x\n    pick: claim\nworkloads:\n  w:\n    anchor: a\n    command: [x]\n",
  );
  assertIssues(issues, [
    {
      line: 5,
      column: 11,
      path: "anchors.a.pick",
      message: "pick is only allowed with selector (this anchor uses netns)",
    },
  ]);
});

Deno.test("several errors in one file are all reported, sorted by line", async () => {
  const file = fixture("bad/many_errors.yaml");
  const issues = await loadIssues(file);
  assert.deepEqual(
    issues.map((i) => [i.line, i.column, i.path]),
    [
      [2, 13, "apiVersion"],
      [4, 3, "kubernetes.kubeconfg"],
      [7, 15, "anchors.albums.selector"],
      [8, 14, "anchors.albums.timeout"],
      [11, 11, "anchors.lab.pick"],
      [14, 13, "workloads.albums.anchor"],
      [15, 14, "workloads.albums.command"],
      [16, 11, "workloads.albums.port"],
      [17, 13, "workloads.albums.sha256"],
      [18, 18, "workloads.albums.stopTimeout"],
      [19, 24, "workloads.albums.restart.policy"],
    ],
  );
  for (let i = 1; i < issues.length; i++) {
    const [a, b] = [issues[i - 1], issues[i]];
    assert.ok(a.line < b.line || (a.line === b.line && a.column <= b.column), "sorted");
  }
  assert.match(issues[0].message, /^expected one of "cplauncher\/v1", got "cplauncher\/v2"$/);
  assert.match(issues[1].message, /did you mean "kubeconfig"/);
  assert.match(issues[5].message, /names anchor "nowhere"/);
  assert.equal(issues[6].message, "command needs at least the program");
  assert.equal(issues[7].message, "expected number to be <=65535 (got 70000)");
  assert.match(issues[10].message, /got "sometimes"$/);
  // The thrown error carries the same lines, formatted like a compiler.
  try {
    await loadConfig(file, { env: NO_ENV });
    assert.fail("expected a ConfigError");
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.message, issues.map(formatIssue).join("\n"));
  }
});

Deno.test("every issue stays on one line when the offending text has line breaks", () => {
  const issues = issuesOf(
    'apiVersion: cplauncher/v1\nanchors:\n  a:\n    selector: "app in (x\\ny"\n    timeout: "1\\nx"\nworkloads: {}\n"a\\nb": 1\n',
  );
  assert.deepEqual(issues.map((i) => [i.line, i.path]), [
    [4, "anchors.a.selector"],
    [5, "anchors.a.timeout"],
    [7, '"a\\nb"'],
  ]);
  for (const issue of issues) {
    assert.doesNotMatch(
      formatIssue(issue),
      /[\r\n]/,
      `BUG: multi-line issue ${formatIssue(issue)}`,
    );
  }
});

// ---------------------------------------------------------------------------------------------
// Interpolation errors

Deno.test("unset variable names the variable and where it is used", async () => {
  const file = fixture("bad/unset_variable.yaml");
  assertIssues(await loadIssues(file, {}), [
    {
      line: 6,
      column: 11,
      path: "anchors.albums.node",
      message:
        "environment variable CPL_TEST_UNSET_NODE is not set (use ${CPL_TEST_UNSET_NODE:-default} to give a default)",
    },
  ], file);
  // Set: fine.
  const config = await loadConfig(file, { env: { CPL_TEST_UNSET_NODE: "node-7" } });
  const anchor = config.anchors.albums;
  assert.equal(anchor.kind === "selector" && anchor.node, "node-7");
  // Inside a list: the path has the index.
  assertIssues(
    issuesOf(`${HEAD}workloads:\n  w:\n    anchor: lab\n    command: [x, "--v=\${MISSING}"]\n`),
    [{
      line: 8,
      column: 18,
      path: "workloads.w.command[1]",
      message: /^environment variable MISSING is not set/,
    }],
  );
});

Deno.test("${VAR:-default}, $${ escape, invalid and unterminated references", () => {
  const text = (netns: string) =>
    `apiVersion: cplauncher/v1\nanchors:\n  a:\n    netns: ${netns}\nworkloads: {}\n`;
  const netnsOf = (config: Config) => {
    const a = config.anchors.a;
    return a.kind === "netns" ? a.netns : undefined;
  };
  assert.equal(netnsOf(configOf(text("${NS:-/var/run/netns/lab}"))), "/var/run/netns/lab");
  assert.equal(netnsOf(configOf(text("${NS:-/default}"), { NS: "/set" })), "/set");
  assert.equal(netnsOf(configOf(text("${NS:-/default}"), { NS: "" })), "/default");
  assert.equal(netnsOf(configOf(text("/x/$${HOME}"), { HOME: "/root" })), "/x/${HOME}");
  assertIssues(issuesOf(text("${1X}")), [
    {
      line: 4,
      column: 12,
      path: "anchors.a.netns",
      message: "invalid variable reference ${1X} (use ${NAME} or ${NAME:-default})",
    },
  ]);
  assertIssues(issuesOf(text("/x${HOME"), { HOME: "/root" }), [
    {
      line: 4,
      column: 12,
      path: "anchors.a.netns",
      message: 'unterminated variable reference in "/x${HOME"',
    },
  ]);
});

Deno.test("unset variables are reported together with schema errors", () => {
  const issues = issuesOf(
    "apiVersion: cplauncher/v1\nanchors:\n  a:\n    selector: app=x\n    node: ${NODE_X}\n    pick: maybe\nworkloads: {}\n",
  );
  assert.deepEqual(issues.map((i) => [i.line, i.path]), [
    [5, "anchors.a.node"],
    [6, "anchors.a.pick"],
  ]);
});

// ---------------------------------------------------------------------------------------------
// Files: missing, directory, binary, huge

Deno.test("missing file and directory", async () => {
  await withTempDir(async (dir) => {
    const missing = `${dir}/nope.yaml`;
    assertIssues(await loadIssues(missing), [
      { line: 1, column: 1, path: "(document)", message: "no such file" },
    ], missing);
    assertIssues(await loadIssues(dir), [
      { line: 1, column: 1, path: "(document)", message: "is a directory, not a config file" },
    ], dir);
  });
});

Deno.test("non-UTF-8 bytes are refused at the first invalid byte", async () => {
  const enc = new TextEncoder();
  const cases: [string, number[], number, number][] = [
    ["ascii then 0xff", [...enc.encode("apiVersion: x\nab: "), 0xff, 0xfe], 2, 5],
    ["UTF-16 with BOM", [0xff, 0xfe, 0x61, 0x00, 0x3a, 0x00], 1, 1],
    ["overlong NUL", [0x61, 0xc0, 0x80], 1, 2],
  ];
  await withTempDir(async (dir) => {
    for (const [name, bytes, line, column] of cases) {
      const file = `${dir}/${name.replaceAll(" ", "_")}.yaml`;
      await Deno.writeFile(file, new Uint8Array(bytes));
      const issues = await loadIssues(file);
      assertIssues(issues, [
        { line, column, path: "(document)", message: "file is not UTF-8 text" },
      ], file);
    }
  });
});

Deno.test("non-UTF-8 position is right after multi-byte text and for Latin-1", async () => {
  const enc = new TextEncoder();
  const cases: [number[], number, number][] = [
    [[...enc.encode("# 日本語のコメント\nkey: "), 0xff, 0xfe], 2, 6],
    [[...enc.encode("apiVersion: cplauncher/v1\nname: Jos"), 0xe9, 0x0a], 2, 10],
    [[...enc.encode("# 📜📜📜📜\nab"), 0xff], 2, 3],
  ];
  await withTempDir(async (dir) => {
    for (const [i, [bytes, line, column]] of cases.entries()) {
      const file = `${dir}/case${i}.yaml`;
      await Deno.writeFile(file, new Uint8Array(bytes));
      const [issue] = await loadIssues(file);
      assert.equal(issue.message, "file is not UTF-8 text");
      assert.deepEqual([issue.line, issue.column], [line, column], `case ${i}`);
    }
  });
});

Deno.test("binary garbage: random bytes always give one positioned error", async () => {
  // Deterministic pseudo-random bytes (xorshift), each buffer with at least one 0xff.
  let state = 0x2545f491;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) & 0xff;
  };
  await withTempDir(async (dir) => {
    for (let n = 0; n < 40; n++) {
      const bytes = Uint8Array.from({ length: 16 + n * 37 }, next);
      bytes[bytes.length >> 1] = 0xff;
      const file = `${dir}/garbage${n}.bin`;
      await Deno.writeFile(file, bytes);
      const issues = await loadIssues(file);
      assert.equal(issues.length, 1);
      const [issue] = issues;
      assert.equal(issue.message, "file is not UTF-8 text");
      assert.equal(issue.path, "(document)");
      assert.ok(issue.line >= 1 && issue.column >= 1);
    }
  });
});

Deno.test("NUL bytes are refused at the first NUL", async () => {
  assertIssues(issuesOf("apiVersion: cplauncher/v1\nab\0c\n"), [
    {
      line: 2,
      column: 3,
      path: "(document)",
      message: "file contains NUL bytes; it is not YAML text",
    },
  ]);
  await withTempDir(async (dir) => {
    const file = `${dir}/nul.yaml`;
    await Deno.writeFile(file, new TextEncoder().encode("a: 1\n\0\0\0\n"));
    assertIssues(await loadIssues(file), [
      { line: 2, column: 1, path: "(document)", message: /NUL bytes/ },
    ], file);
  });
});

Deno.test("a 10 MB file is refused before it is read", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/huge.yaml`;
    const line = `${"#".repeat(1023)}\n`;
    await Deno.writeTextFile(file, line.repeat(10 * 1024));
    assertIssues(await loadIssues(file), [
      {
        line: 1,
        column: 1,
        path: "(document)",
        message: "file is 10.0 MiB; a config may be at most 1 MiB",
      },
    ], file);
    await assert.rejects(readConfigText(file), ConfigError);
  });
});

Deno.test("the size limit is inclusive: exactly MAX_CONFIG_BYTES loads, one more does not", async () => {
  const body = "apiVersion: cplauncher/v1\nanchors: {}\nworkloads: {}\n# ";
  await withTempDir(async (dir) => {
    const exact = `${dir}/exact.yaml`;
    await Deno.writeTextFile(exact, `${body}${"x".repeat(MAX_CONFIG_BYTES - body.length - 1)}\n`);
    assert.equal((await Deno.stat(exact)).size, MAX_CONFIG_BYTES);
    const config = await loadConfig(exact, { env: NO_ENV });
    assert.deepEqual(config.workloads, {});
    const over = `${dir}/over.yaml`;
    await Deno.writeTextFile(over, `${body}${"x".repeat(MAX_CONFIG_BYTES - body.length)}\n`);
    assertIssues(await loadIssues(over), [
      { line: 1, column: 1, path: "(document)", message: /a config may be at most 1 MiB$/ },
    ], over);
  });
});

Deno.test("a UTF-8 byte order mark is accepted", () => {
  const config = configOf("\uFEFFapiVersion: cplauncher/v1\nanchors: {}\nworkloads: {}\n");
  assert.equal(config.apiVersion, "cplauncher/v1");
});

// ---------------------------------------------------------------------------------------------
// Valid configs: defaults and normalisation

Deno.test("defaults are filled in", async () => {
  const config = await loadConfig(fixture("good/minimal.yaml"), { env: NO_ENV });
  assert.deepEqual(config.kubernetes, { kubeconfig: "auto" });
  assert.deepEqual(config.anchors.albums, {
    kind: "selector",
    selector: "app=cp-albums-win",
    namespace: "default",
    pick: "exactly-one",
    timeoutMs: 120_000,
  });
  const w = config.workloads.albums;
  assert.equal(w.anchor, "albums");
  assert.deepEqual(w.command, ["/opt/albums/albums"]);
  assert.deepEqual(w.env, {});
  assert.equal(w.cwd, undefined);
  assert.equal(w.sha256, undefined);
  assert.equal(w.port, undefined);
  assert.deepEqual(w.restart, {
    policy: "on-failure",
    backoff: { initial: 1_000, max: 300_000, resetAfter: 600_000 },
  });
  assert.equal(w.stopTimeout, 10_000);
  assert.equal(w.startupTimeout, 30_000);
  assert.deepEqual(w.probes, {});
  assert.deepEqual(w.windows, { strategy: "job", compartmentEnv: "COMPARTMENT_ID_ATTACH" });
});

Deno.test("durations are converted to milliseconds; partial backoff keeps other defaults", () => {
  const config = configOf(
    "apiVersion: cplauncher/v1\nanchors:\n  a:\n    selector: app=a\n    timeout: 120s\n  b:\n    selector: app=b\n    timeout: 1m30s\nworkloads:\n  w:\n    anchor: a\n    command: [x]\n    restart: { backoff: { max: 2m } }\n    stopTimeout: 500ms\n",
  );
  const a = config.anchors.a;
  const b = config.anchors.b;
  assert.equal(a.kind === "selector" && a.timeoutMs, 120_000);
  assert.equal(b.kind === "selector" && b.timeoutMs, 90_000);
  assert.deepEqual(config.workloads.w.restart, {
    policy: "on-failure",
    backoff: { initial: 1_000, max: 120_000, resetAfter: 600_000 },
  });
  assert.equal(config.workloads.w.stopTimeout, 500);
});

Deno.test("the full example loads: anchors tagged by kind, env coerced, sha256 lowercased", async () => {
  const config = await loadConfig(fixture("good/full.yaml"), { env: { NODE_NAME: "win-7" } });
  assert.deepEqual(config.anchors, {
    albums: {
      kind: "selector",
      selector: "app=cp-albums-win,tier in (web, api)",
      namespace: "k2s",
      node: "win-7",
      pick: "first-ready",
      timeoutMs: 90_000,
    },
    lab: { kind: "netns", netns: "/var/run/netns/lab" },
    legacy: { kind: "compartment", compartment: 5 },
  });
  const albums = config.workloads.albums;
  assert.deepEqual(albums.env, { LOG_LEVEL: "info", WORKERS: "4", VERBOSE: "true" });
  assert.equal(albums.sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  assert.deepEqual(albums.command, ["C:\\apps\\albumswin.exe", "--port", "8080"]);
  assert.equal(albums.cwd, "C:\\apps");
  assert.equal(albums.port, 8080);
  assert.deepEqual(albums.restart, {
    policy: "always",
    backoff: { initial: 2_000, max: 60_000, resetAfter: 600_000 },
  });
  assert.equal(albums.stopTimeout, 15_000);
  assert.equal(albums.probes.readiness?.http?.path, "/ready");
  assert.equal(albums.probes.readiness?.period, 5_000);
  assert.equal(config.workloads["legacy-tool"].windows.strategy, "self");
  assert.equal(config.workloads["lab-server"].restart.policy, "never");
  // Without NODE_NAME the default applies.
  const fallback = await loadConfig(fixture("good/full.yaml"), { env: NO_ENV });
  const anchor = fallback.anchors.albums;
  assert.equal(anchor.kind === "selector" && anchor.node, "node-1");
});

Deno.test("env values of every scalar type become strings", () => {
  const config = configOf(
    `${HEAD}workloads:\n  w:\n    anchor: lab\n    command: [x]\n    env: { S: text, I: 3, F: 1.5, B: false, Q: "007" }\n`,
  );
  assert.deepEqual(config.workloads.w.env, { S: "text", I: "3", F: "1.5", B: "false", Q: "007" });
});

Deno.test("parseConfig accepts env as a function and uses the file name in issues", () => {
  const seen: string[] = [];
  const result = parseConfig(
    "apiVersion: cplauncher/v1\nanchors:\n  a:\n    netns: ${NS}\nworkloads: {}\nbogus: 1\n",
    "my/config.yaml",
    {
      env: (name) => {
        seen.push(name);
        return name === "NS" ? "/ns" : undefined;
      },
    },
  );
  assert.deepEqual(seen, ["NS"]);
  assert.equal(result.ok, false);
  if (!result.ok) {
    assert.equal(formatIssue(result.issues[0]), 'my/config.yaml:6:1: bogus: unknown field "bogus"');
  }
});
