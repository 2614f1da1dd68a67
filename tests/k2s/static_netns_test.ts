/**
 * The k2s launcher's command line against a real network namespace standing in for a
 * Windows compartment (`--netns`, no apiserver): the README's `-compartment` examples, flag
 * syntax, `-dry-run`, `-self-env`, `-wait-tree`, the launcher log file, usage errors.
 */
import assert from "node:assert/strict";
import { createTestNetwork, type TestHost, type TestNetwork } from "../support/netns.ts";
import { SHARED_RESOURCES, stopLauncher } from "../support/albums_scenario.ts";
import {
  alive,
  eventually,
  exists,
  myappReport,
  netnsLink,
  runLauncher,
  show,
  spawnLauncher,
  type Workbench,
  workbench,
} from "./_support.ts";

interface Fixture {
  readonly network: TestNetwork;
  readonly host: TestHost;
  readonly bench: Workbench;
}

let fixture: Promise<Fixture> | undefined;
function setUp(): Promise<Fixture> {
  fixture ??= (async () => {
    const network = await createTestNetwork("cplk2n");
    const host = await network.addHost("app", "");
    const bench = await workbench();
    globalThis.addEventListener("unload", () => network.removeSync());
    return { network, host, bench };
  })();
  return fixture;
}

const T = SHARED_RESOURCES;

/** Runs the launcher with `args` (a netns path substituted for `NETNS`) and myapp on PATH. */
async function launch(f: Fixture, args: string[], env: Record<string, string> = {}) {
  const withPath = args.map((a) => a === "NETNS" ? f.host.path : a);
  return await runLauncher(withPath, { ...f.bench.env, ...env });
}

/** The k2s README's examples that name a compartment, and their Linux translation. */
const COMPARTMENT_EXAMPLES: Array<{ readonly name: string; readonly args: string[] }> = [
  { name: "automatic DLL discovery", args: ["-compartment", "42", "--", "myapp.exe", "-arg1"] },
  {
    name: "explicit DLL path",
    args: ["-compartment", "42", "-dll", "C:\\k2s\\cni\\cphook.dll", "--", "myapp.exe"],
  },
  { name: "self-managed mode", args: ["-compartment", "42", "-self-env", "--", "myapp.exe"] },
  {
    name: "pure environment mode",
    args: ["-compartment", "42", "-self-env", "-no-inject", "--", "myapp.exe"],
  },
  {
    name: "dry run",
    args: ["-compartment", "42", "-dry-run", "-dll", "C:\\k2s\\cni\\cphook.dll", "--", "myapp.exe"],
  },
  { name: "legacy injection", args: ["-legacy-inject", "-compartment", "42", "--", "myapp.exe"] },
];

function onLinux(args: string[]): string[] {
  const i = args.indexOf("-compartment");
  return [...args.slice(0, i), "--netns", "NETNS", ...args.slice(i + 2)];
}

Deno.test({
  name: "k2s README -compartment examples on Linux: one usage line naming --netns, exit 2",
  ...T,
  fn: async () => {
    const f = await setUp();
    for (const example of COMPARTMENT_EXAMPLES) {
      const marker = f.bench.marker(`compartment-${example.name.replaceAll(" ", "-")}`);
      const run = await launch(f, example.args, { MYAPP_MARKER: marker });
      assert.equal(run.code, 2, `${example.name}: ${show(run)}`);
      assert.equal(run.stdout, "");
      assert.match(run.stderr, /^cplauncher: -compartment is Windows-only.*--netns PATH\n$/);
      assert.equal(exists(marker), false, "nothing started");
    }
  },
});

Deno.test({
  name: "k2s README (Linux): -compartment 42 -- myapp.exe -arg1 → --netns, runs inside",
  ...T,
  fn: async () => {
    const f = await setUp();
    const run = await launch(f, [
      ...onLinux(COMPARTMENT_EXAMPLES[0].args),
      "-log-dir",
      f.bench.logs,
    ]);
    // -log-dir after -- would belong to myapp; the translation keeps flags first.
    assert.equal(run.code, 0, show(run));
    const report = myappReport(run.stdout);
    assert.equal(report.netns, netnsLink(f.host.path));
    assert.equal(report.args, "-arg1 -log-dir " + f.bench.logs);
  },
});

Deno.test({
  name: "k2s README (Linux): explicit -dll is accepted, logged as ignored, nothing injected",
  ...T,
  fn: async () => {
    const f = await setUp();
    const run = await launch(f, [
      "-log-dir",
      f.bench.logs,
      ...onLinux(COMPARTMENT_EXAMPLES[1].args),
    ]);
    assert.equal(run.code, 0, show(run));
    assert.equal(myappReport(run.stdout).netns, netnsLink(f.host.path));
    const notes = run.stderr.match(/no DLL is injected.*$/gm) ?? [];
    assert.equal(notes.length, 1, "logged once");
    assert.match(notes[0], /\(-dll accepted for compatibility and ignored\).*network namespace/);
  },
});

Deno.test({
  name: "k2s README (Linux): -self-env gives COMPARTMENT_ID and COMPARTMENT_ID_ATTACH = netns",
  ...T,
  fn: async () => {
    const f = await setUp();
    const run = await launch(f, [
      "-log-dir",
      f.bench.logs,
      ...onLinux(COMPARTMENT_EXAMPLES[2].args),
    ]);
    assert.equal(run.code, 0, show(run));
    const report = myappReport(run.stdout);
    assert.equal(report.netns, netnsLink(f.host.path));
    assert.equal(report.compartmentId, f.host.path);
    assert.equal(report.attach, f.host.path);
  },
});

Deno.test({
  name: "k2s README (Linux): -self-env -no-inject, and -env-name renames the variable",
  ...T,
  fn: async () => {
    const f = await setUp();
    const run = await launch(f, [
      "-log-dir",
      f.bench.logs,
      ...onLinux(COMPARTMENT_EXAMPLES[3].args),
    ]);
    assert.equal(run.code, 0, show(run));
    assert.equal(myappReport(run.stdout).compartmentId, f.host.path);
    assert.match(run.stderr, /\(-no-inject accepted for compatibility and ignored\)/);
    const renamed = await launch(f, [
      "-log-dir",
      f.bench.logs,
      "--netns",
      "NETNS",
      "-self-env",
      "-env-name",
      "MY_NET",
      "--",
      "sh",
      "-c",
      'echo "MY_NET=$MY_NET ATTACH=$COMPARTMENT_ID_ATTACH ID=${COMPARTMENT_ID-unset}"',
    ]);
    assert.equal(renamed.code, 0, show(renamed));
    assert.equal(
      renamed.stdout.trim(),
      `MY_NET=${f.host.path} ATTACH=${f.host.path} ID=unset`,
    );
    // Without -self-env a Linux program gets neither variable.
    const plain = await launch(f, [
      "-log-dir",
      f.bench.logs,
      "--netns",
      "NETNS",
      "--",
      "myapp.exe",
    ]);
    assert.equal(myappReport(plain.stdout).attach, "unset", show(plain));
    assert.equal(myappReport(plain.stdout).compartmentId, "unset");
  },
});

Deno.test({
  name: "k2s README (Linux): -dry-run -dll resolves, prints the plan, starts nothing",
  ...T,
  fn: async () => {
    const f = await setUp();
    const marker = f.bench.marker("dry-run-netns");
    const args = ["-log-dir", f.bench.logs, ...onLinux(COMPARTMENT_EXAMPLES[4].args)];
    const run = await launch(f, args, { MYAPP_MARKER: marker });
    assert.equal(run.code, 0, show(run));
    assert.equal(exists(marker), false, "myapp.exe was not started");
    assert.match(run.stdout, /^dry run: nothing was started$/m);
    assert.match(run.stdout, new RegExp(`^domain: +netns ${f.host.path} \\(inode \\d+\\)$`, "m"));
    assert.match(run.stdout, /^program: +\["myapp\.exe"\]$/m);
    const json = await launch(f, ["--output", "json", ...args], { MYAPP_MARKER: marker });
    assert.equal(json.code, 0, show(json));
    const plan = JSON.parse(json.stdout);
    assert.equal(plan.dryRun, true);
    assert.equal(plan.domain, `netns ${f.host.path} (inode ${Deno.statSync(f.host.path).ino})`);
    assert.deepEqual(plan.command, ["myapp.exe"]);
    assert.deepEqual(plan.env, {});
    assert.equal(exists(marker), false);
  },
});

Deno.test({
  name: "k2s README (Linux): -legacy-inject is accepted and changes nothing",
  ...T,
  fn: async () => {
    const f = await setUp();
    const run = await launch(
      f,
      ["-log-dir", f.bench.logs, ...onLinux(COMPARTMENT_EXAMPLES[5].args)],
      { MYAPP_EXIT: "9" },
    );
    assert.equal(run.code, 9, show(run));
    assert.equal(myappReport(run.stdout).netns, netnsLink(f.host.path));
  },
});

Deno.test({
  name: "Go flag spellings all run the same; the program's own flags after -- are left alone",
  ...T,
  fn: async () => {
    const f = await setUp();
    const spellings = [
      ["-netns", "NETNS", "-log-dir", f.bench.logs, "-wait-tree"],
      ["--netns", "NETNS", "--log-dir", f.bench.logs, "--wait-tree"],
      ["-netns=NETNS", "-log-dir=" + f.bench.logs, "-wait-tree=true"],
      ["--netns=NETNS", "--log-dir=" + f.bench.logs, "--wait-tree=1", "-dry-run=false"],
      ["exec", "-netns", "NETNS", "-log-dir", f.bench.logs, "-v=warn"],
    ];
    for (const flags of spellings) {
      const args = flags.map((a) => a.replace("NETNS", f.host.path));
      const run = await launch(f, [...args, "--", "myapp.exe", "-netns", "x", "--", "y"], {
        MYAPP_EXIT: "3",
      });
      assert.equal(run.code, 3, `${flags.join(" ")}\n${show(run)}`);
      const report = myappReport(run.stdout);
      assert.equal(report.netns, netnsLink(f.host.path), flags.join(" "));
      assert.equal(report.args, "-netns x -- y");
    }
  },
});

Deno.test({
  name: "unknown or malformed flags: exit 2, one line, nothing started",
  ...T,
  fn: async () => {
    const f = await setUp();
    const marker = f.bench.marker("unknown");
    const cases: Array<[string[], RegExp]> = [
      [["-netns", "NETNS", "-bogus", "--", "myapp.exe"], /flag provided but not defined: -bogus/],
      [["--netns", "NETNS", "--lable=x", "--", "myapp.exe"], /not defined: --lable/],
      [["exec", "-netns", "NETNS", "-inject", "--", "myapp.exe"], /not defined: -inject/],
      [["-netns", "NETNS", "-wait-tree=yes", "--", "myapp.exe"], /invalid boolean value "yes"/],
      [["-netns", "NETNS", "myapp.exe"], /unexpected argument "myapp\.exe"/],
      [["-label", "a=b", "-label-timeout", "soon", "--", "myapp.exe"], /invalid duration "soon"/],
    ];
    for (const [args, message] of cases) {
      const run = await launch(f, args, { MYAPP_MARKER: marker });
      assert.equal(run.code, 2, show(run));
      assert.equal(run.stdout, "");
      const lines = run.stderr.split("\n").filter((l) => l !== "");
      assert.equal(lines.length, 1, show(run));
      assert.match(lines[0], /^cplauncher: /);
      assert.match(lines[0], message);
      assert.equal(exists(marker), false);
    }
  },
});

Deno.test({
  name: "-version and -h without a subcommand; exec --help shows the k2s spellings",
  ...T,
  fn: async () => {
    const f = await setUp();
    const version = await launch(f, ["-version"]);
    assert.equal(version.code, 0, show(version));
    assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    const help = await launch(f, ["exec", "--help"]);
    assert.equal(help.code, 0, show(help));
    for (const flag of ["-label SELECTOR", "-namespace NS", "-label-timeout DUR", "-wait-tree"]) {
      assert.ok(help.stdout.includes(flag), flag);
    }
    const k2sHelp = await launch(f, ["-help"]);
    assert.equal(k2sHelp.stdout, help.stdout);
    const ours = await launch(f, ["--help"]);
    assert.match(ours.stdout, /Commands:/, "our own --help is unchanged");
    assert.match(ours.stdout, /exec/);
  },
});

Deno.test({
  name: "-wait-tree waits for a grandchild that outlives the program, then exits with its code",
  ...T,
  fn: async () => {
    const f = await setUp();
    const marker = f.bench.marker("grandchild");
    const script = `(sleep 3; touch "${marker}") >/dev/null 2>&1 & exit 4`;
    const waited = await launch(f, [
      "-log-dir",
      f.bench.logs,
      "--netns",
      "NETNS",
      "-wait-tree",
      "--",
      "sh",
      "-c",
      script,
    ]);
    assert.equal(waited.code, 4, show(waited));
    assert.equal(exists(marker), true, "the launcher returned only after the grandchild ended");
    assert.match(waited.stderr, /exited with code 4; waiting for \d+ remaining process\(es\)/);

    await Deno.remove(marker);
    const quick = await launch(f, [
      "-log-dir",
      f.bench.logs,
      "--netns",
      "NETNS",
      "--",
      "sh",
      "-c",
      script,
    ]);
    assert.equal(quick.code, 4, show(quick));
    assert.equal(exists(marker), false, "without -wait-tree the launcher does not wait");
    assert.ok(await eventually(() => exists(marker), 10_000), "the grandchild ran on its own");
  },
});

Deno.test({
  name: "-wait-tree: a killed launcher takes the whole tree with it, escaped sessions too",
  ...T,
  fn: async () => {
    const f = await setUp();
    const pids = f.bench.marker("tree-pids");
    // A child in the program's group, one in its own session whose parent exits at once
    // (the classic daemon double fork), then the program itself exits.
    const script = `sleep 300 >/dev/null 2>&1 & echo $! >> "${pids}"
(setsid sh -c 'echo $$ >> "${pids}"; exec sleep 301' >/dev/null 2>&1 &)
sleep 0.5; exit 0`;
    const launcher = spawnLauncher([
      "-log-dir",
      f.bench.logs,
      "-netns",
      f.host.path,
      "-wait-tree",
      "--",
      "sh",
      "-c",
      script,
    ], f.bench.env);
    try {
      await launcher.waitFor(/exited with code 0; waiting for \d+ remaining process\(es\)/, 30_000);
      const tree = (await Deno.readTextFile(pids)).trim().split("\n").map(Number);
      assert.equal(tree.length, 2);
      assert.ok(tree.every(alive), "the tree outlived the program");
      launcher.process.kill("SIGKILL");
      await launcher.status;
      assert.ok(
        await eventually(() => tree.every((pid) => !alive(pid)), 10_000),
        `still alive after the launcher was killed: ${tree.filter(alive).join(", ")}`,
      );
    } finally {
      await stopLauncher(launcher);
    }
  },
});

Deno.test({
  name: "-wait-tree: SIGTERM to the launcher stops the whole tree and it exits",
  ...T,
  fn: async () => {
    const f = await setUp();
    const pids = f.bench.marker("term-pids");
    const script = `sleep 300 >/dev/null 2>&1 & echo $! >> "${pids}"; exec sleep 302`;
    const launcher = spawnLauncher([
      "-log-dir",
      f.bench.logs,
      "-netns",
      f.host.path,
      "-wait-tree",
      "--",
      "sh",
      "-c",
      script,
    ], f.bench.env);
    try {
      await launcher.waitFor(/started: pid/, 30_000);
      assert.ok(await eventually(() => exists(pids)));
      const [child] = (await Deno.readTextFile(pids)).trim().split("\n").map(Number);
      launcher.process.kill("SIGTERM");
      const status = await launcher.status;
      assert.equal(status.code, 0, launcher.stderr());
      assert.equal(alive(child), false, "the program's child was stopped too");
    } finally {
      await stopLauncher(launcher);
    }
  },
});

Deno.test({
  name: "launcher log file per run, pruned to -logs-keep; a fatal error shows its excerpt",
  ...T,
  fn: async () => {
    const f = await setUp();
    const logs = `${f.bench.dir}/prune-logs`;
    await Deno.mkdir(logs);
    for (let i = 0; i < 5; i++) {
      await Deno.writeTextFile(`${logs}/cplauncher-${i}-${i}.log`, "old\n");
      await Deno.utime(`${logs}/cplauncher-${i}-${i}.log`, 1_000 + i, 1_000 + i);
    }
    const run = await launch(f, [
      "-log-dir",
      logs,
      "-logs-keep",
      "2",
      "-netns",
      "NETNS",
      "--",
      "true",
    ]);
    assert.equal(run.code, 0, show(run));
    const names = [...Deno.readDirSync(logs)].map((e) => e.name).sort();
    const own = new RegExp(`^cplauncher-${run.pid}-\\d+\\.log$`);
    assert.equal(names.length, 3, names.join(", "));
    assert.deepEqual(names.filter((n) => !own.test(n)), [
      "cplauncher-3-3.log",
      "cplauncher-4-4.log",
    ]);
    const text = await Deno.readTextFile(`${logs}/${names.find((n) => own.test(n))}`);
    assert.match(text, /INFO {2}exec: exec .*netns/);
    assert.match(text, /started workload true as pid \d+/);

    const missing = await launch(f, [
      "-log-dir",
      logs,
      "-netns",
      "/var/run/netns/nope",
      "--",
      "true",
    ]);
    assert.equal(missing.code, 3, show(missing));
    assert.match(
      missing.stderr,
      /---- recent log lines \(.*cplauncher-\d+-\d+\.log\) ----\n.*ERROR .*\/var\/run\/netns\/nope does not exist\n---- end log excerpt ----\n$/,
    );
  },
});

Deno.test({
  name: "k2s static netns tests: clean up",
  ...T,
  fn: async () => {
    if (!fixture) return;
    const f = await fixture;
    await f.network.remove();
    await f.bench.remove();
  },
});
