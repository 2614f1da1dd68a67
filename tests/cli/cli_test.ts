/**
 * The `cplauncher` command line, run as a subprocess (`deno run --allow-all src/main.ts …`):
 * exit codes, stdout/stderr contents, config discovery.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { configJsonSchema } from "../../src/config/mod.ts";
import { VERSION } from "../../src/version.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = `${ROOT}src/main.ts`;
const DENO_JSON = `${ROOT}deno.json`;
const GOOD = `${ROOT}tests/fixtures/config/good/full.yaml`;
const BAD_DIR = `${ROOT}tests/fixtures/config/bad`;

/** `file:line:col: field.path: message` */
const POSITIONED = /^(.+?):(\d+):(\d+): (.+?): (.+)$/;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Run> {
  const env = Deno.env.toObject();
  for (const name of ["CPLAUNCHER_CONFIG", "NODE_NAME", "RUST_BACKTRACE", "CPL_TEST_UNSET_NODE"]) {
    delete env[name];
  }
  Object.assign(env, { NO_COLOR: "1" }, options.env);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", `--config=${DENO_JSON}`, MAIN, ...args],
    cwd: options.cwd ?? ROOT,
    env,
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

function lines(text: string): string[] {
  return text.split("\n").filter((line) => line !== "");
}

function show(run: Run): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`;
}

/** No stack frames, no uncaught errors, no internal errors: only what the CLI means to say. */
function assertClean(run: Run): void {
  const text = `${run.stdout}\n${run.stderr}`;
  assert.doesNotMatch(text, /^\s+at /m, `stack frame in output:\n${show(run)}`);
  assert.doesNotMatch(text, /Uncaught/, show(run));
  assert.doesNotMatch(text, /internal error/, show(run));
}

/** Exit 2; stderr has only positioned issue lines (plus an "N errors" tail); stdout empty. */
function assertConfigErrors(run: Run, file: string): RegExpExecArray[] {
  assert.equal(run.code, 2, show(run));
  assertClean(run);
  assert.equal(run.stdout, "", show(run));
  const all = lines(run.stderr);
  assert.ok(all.length >= 1, show(run));
  const issueLines = all.length > 1 ? all.slice(0, -1) : all;
  if (all.length > 1) assert.equal(all.at(-1), `${all.length - 1} errors`, show(run));
  const parsed = issueLines.map((line) => {
    const match = POSITIONED.exec(line);
    assert.ok(match, `not a positioned error line: ${JSON.stringify(line)}\n${show(run)}`);
    assert.equal(match[1], file);
    assert.ok(Number(match[2]) >= 1 && Number(match[3]) >= 1, line);
    return match;
  });
  for (let i = 1; i < parsed.length; i++) {
    assert.ok(Number(parsed[i - 1][2]) <= Number(parsed[i][2]), `sorted by line: ${run.stderr}`);
  }
  return parsed;
}

/** Exit 2 with exactly one `cplauncher: …` line on stderr. */
function assertUsageError(run: Run, pattern: RegExp): void {
  assert.equal(run.code, 2, show(run));
  assertClean(run);
  assert.equal(run.stdout, "", show(run));
  const all = lines(run.stderr);
  assert.equal(all.length, 1, `expected one line:\n${show(run)}`);
  assert.match(all[0], /^cplauncher: /);
  assert.match(all[0], pattern);
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cplauncher-cli-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------------------------------------
// validate

Deno.test("validate: a good config exits 0 with a one-line summary", async () => {
  const run = await cli(["validate", "-c", GOOD]);
  assert.equal(run.code, 0, show(run));
  assert.equal(run.stdout, `${GOOD}: ok (3 anchors, 3 workloads)\n`);
  assert.equal(run.stderr, "");
  const long = await cli(["validate", "--config", GOOD]);
  assert.equal(long.stdout, run.stdout);
});

Deno.test("validate: every bad fixture exits 2 with positioned errors and no stack trace", async () => {
  const names = [...Deno.readDirSync(BAD_DIR)].map((e) => e.name)
    // comments_only.yaml is covered by its own test below (it currently crashes).
    .filter((name) => name.endsWith(".yaml") && name !== "comments_only.yaml")
    .sort();
  assert.ok(names.length >= 14, names.join(", "));
  const runs = await Promise.all(
    names.map((name) => cli(["validate", "-c", `${BAD_DIR}/${name}`])),
  );
  names.forEach((name, i) => assertConfigErrors(runs[i], `${BAD_DIR}/${name}`));
});

Deno.test("validate: all errors of a file at once, in line order", async () => {
  const file = `${BAD_DIR}/many_errors.yaml`;
  const issues = assertConfigErrors(await cli(["validate", "-c", file]), file);
  assert.deepEqual(issues.map((m) => [Number(m[2]), m[4]]), [
    [2, "apiVersion"],
    [4, "kubernetes.kubeconfg"],
    [7, "anchors.albums.selector"],
    [8, "anchors.albums.timeout"],
    [11, "anchors.lab.pick"],
    [14, "workloads.albums.anchor"],
    [15, "workloads.albums.command"],
    [16, "workloads.albums.port"],
    [17, "workloads.albums.sha256"],
    [18, "workloads.albums.stopTimeout"],
    [19, "workloads.albums.restart.policy"],
  ]);
});

Deno.test("validate: a missing anchor reference names workload, anchor and line", async () => {
  const file = `${BAD_DIR}/missing_anchor.yaml`;
  const run = await cli(["validate", "-c", file]);
  assertConfigErrors(run, file);
  assert.equal(
    run.stderr,
    `${file}:8:13: workloads.albums.anchor: workload "albums" names anchor "albumz", which is not declared (declared: lab)\n`,
  );
});

Deno.test("validate: unset variable is an error; set through the environment it is fine", async () => {
  const file = `${BAD_DIR}/unset_variable.yaml`;
  const unset = await cli(["validate", "-c", file]);
  assertConfigErrors(unset, file);
  assert.match(
    unset.stderr,
    /:6:11: anchors\.albums\.node: environment variable CPL_TEST_UNSET_NODE/,
  );
  const set = await cli(["validate", "-c", file], { env: { CPL_TEST_UNSET_NODE: "node-9" } });
  assert.equal(set.code, 0, show(set));
  assert.equal(set.stdout, `${file}: ok (1 anchor, 0 workloads)\n`);
});

Deno.test("validate: comments-only file exits 2 with a positioned error", async () => {
  const file = `${BAD_DIR}/comments_only.yaml`;
  const [issue] = assertConfigErrors(await cli(["validate", "-c", file]), file);
  assert.deepEqual([issue[2], issue[3], issue[4]], ["1", "1", "(document)"]);
});

Deno.test("validate: missing file, directory, empty, binary and 10 MB files exit 2", async () => {
  await withTempDir(async (dir) => {
    const missing = `${dir}/missing.yaml`;
    const run = await cli(["validate", "-c", missing]);
    assertConfigErrors(run, missing);
    assert.equal(run.stderr, `${missing}:1:1: (document): no such file\n`);

    const directory = await cli(["validate", "-c", dir]);
    assertConfigErrors(directory, dir);
    assert.match(directory.stderr, /: \(document\): is a directory/);

    const empty = `${dir}/empty.yaml`;
    await Deno.writeFile(empty, new Uint8Array());
    const binary = `${dir}/binary.yaml`;
    await Deno.writeFile(binary, Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0xff, 0x00]));
    const nul = `${dir}/nul.yaml`;
    await Deno.writeFile(nul, new TextEncoder().encode("apiVersion: x\n\0\0"));
    const huge = `${dir}/huge.yaml`;
    await Deno.writeTextFile(huge, `${"#".repeat(1023)}\n`.repeat(10 * 1024));
    const expected: [string, RegExp][] = [
      [empty, /:1:1: \(document\): file is empty/],
      [binary, /:1:7: \(document\): file is not UTF-8 text$/m],
      [nul, /:2:1: \(document\): file contains NUL bytes/],
      [huge, /:1:1: \(document\): file is 10\.0 MiB; a config may be at most 1 MiB$/m],
    ];
    const runs = await Promise.all(expected.map(([file]) => cli(["validate", "-c", file])));
    expected.forEach(([file, pattern], i) => {
      assertConfigErrors(runs[i], file);
      assert.match(runs[i].stderr, pattern);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Where the config comes from

Deno.test("-c defaults to $CPLAUNCHER_CONFIG, and -c wins over it", async () => {
  const fromEnv = await cli(["validate"], { env: { CPLAUNCHER_CONFIG: GOOD } });
  assert.equal(fromEnv.code, 0, show(fromEnv));
  assert.equal(fromEnv.stdout, `${GOOD}: ok (3 anchors, 3 workloads)\n`);
  const bad = `${BAD_DIR}/missing_anchor.yaml`;
  const flagWins = await cli(["validate", "-c", bad], { env: { CPLAUNCHER_CONFIG: GOOD } });
  assertConfigErrors(flagWins, bad);
});

Deno.test("-c defaults to ./compartments.yaml without $CPLAUNCHER_CONFIG", async () => {
  await withTempDir(async (dir) => {
    const missing = await cli(["validate"], { cwd: dir });
    assertConfigErrors(missing, "compartments.yaml");
    assert.equal(missing.stderr, "compartments.yaml:1:1: (document): no such file\n");

    await Deno.copyFile(GOOD, `${dir}/compartments.yaml`);
    const found = await cli(["validate"], { cwd: dir });
    assert.equal(found.code, 0, show(found));
    assert.equal(found.stdout, "compartments.yaml: ok (3 anchors, 3 workloads)\n");

    // $CPLAUNCHER_CONFIG still comes first.
    const env = await cli(["validate"], {
      cwd: dir,
      env: { CPLAUNCHER_CONFIG: `${BAD_DIR}/bad_sha256.yaml` },
    });
    assertConfigErrors(env, `${BAD_DIR}/bad_sha256.yaml`);
  });
});

// ---------------------------------------------------------------------------------------------
// Usage errors

Deno.test("unknown command, unknown option, bad option values, extra arguments: exit 2, one line", async () => {
  const cases: [string[], RegExp][] = [
    [["frobnicate"], /unknown command 'frobnicate'/],
    [["validate", "--frobnicate"], /unknown option '--frobnicate'/],
    [["plan", "-c", GOOD, "--output", "xml"], /'--output <format>' argument 'xml' is invalid/],
    [["plan", "-c", GOOD, "--platform", "macos"], /'--platform <os>' argument 'macos' is invalid/],
    [["--log-format", "xml", "validate", "-c", GOOD], /'--log-format <format>' argument 'xml'/],
    [["--log-level", "loud", "validate", "-c", GOOD], /'--log-level <level>' argument 'loud'/],
    [["validate", "-c"], /option '-c, --config <file>' argument missing/],
    [["validate", "-c", GOOD, "extra"], /too many arguments for 'validate'/],
  ];
  const runs = await Promise.all(cases.map(([args]) => cli(args)));
  cases.forEach(([, pattern], i) => assertUsageError(runs[i], pattern));
});

Deno.test("no command: usage on stderr, exit 2, no stray commander message", async () => {
  const run = await cli([]);
  assert.equal(run.code, 2, show(run));
  assertClean(run);
  assert.match(run.stderr, /^Usage: cplauncher /m);
  assert.doesNotMatch(run.stderr, /\(outputHelp\)/, show(run));
});

Deno.test("--help and --version exit 0 on stdout", async () => {
  const [help, version, short] = await Promise.all([
    cli(["--help"]),
    cli(["--version"]),
    cli(["-V"]),
  ]);
  assert.equal(help.code, 0, show(help));
  for (const command of ["validate", "schema", "plan"]) {
    assert.match(help.stdout, new RegExp(command));
  }
  assert.equal(version.code, 0, show(version));
  assert.equal(version.stdout, `${VERSION}\n`);
  assert.equal(version.stderr, "");
  assert.equal(short.stdout, `${VERSION}\n`);
});

// ---------------------------------------------------------------------------------------------
// schema and plan

Deno.test("schema prints the JSON Schema", async () => {
  const run = await cli(["schema"]);
  assert.equal(run.code, 0, show(run));
  assert.equal(run.stderr, "");
  const schema = JSON.parse(run.stdout);
  assert.equal(typeof schema.$schema, "string");
  assert.match(schema.$schema, /json-schema\.org/);
  assert.equal(schema.type, "object");
  for (const key of ["apiVersion", "anchors", "workloads"]) {
    assert.ok(key in schema.properties, `schema has ${key}`);
  }
  assert.deepEqual(schema, JSON.parse(JSON.stringify(configJsonSchema())));
});

Deno.test("plan --output json lists anchors and workloads with their steps", async () => {
  const run = await cli(["plan", "-c", GOOD, "--output", "json", "--platform", "linux"]);
  assert.equal(run.code, 0, show(run));
  assertClean(run);
  const plan = JSON.parse(run.stdout);
  assert.equal(plan.platform, "linux");
  assert.deepEqual(
    plan.anchors.map((a: { name: string; kind: string }) => [a.name, a.kind]),
    [["albums", "selector"], ["lab", "netns"], ["legacy", "compartment"]],
  );
  for (const anchor of plan.anchors) {
    assert.ok(Array.isArray(anchor.steps) && anchor.steps.length > 0, anchor.name);
    for (const step of anchor.steps) assert.equal(typeof step, "string");
  }
  assert.match(plan.anchors[0].steps.join("\n"), /namespace k2s matching app=cp-albums-win/);
  assert.match(plan.anchors[0].steps.join("\n"), /on node node-1/);
  assert.deepEqual(
    plan.workloads.map((w: { name: string; anchor: string }) => [w.name, w.anchor]),
    [["albums", "albums"], ["legacy-tool", "legacy"], ["lab-server", "lab"]],
  );
  for (const workload of plan.workloads) {
    assert.equal(typeof workload.launch, "string");
    assert.ok(workload.launch.length > 0);
    assert.equal(typeof workload.restart, "string");
  }
  assert.match(plan.workloads[0].launch, /setns/);
  assert.equal(plan.workloads[0].port, 8080);
  assert.equal(plan.workloads[2].restart, "never");
});

Deno.test("plan uses $NODE_NAME from the environment", async () => {
  const run = await cli(["plan", "-c", GOOD, "--output", "json"], {
    env: { NODE_NAME: "win-node-7" },
  });
  assert.equal(run.code, 0, show(run));
  assert.equal(JSON.parse(run.stdout).anchors[0].anchor.node, "win-node-7");
});

Deno.test("plan --platform windows mentions the job strategy", async () => {
  const run = await cli(["plan", "-c", GOOD, "--platform", "windows"]);
  assert.equal(run.code, 0, show(run));
  assertClean(run);
  assert.match(run.stdout, /^platform: windows$/m);
  assert.match(run.stdout, /job object/);
  assert.match(run.stdout, /SetJobCompartmentId/);
  // legacy-tool uses strategy self: the workload switches its own threads.
  assert.match(run.stdout, /COMPARTMENT_ID_ATTACH=<id>/);
  assert.match(run.stdout, /map the pod IP to its compartment/);
});

Deno.test("plan with a bad config exits 2 like validate", async () => {
  const file = `${BAD_DIR}/bad_duration.yaml`;
  assertConfigErrors(await cli(["plan", "-c", file, "--output", "json"]), file);
});

// ---------------------------------------------------------------------------------------------
// Logging options

Deno.test("--log-format json: machine output unchanged, stderr is JSON lines only", async () => {
  const run = await cli(["--log-format", "json", "--log-level", "debug", "validate", "-c", GOOD]);
  assert.equal(run.code, 0, show(run));
  assert.equal(run.stdout, `${GOOD}: ok (3 anchors, 3 workloads)\n`);
  assert.equal(run.stderr, "", "validate logs nothing");
  // `run` logs: an anchor whose namespace does not exist fails, in JSON records.
  await withTempDir(async (dir) => {
    const config = `${dir}/missing-netns.yaml`;
    await Deno.writeTextFile(
      config,
      "apiVersion: cplauncher/v1\nanchors:\n  n: { netns: /var/run/netns/cpl-cli-test-missing }\n" +
        "workloads:\n  w: { anchor: n, command: [/bin/true] }\n",
    );
    const failed = await cli(["--log-format", "json", "--log-level", "debug", "run", "-c", config]);
    assert.equal(failed.code, 3, show(failed));
    assertClean(failed);
    assert.equal(failed.stdout, "", show(failed));
    const records = lines(failed.stderr).map((line) => {
      try {
        return JSON.parse(line);
      } catch {
        assert.fail(`not JSON: ${line}\n${show(failed)}`);
      }
    });
    assert.ok(records.length >= 1, show(failed));
    assert.ok(
      records.some((r) => r.level === "error" && /cpl-cli-test-missing/.test(r.message)),
      `the failure is one of the records:\n${show(failed)}`,
    );
  });
  const plan = await cli(["--log-format", "json", "plan", "-c", GOOD, "--output", "json"]);
  assert.equal(plan.code, 0, show(plan));
  assert.equal(JSON.parse(plan.stdout).anchors.length, 3);
  // Config errors stay compiler-style lines whatever the log format.
  const file = `${BAD_DIR}/bad_sha256.yaml`;
  assertConfigErrors(await cli(["--log-format", "json", "validate", "-c", file]), file);
});
