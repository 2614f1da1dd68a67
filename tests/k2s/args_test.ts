/**
 * The k2s launcher's command line, as pure functions: Go flag syntax, Go durations, the
 * defaults that differ from ours, routing without a subcommand, and usage errors.
 */
import assert from "node:assert/strict";
import { parseGoDuration } from "../../src/cli/k2s_duration.ts";
import {
  DEFAULT_LABEL_TIMEOUT_MS,
  EXEC_FLAGS,
  EXEC_HELP,
  execArguments,
  type ExecRequest,
  ExecUsageError,
  parseExecArgs,
  verbosityToLevel,
} from "../../src/cli/k2s_exec_args.ts";
import { parseGoBool, parseGoFlags, parseGoInt } from "../../src/cli/k2s_flags.ts";

function request(args: string[], os: "linux" | "windows" = "linux"): ExecRequest {
  const invocation = parseExecArgs(args, os);
  assert.equal(invocation.kind, "run");
  return (invocation as { request: ExecRequest }).request;
}

function usageError(args: string[], os: "linux" | "windows" = "linux"): string {
  try {
    parseExecArgs(args, os);
  } catch (error) {
    assert.ok(error instanceof ExecUsageError, `not a usage error: ${error}`);
    assert.doesNotMatch(error.message, /\n/, "one line");
    return error.message;
  }
  assert.fail(`accepted: ${args.join(" ")}`);
}

Deno.test("the k2s manifest line parses with k2s's meaning", () => {
  const r = request([
    "-label",
    "app=cp-albums-win",
    "-namespace",
    "k2s",
    "-label-timeout",
    "120s",
    "-wait-tree",
    "-no-inject",
    "--",
    "C:\\apps\\albums.exe",
  ]);
  assert.deepEqual(r.anchor, {
    kind: "selector",
    selector: "app=cp-albums-win",
    namespace: "k2s",
    pick: "exactly-one",
    timeoutMs: 120_000,
  });
  assert.deepEqual(r.command, ["C:\\apps\\albums.exe"]);
  assert.equal(r.waitTree, true);
  assert.deepEqual(r.injectionFlags, ["-no-inject"]);
  assert.equal(r.selfEnv, false);
  assert.equal(r.dryRun, false);
});

Deno.test("k2s defaults: all namespaces, 20s, exactly-one, 30 log files, COMPARTMENT_ID", () => {
  const r = request(["-label", "app=x", "--", "app"]);
  assert.equal(r.anchor.kind === "selector" && r.anchor.namespace, "*");
  assert.equal(r.anchor.kind === "selector" && r.anchor.timeoutMs, DEFAULT_LABEL_TIMEOUT_MS);
  assert.equal(DEFAULT_LABEL_TIMEOUT_MS, 20_000);
  assert.equal(r.anchor.kind === "selector" && r.anchor.pick, "exactly-one");
  assert.deepEqual(r.logFiles, { keep: 30 });
  assert.equal(r.envName, "COMPARTMENT_ID");
  assert.equal(r.logLevel, "info");
  assert.equal(r.kubeconfig, "auto");
  // An explicitly empty namespace is "all namespaces" too, as in k2s.
  const empty = request(["-label", "app=x", "-namespace", "", "--", "app"]);
  assert.equal(empty.anchor.kind === "selector" && empty.anchor.namespace, "*");
});

Deno.test("Go flag syntax: one or two dashes, = or a separate value, booleans", () => {
  const spellings = [
    ["-label", "app=x", "-namespace", "ns", "-label-timeout", "1m30s", "-dry-run"],
    ["-label=app=x", "-namespace=ns", "-label-timeout=1m30s", "-dry-run=true"],
    ["--label", "app=x", "--namespace", "ns", "--label-timeout", "1m30s", "--dry-run"],
    ["--label=app=x", "--namespace=ns", "--label-timeout=1m30s", "--dry-run=1"],
    ["-label", "app=x", "--namespace=ns", "-timeout", "90s", "-dry-run=T"],
  ];
  for (const args of spellings) {
    const r = request([...args, "--", "app", "-label", "y"]);
    assert.deepEqual(r.anchor, {
      kind: "selector",
      selector: "app=x",
      namespace: "ns",
      pick: "exactly-one",
      timeoutMs: 90_000,
    }, args.join(" "));
    assert.equal(r.dryRun, true, args.join(" "));
    assert.deepEqual(r.command, ["app", "-label", "y"], "flags after -- belong to the program");
  }
  assert.equal(request(["-label", "a=b", "-wait-tree=false", "--", "x"]).waitTree, false);
  assert.equal(
    request(["-label", "a=b", "-wait-tree", "-wait-tree=false", "--", "x"]).waitTree,
    false,
    "the last one wins",
  );
  // A value flag takes the next argument even when it starts with a dash, as in Go.
  assert.equal(request(["-label", "a=b", "-env-name", "-X", "--", "x"]).envName, "-X");
});

Deno.test("unknown and malformed flags are one-line usage errors", () => {
  assert.match(
    usageError(["-lable", "app=x", "--", "app"]),
    /flag provided but not defined: -lable/,
  );
  assert.match(usageError(["--bogus=1", "--", "app"]), /not defined: --bogus/);
  assert.match(usageError(["---label", "x", "--", "app"]), /bad flag syntax: ---label/);
  assert.match(usageError(["-=x", "--", "app"]), /bad flag syntax/);
  assert.match(usageError(["-label"]), /flag needs an argument: -label/);
  assert.match(usageError(["-dry-run=maybe", "-label", "a=b", "--", "x"]), /invalid boolean/);
  assert.match(usageError(["-label", "a=b", "app"]), /unexpected argument "app"/);
  assert.match(usageError(["-label", "a=b"]), /no program given/);
  assert.match(usageError(["-label", "a=b", "--"]), /no program given after --/);
  assert.match(usageError(["--", "app"]), /-label SELECTOR, or --netns PATH/);
  assert.match(usageError(["--", "app"], "windows"), /-label SELECTOR, or -compartment ID/);
  assert.match(usageError(["-label", "app in (", "--", "x"]), /-label: bad selector/);
  assert.match(usageError(["-label", "a=b", "-label-timeout", "20", "--", "x"]), /missing unit/);
  assert.match(usageError(["-label", "a=b", "-label-timeout", "0s", "--", "x"]), /must be > 0/);
  assert.match(usageError(["-label", "a=b", "-label-timeout", "-5s", "--", "x"]), /must be > 0/);
  assert.match(usageError(["-label", "a=b", "-log-max-age", "7x", "--", "x"]), /unknown unit/);
  assert.match(usageError(["-label", "a=b", "-logs-keep", "many", "--", "x"]), /not a number/);
  assert.match(usageError(["-label", "a=b", "-pick", "any", "--", "x"]), /exactly-one/);
  assert.match(usageError(["-label", "a=b", "-output", "yaml", "--", "x"]), /text or json/);
  assert.match(usageError(["-label", "a=b", "-v", "loud", "--", "x"]), /not a level/);
  assert.match(usageError(["-namespace", "k2s", "--", "x"]), /-namespace provided without -label/);
});

Deno.test("-compartment: Windows static anchor; on Linux a usage error naming --netns", () => {
  assert.match(usageError(["-compartment", "42", "--", "myapp.exe"]), /Windows-only.*--netns/);
  const w = request(["-compartment", "42", "--", "myapp.exe", "-arg1"], "windows");
  assert.deepEqual(w.anchor, { kind: "compartment", compartment: 42 });
  assert.deepEqual(w.command, ["myapp.exe", "-arg1"]);
  assert.deepEqual(request(["-compartment=0x2a", "--", "a"], "windows").anchor, {
    kind: "compartment",
    compartment: 42,
  });
  assert.match(
    usageError(["-compartment", "4", "-label", "a=b", "--", "x"], "windows"),
    /either -label or -compartment, not both/,
  );
  // k2s reads -compartment 0 (its default) as "not given".
  assert.deepEqual(
    request(["-compartment", "0", "-label", "a=b", "--", "x"], "windows").anchor.kind,
    "selector",
  );
  assert.match(usageError(["-compartment", "x1", "--", "a"], "windows"), /not a compartment id/);
  assert.match(usageError(["--netns", "/var/run/netns/a", "--", "x"], "windows"), /Linux-only/);
  assert.deepEqual(request(["--netns", "/var/run/netns/a", "--", "x"]).anchor, {
    kind: "netns",
    netns: "/var/run/netns/a",
  });
  assert.match(
    usageError(["--netns", "a", "-pick", "first-ready", "--", "x"]),
    /-pick provided without -label/,
  );
  // As in k2s, -label-timeout without -label is ignored rather than refused.
  assert.equal(request(["--netns", "a", "-label-timeout", "5s", "--", "x"]).anchor.kind, "netns");
});

Deno.test("DLL injection flags are accepted and remembered as spelled", () => {
  const r = request([
    "-compartment",
    "42",
    "-dll",
    "C:\\k2s\\cni\\cphook.dll",
    "-export",
    "SetTargetCompartmentId",
    "-legacy-inject",
    "-self-env",
    "-env-name",
    "MY_COMPARTMENT",
    "--",
    "myapp.exe",
  ], "windows");
  assert.deepEqual(r.injectionFlags, ["-dll", "-export", "-legacy-inject"]);
  assert.equal(r.selfEnv, true);
  assert.equal(r.envName, "MY_COMPARTMENT");
});

Deno.test("logging flags: -logs-keep, -log-max-age with days, -log-dir, -v, -verbosity", () => {
  const r = request([
    "-label",
    "a=b",
    "-logs-keep",
    "5",
    "-log-max-age",
    "7d",
    "-log-dir",
    "/tmp/l",
    "-v",
    "debug",
    "--",
    "x",
  ]);
  assert.deepEqual(r.logFiles, { keep: 5, maxAgeMs: 7 * 24 * 3_600_000, dir: "/tmp/l" });
  assert.equal(r.logLevel, "debug");
  assert.equal(request(["-label", "a=b", "-verbosity", "warn", "--", "x"]).logLevel, "warning");
  assert.equal(request(["-label", "a=b", "--log-level", "error", "--", "x"]).logLevel, "error");
  assert.equal(request(["-label", "a=b", "-logs-keep", "-3", "--", "x"]).logFiles.keep, 0);
  assert.equal(request(["-label", "a=b", "-log-format", "json", "--", "x"]).logFormat, "json");
});

Deno.test("-verbosity maps slog levels (names, offsets, numbers) onto ours", () => {
  const cases: Array<[string, string | undefined]> = [
    ["debug", "debug"],
    ["DEBUG", "debug"],
    ["info", "info"],
    ["warn", "warning"],
    ["error", "error"],
    ["-4", "debug"],
    ["0", "info"],
    ["4", "warning"],
    ["8", "error"],
    ["12", "error"],
    ["-8", "trace"],
    ["debug+4", "info"],
    ["error-8", "info"],
    ["warn+2", "warning"],
    ["debug-1", "trace"],
    ["warning", "warning"],
    ["trace", "trace"],
    ["verbose", undefined],
    ["", undefined],
  ];
  for (const [text, level] of cases) assert.equal(verbosityToLevel(text), level, text);
});

Deno.test("-version and -help", () => {
  assert.deepEqual(parseExecArgs(["-version"], "linux"), { kind: "version" });
  assert.deepEqual(parseExecArgs(["--version"], "linux"), { kind: "version" });
  for (const help of ["-h", "-help", "--help", "--h"]) {
    assert.deepEqual(parseExecArgs(["-label", "a=b", help], "linux"), { kind: "help" }, help);
  }
});

Deno.test("exec --help names every k2s flag in its k2s spelling, with k2s defaults", () => {
  const k2sFlags = [
    "-label",
    "-namespace",
    "-label-timeout",
    "-compartment",
    "-self-env",
    "-env-name",
    "-no-inject",
    "-dll",
    "-export",
    "-legacy-inject",
    "-dry-run",
    "-wait-tree",
    "-logs-keep",
    "-log-max-age",
    "-verbosity",
    "-v",
    "-version",
  ];
  for (const flag of k2sFlags) {
    assert.match(EXEC_HELP, new RegExp(`(^|[\\s,])${flag}\\b`, "m"), flag);
  }
  for (const spec of EXEC_FLAGS) {
    if (["timeout", "log-level", "V"].some((a) => spec.aliases?.includes(a))) continue;
    assert.match(EXEC_HELP, new RegExp(`-${spec.name}\\b`), `help mentions -${spec.name}`);
  }
  assert.match(EXEC_HELP, /default: all namespaces/);
  assert.match(EXEC_HELP, /default 20s/);
  assert.match(EXEC_HELP, /default 30/);
  assert.match(EXEC_HELP, /default COMPARTMENT_ID\b/);
});

Deno.test("without a subcommand, k2s-style arguments go to exec", () => {
  const subcommands = ["validate", "run", "plan", "compartments", "doctor", "help"];
  const route = (args: string[]) => execArguments(args, subcommands);
  assert.deepEqual(route(["-label", "a=b", "--", "x"]), ["-label", "a=b", "--", "x"]);
  assert.deepEqual(route(["-version"]), ["-version"]);
  assert.deepEqual(route(["--label", "a=b", "--", "x"]), ["--label", "a=b", "--", "x"]);
  assert.deepEqual(route(["exec", "-label", "a=b", "--", "x"]), ["-label", "a=b", "--", "x"]);
  assert.deepEqual(
    route(["--log-level", "debug", "exec", "--netns", "n", "--", "x"]),
    ["--log-level", "debug", "--netns", "n", "--", "x"],
    "global options before exec stay",
  );
  assert.deepEqual(
    route(["--log-format=json", "-label", "a=b", "--", "x"]),
    ["--log-format=json", "-label", "a=b", "--", "x"],
  );
  // Our own commands and options stay with commander.
  assert.equal(route(["run", "-c", "x.yaml"]), undefined);
  assert.equal(route(["plan", "--", "x"]), undefined, "a subcommand before -- wins");
  assert.equal(route(["--log-level", "debug", "validate"]), undefined);
  assert.equal(route(["--help"]), undefined);
  assert.equal(route(["-h"]), undefined);
  assert.equal(route(["-V"]), undefined);
  assert.equal(route(["--version"]), undefined);
  assert.equal(route([]), undefined);
  assert.equal(route(["--label", "a=b"]), undefined, "double-dash flag without --");
  assert.equal(route(["help", "exec"]), undefined);
});

Deno.test("Go durations: time.ParseDuration syntax, days only where k2s documents them", () => {
  const ok = (text: string, ms: number, days = false) =>
    assert.deepEqual(parseGoDuration(text, { days }), { ok: true, ms }, text);
  ok("1m30s", 90_000);
  ok("500ms", 500);
  ok("1.5h", 5_400_000);
  ok("2h45m0.5s", 9_900_500);
  ok("300us", 0.3);
  ok("1\u00b5s", 0.001);
  ok("1\u03bcs", 0.001);
  ok("1000000ns", 1);
  ok("-2s", -2_000);
  ok("+5s", 5_000);
  ok(".5s", 500);
  ok("1.s", 1_000);
  ok("0", 0);
  ok("7d", 604_800_000, true);
  ok("1d12h", 129_600_000, true);
  for (const bad of ["", "1", "s", ".s", "1x", "7d", "--5s", "1s2", "1 s", "1.2.3s", " 1s"]) {
    const result = parseGoDuration(bad);
    assert.equal(result.ok, false, bad);
    assert.match((result as { message: string }).message, /invalid duration/);
  }
});

Deno.test("Go integers and booleans", () => {
  const ints: Array<[string, number | undefined]> = [
    ["30", 30],
    ["-1", -1],
    ["010", 8],
    ["0x1F", 31],
    ["0b101", 5],
    ["0o17", 15],
    ["1_000", 1000],
    ["0x_ff", 255],
    ["1__0", undefined],
    ["_1", undefined],
    ["08", undefined],
    ["", undefined],
    ["1e3", undefined],
  ];
  for (const [text, value] of ints) assert.equal(parseGoInt(text), value, text);
  for (const t of ["1", "t", "T", "TRUE", "true", "True"]) assert.equal(parseGoBool(t), true);
  for (const f of ["0", "f", "F", "FALSE", "false", "False"]) assert.equal(parseGoBool(f), false);
  for (const x of ["yes", "tRuE", ""]) assert.equal(parseGoBool(x), undefined);
});

Deno.test("parseGoFlags stops at --, and -h/-help are help unless defined", () => {
  const specs = [{ name: "a", kind: "value" as const }, { name: "b", kind: "bool" as const }];
  const parsed = parseGoFlags(["-a", "1", "--b", "--", "-a", "2"], specs);
  assert.equal(parsed.kind, "parsed");
  if (parsed.kind !== "parsed") return;
  assert.equal(parsed.values.get("a"), "1");
  assert.equal(parsed.values.get("b"), true);
  assert.deepEqual(parsed.rest, ["-a", "2"]);
  assert.equal(parsed.spellings.get("b"), "--b");
  const none = parseGoFlags(["-b"], specs);
  assert.ok(none.kind === "parsed" && none.rest === undefined);
  assert.deepEqual(parseGoFlags(["-help"], specs), { kind: "help" });
});
