/**
 * Pure parts of `exec` that differ between Windows and Linux (checked here on any host):
 * the program's environment, the launcher log path and its pruning, the error excerpt, the
 * config exec runs, and the process-tree membership rules of `-wait-tree` on Linux.
 */
import assert from "node:assert/strict";
import {
  ATTACH_ENV,
  domainEnv,
  execConfig,
  formatExecPlan,
  placementDescription,
  workloadName,
} from "../../src/cli/exec.ts";
import { CliError } from "../../src/cli/exit_codes.ts";
import { type ExecRequest, parseExecArgs } from "../../src/cli/k2s_exec_args.ts";
import { nextMembers, parseProcStat, type ProcEntry } from "../../src/platform/linux/tree.ts";
import { waitForEmptyJob } from "../../src/platform/windows/job.ts";
import {
  defaultLauncherLogDir,
  excerptLines,
  isErrorRecord,
  LauncherLogFile,
  launcherLogName,
  logsToPrune,
} from "../../src/supervisor/launcher_log.ts";

function request(args: string[], os: "linux" | "windows"): ExecRequest {
  const invocation = parseExecArgs(args, os);
  assert.equal(invocation.kind, "run");
  return (invocation as { request: ExecRequest }).request;
}

const compartment = { kind: "compartment", id: 7, source: "hcn" } as const;
const netns = { kind: "netns", path: "/var/run/netns/a", inode: 4026532000 } as const;

Deno.test("Windows: COMPARTMENT_ID_ATTACH always, the -env-name variable with -self-env", () => {
  assert.deepEqual(domainEnv(compartment, false, "COMPARTMENT_ID"), { [ATTACH_ENV]: "7" });
  assert.equal(ATTACH_ENV, "COMPARTMENT_ID_ATTACH");
  assert.deepEqual(domainEnv(compartment, true, "COMPARTMENT_ID"), {
    COMPARTMENT_ID_ATTACH: "7",
    COMPARTMENT_ID: "7",
  });
  assert.deepEqual(domainEnv(compartment, true, "MINE"), { COMPARTMENT_ID_ATTACH: "7", MINE: "7" });
});

Deno.test("Linux: no variables, or with -self-env both carrying the netns path", () => {
  assert.deepEqual(domainEnv(netns, false, "COMPARTMENT_ID"), {});
  assert.deepEqual(domainEnv(netns, true, "COMPARTMENT_ID"), {
    COMPARTMENT_ID_ATTACH: "/var/run/netns/a",
    COMPARTMENT_ID: "/var/run/netns/a",
  });
});

Deno.test("the config exec runs: selector with k2s defaults, strategy from -self-env", () => {
  const config = execConfig(request(["-label", "app=x", "--", "C:\\apps\\albums.exe"], "windows"));
  assert.deepEqual(config.anchors.label, {
    kind: "selector",
    selector: "app=x",
    namespace: "*",
    pick: "exactly-one",
    timeoutMs: 20_000,
  });
  const workload = config.workloads["albums.exe"];
  assert.equal(workload.anchor, "label");
  assert.deepEqual(workload.command, ["C:\\apps\\albums.exe"]);
  assert.equal(workload.restart.policy, "never");
  assert.deepEqual(workload.windows, { strategy: "job", compartmentEnv: "COMPARTMENT_ID" });

  const self = execConfig(
    request(["-compartment", "42", "-self-env", "-env-name", "CID", "--", "a"], "windows"),
  );
  assert.deepEqual(self.anchors.compartment, { kind: "compartment", compartment: 42 });
  assert.deepEqual(self.workloads.a.windows, { strategy: "self", compartmentEnv: "CID" });

  const linux = execConfig(
    request(["--netns", "lab", "-label-timeout", "1500us", "--", "b"], "linux"),
  );
  assert.deepEqual(linux.anchors.netns, { kind: "netns", netns: "lab" });
});

Deno.test("the config exec runs: bad values become usage errors naming the k2s flag", () => {
  const req = request(["-label", "app=x", "-namespace", "Not_A_Namespace", "--", "a"], "linux");
  assert.throws(() => execConfig(req), (e: unknown) => {
    assert.ok(e instanceof CliError);
    assert.equal(e.exitCode, 2);
    assert.match(e.message, /^-namespace: /);
    return true;
  });
});

Deno.test("workload names come from the program's file name", () => {
  assert.equal(workloadName(["C:\\k2s\\bin\\albumswin.exe"]), "albumswin.exe");
  assert.equal(workloadName(["/usr/bin/my app"]), "my-app");
  assert.equal(workloadName(["./__"]), "program");
  assert.equal(workloadName(["x".repeat(80)]).length, 63);
});

Deno.test("the placement that replaces DLL injection is named per platform and strategy", () => {
  const job = request(["-compartment", "3", "--", "a"], "windows");
  const self = request(["-compartment", "3", "-self-env", "--", "a"], "windows");
  assert.match(placementDescription(job, "windows"), /job object .*SetJobCompartmentId/);
  assert.match(placementDescription(self, "windows"), /COMPARTMENT_ID=.*strategy self/);
  assert.match(
    placementDescription(request(["--netns", "n", "--", "a"], "linux"), "linux"),
    /setns/,
  );
});

Deno.test("the dry-run plan in text", () => {
  const text = formatExecPlan({
    dryRun: true,
    pod: { namespace: "k2s", name: "albums-0", ip: "10.0.0.5" },
    domain: "compartment 7 (hcn)",
    launch: "job",
    command: ["albums.exe", "--port", "80"],
    env: { COMPARTMENT_ID_ATTACH: "7" },
    waitTree: true,
    logFile: "C:\\var\\log\\cplauncher\\cplauncher-1-2.log",
  });
  assert.match(text, /^dry run: nothing was started$/m);
  assert.match(text, /^pod: +k2s\/albums-0 \(IP 10\.0\.0\.5\)$/m);
  assert.match(text, /^env: +COMPARTMENT_ID_ATTACH=7$/m);
  assert.match(text, /^wait-tree: +yes/m);
  assert.match(text, /^program: +\["albums\.exe","--port","80"\]$/m);
});

Deno.test("launcher log path: %SystemDrive%\\var\\log\\cplauncher on Windows, /var/log on Linux", () => {
  const env = (values: Record<string, string>) => (name: string) => values[name];
  assert.equal(
    defaultLauncherLogDir("windows", env({ SystemDrive: "D:" })),
    "D:\\var\\log\\cplauncher",
  );
  assert.equal(
    defaultLauncherLogDir("windows", env({ SystemDrive: "E:\\" })),
    "E:\\var\\log\\cplauncher",
  );
  assert.equal(defaultLauncherLogDir("windows", env({})), "C:\\var\\log\\cplauncher");
  assert.equal(defaultLauncherLogDir("linux", env({ SystemDrive: "D:" })), "/var/log/cplauncher");
  assert.equal(launcherLogName(4242, 1_700_000_000.9), "cplauncher-4242-1700000000.log");
});

Deno.test("launcher log pruning: keep the newest N besides the current, then drop old ones", () => {
  const day = 86_400_000;
  const now = 100 * day;
  const files = [
    { name: "cplauncher-1-1.log", mtimeMs: now - 5 * day },
    { name: "cplauncher-2-2.log", mtimeMs: now - 1 * day },
    { name: "cplauncher-3-3.log", mtimeMs: now - 3 * day },
    { name: "cplauncher-9-9.log", mtimeMs: now }, // the current file
    { name: "cplauncher-child-stdout-5.log", mtimeMs: now - 10 * day }, // k2s's capture file
    { name: "other.log", mtimeMs: 0 },
    { name: "cplauncher-4-4.txt", mtimeMs: 0 },
  ];
  const current = "cplauncher-9-9.log";
  assert.deepEqual(
    logsToPrune(files, current, { keep: 2 }, now).sort(),
    ["cplauncher-1-1.log", "cplauncher-child-stdout-5.log"],
  );
  assert.deepEqual(logsToPrune(files, current, { keep: 30 }, now), []);
  assert.deepEqual(
    logsToPrune(files, current, { keep: 30, maxAgeMs: 2 * day }, now).sort(),
    ["cplauncher-1-1.log", "cplauncher-3-3.log", "cplauncher-child-stdout-5.log"],
  );
  assert.equal(logsToPrune(files, current, { keep: 0 }, now).length, 4);
  assert.equal(logsToPrune(files, current, { keep: -1 }, now).length, 4, "negative keeps none");
});

Deno.test("launcher log file: written, pruned on disk, error excerpt", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cplauncher-log-" });
  try {
    for (let i = 0; i < 4; i++) {
      const path = `${dir}/cplauncher-${i}-${i}.log`;
      await Deno.writeTextFile(path, "old\n");
      await Deno.utime(path, 1_000 + i, 1_000 + i);
    }
    const file = LauncherLogFile.open(dir, 77, 1_700_000_000_000);
    assert.equal(file.path, `${dir}/cplauncher-77-1700000000.log`);
    const lines = [
      "12:00:00.000 INFO  exec: starting",
      "12:00:00.001 ERROR supervisor: workload a: no usable pod after 20s",
      '{"time":"t","level":"error","logger":"cplauncher.exec","message":"boom"}',
      "12:00:00.002 INFO  exec: done",
    ];
    for (const line of lines) file.write(new TextEncoder().encode(`${line}\n`));
    const pruned = file.prune({ keep: 1 });
    assert.deepEqual(pruned.removed.map((p) => p.slice(dir.length + 1)).sort(), [
      "cplauncher-0-0.log",
      "cplauncher-1-1.log",
      "cplauncher-2-2.log",
    ]);
    assert.deepEqual(pruned.failed, []);
    assert.deepEqual(file.excerpt(20), [lines[1], lines[2]]);
    assert.deepEqual(file.excerpt(1), [lines[2]]);
    file.close();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["cplauncher-3-3.log", "cplauncher-77-1700000000.log"]);
    assert.equal(await Deno.readTextFile(file.path), `${lines.join("\n")}\n`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("error records are recognised in text and JSON log lines", () => {
  assert.ok(isErrorRecord("01:02:03.004 ERROR kube: x"));
  assert.ok(isErrorRecord("01:02:03.004 FATAL kube: x"));
  assert.ok(isErrorRecord('{"level":"error","message":"x"}'));
  assert.ok(!isErrorRecord("01:02:03.004 INFO  kube: ERROR in a message"));
  assert.deepEqual(excerptLines("a\n01:02:03.004 ERROR x: y\n\n", 5), ["01:02:03.004 ERROR x: y"]);
});

const SELF = 100;
function proc(pid: number, ppid: number, pgrp: number, state = "S", start = pid * 10): ProcEntry {
  return { pid, ppid, pgrp, state, startTicks: start };
}

Deno.test("wait-tree membership: group, children of members, adopted orphans", () => {
  const table = [
    proc(SELF, 1, SELF),
    proc(200, SELF, 200), // the workload (process group leader)
    proc(201, 200, 200), // its child, same group
    proc(202, 201, 202), // grandchild in its own session: found through its parent
    proc(203, 202, 203), // great-grandchild
    proc(300, SELF, 300), // an adopted orphan in another session
    proc(400, SELF, SELF), // the launcher's own other child (a guard)
    proc(500, 1, 500), // unrelated
  ];
  const step = nextMembers({
    table,
    members: new Map([[200, 2000]]),
    pgid: 200,
    self: SELF,
    spawned: new Set([200, 400]),
    adoptOrphans: true,
  });
  assert.deepEqual([...step.alive.keys()].sort(), [200, 201, 202, 203, 300]);
  const shared = nextMembers({
    table,
    members: new Map([[200, 2000]]),
    pgid: 200,
    self: SELF,
    spawned: new Set([200, 400]),
    adoptOrphans: false,
  });
  assert.deepEqual([...shared.alive.keys()].sort(), [200, 201, 202, 203], "no orphan adoption");
});

Deno.test("wait-tree membership: exits, zombies to reap, reused pids", () => {
  const members = new Map([[200, 2000], [201, 2010], [202, 2020], [203, 2030]]);
  const table = [
    proc(200, SELF, 200, "Z"), // the workload exited (Deno reaps it)
    proc(201, SELF, 200, "Z"), // an adopted member exited: we reap it
    proc(202, 1, 999, "S", 9999), // pid 202 now names another process
    // 203 is gone
    proc(204, SELF, 200, "Z"), // a group member we never saw, already exited
  ];
  const step = nextMembers({
    table,
    members,
    pgid: 200,
    self: SELF,
    spawned: new Set([200]),
    adoptOrphans: false,
  });
  assert.deepEqual([...step.alive.keys()], []);
  assert.deepEqual(step.exited.map((e) => e.pid).sort(), [200, 201, 204]);
  assert.deepEqual(step.joined, []);
});

Deno.test("/proc/PID/stat parsing copes with spaces and parentheses in comm", () => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  fields[0] = "S"; // state
  fields[1] = "41"; // ppid
  fields[2] = "42"; // pgrp
  fields[19] = "123456"; // starttime
  const entry = parseProcStat(`77 (a (b) c) ${fields.join(" ")}\n`);
  assert.deepEqual(entry, { pid: 77, state: "S", ppid: 41, pgrp: 42, startTicks: 123456 });
  assert.equal(parseProcStat("garbage"), null);
  const self = parseProcStat(Deno.readTextFileSync("/proc/self/stat"));
  assert.equal(self?.pid, Deno.pid);
});

Deno.test("Windows wait-tree: waiting ends when the job's process list is empty", async () => {
  const lists = [[11, 12], [12], [12], []];
  let asked = 0;
  const heard: number[][] = [];
  await waitForEmptyJob(() => lists[Math.min(asked++, lists.length - 1)], (pids) => {
    heard.push([...pids]);
  }, 1);
  assert.equal(asked, 4, "asked until empty");
  assert.deepEqual(heard, [[11, 12]], "told once, with what remained");
  let failures = 0;
  await waitForEmptyJob(
    () => {
      failures++;
      throw new Error("the job is gone");
    },
    () => assert.fail("nothing remained"),
    1,
  );
  assert.equal(failures, 1, "a failing query ends the wait");
  let calls = 0;
  await waitForEmptyJob(() => (calls++, []), () => assert.fail("nothing remained"), 1);
  assert.equal(calls, 1);
});
