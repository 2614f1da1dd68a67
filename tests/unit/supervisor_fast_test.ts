/**
 * The supervisor's decisions end to end, through its seams: a scripted platform backend and
 * an in-memory pod source. Restart policy and backoff, anchor moves, stop with grace and
 * kill, failure stages and the CLI's exit codes, output relay — in milliseconds, without
 * root, processes or an apiserver.
 */
import assert from "node:assert/strict";
import { exitCodeFor } from "../../src/cli/exit_codes.ts";
import { type Config, parseConfig } from "../../src/config/mod.ts";
import type { LoadedKubeConfig } from "../../src/kube/mod.ts";
import {
  createOutputWriter,
  type OutputLine,
  Supervisor,
  type SupervisorEvents,
  type SupervisorOptions,
} from "../../src/supervisor/mod.ts";
import { FakePlatform, type ScriptedRun } from "../support/fake_platform.ts";
import { fakePod, FakePodSource } from "../support/fake_pods.ts";
import { until } from "../support/wait.ts";

function config(workload: Record<string, unknown>, anchor: Record<string, unknown> = {
  netns: "/fake/static",
}): Config {
  const result = parseConfig(JSON.stringify({
    apiVersion: "cplauncher/v1",
    anchors: { a: anchor },
    workloads: {
      w: {
        anchor: "a",
        command: ["/bin/app"],
        restart: { policy: "on-failure", backoff: { initial: "5ms", max: "20ms" } },
        stopTimeout: "50ms",
        ...workload,
      },
    },
  }));
  if (!result.ok) throw new Error(result.issues.map((i) => i.message).join("; "));
  return result.config;
}

/** Never loaded: a scripted pod source stands in for the apiserver. */
const fakeKube = (): Promise<LoadedKubeConfig> =>
  Promise.resolve({
    server: "https://fake-apiserver",
    source: { kind: "file", path: "/fake/kubeconfig" },
  } as unknown as LoadedKubeConfig);

function supervise(
  cfg: Config,
  platform: FakePlatform,
  extra: Partial<SupervisorOptions> = {},
) {
  const supervisor = new Supervisor({ config: cfg, platform, kube: fakeKube, ...extra });
  const events: { type: keyof SupervisorEvents; event: unknown }[] = [];
  for (
    const type of [
      "resolved",
      "started",
      "ready",
      "exited",
      "restarting",
      "anchorChanged",
      "failed",
    ] as const
  ) {
    supervisor.on(type, (event) => events.push({ type, event }));
  }
  const of = <K extends keyof SupervisorEvents>(type: K) =>
    events.filter((e) => e.type === type).map((e) => e.event as SupervisorEvents[K]);
  return { supervisor, events, of };
}

function script(runs: ScriptedRun[]) {
  return (n: number) => runs[Math.min(n, runs.length - 1)];
}

Deno.test("fast: on-failure restarts a crashing workload with doubling delays until it exits 0", async () => {
  const platform = new FakePlatform(script([
    { exitCode: 1 },
    { exitCode: 1 },
    { exitCode: 1 },
    { exitCode: 0 },
  ]));
  const { supervisor, of } = supervise(config({}), platform);
  const result = await supervisor.start();
  assert.equal(platform.launches.length, 4);
  assert.deepEqual(of("restarting").map((e) => e.delayMs), [5, 10, 20]);
  assert.equal(result.workloads[0].state, "done");
  assert.equal(result.workloads[0].restarts, 3);
  assert.equal(result.workloads[0].lastExitCode, 0);
  assert.equal(exitCodeFor(result), 0);
});

Deno.test("fast: policy never passes a single workload's exit code through", async () => {
  const platform = new FakePlatform(script([{ exitCode: 7 }]));
  const { supervisor, of } = supervise(config({ restart: { policy: "never" } }), platform);
  const result = await supervisor.start();
  assert.equal(platform.launches.length, 1);
  assert.equal(of("restarting").length, 0);
  assert.equal(exitCodeFor(result), 7);
});

Deno.test("fast: policy always restarts clean exits too; stop ends it with exit 0", async () => {
  const platform = new FakePlatform(script([{ exitCode: 0 }]));
  const { supervisor } = supervise(
    config({ restart: { policy: "always", backoff: { initial: "5ms", max: "5ms" } } }),
    platform,
  );
  const running = supervisor.start();
  await until(() => platform.launches.length >= 3, "three starts");
  const result = await supervisor.stop();
  assert.equal(await running, result);
  assert.equal(result.stopped, true);
  assert.equal(exitCodeFor(result), 0);
});

Deno.test("fast: stop sends TERM, and kills after stopTimeout a child that ignores it", async () => {
  const platform = new FakePlatform(script([{ ignoreTerminate: true }]));
  const { supervisor, of } = supervise(config({ stopTimeout: "30ms" }), platform);
  supervisor.start();
  await until(() => platform.launches.length === 1, "the start");
  const before = performance.now();
  const result = await supervisor.stop();
  const waited = performance.now() - before;
  assert.deepEqual(platform.launches[0].signals, ["TERM", "KILL"]);
  assert.ok(waited >= 25, `the grace period was given (${waited.toFixed(0)} ms)`);
  assert.equal(of("exited")[0].status.signal, "SIGKILL");
  assert.equal(of("exited")[0].reason, "launcher stopping");
  assert.equal(exitCodeFor(result), 0);
});

Deno.test("fast: a child that honours TERM is not killed", async () => {
  const platform = new FakePlatform(script([{}]));
  const { supervisor } = supervise(config({ stopTimeout: "5s" }), platform);
  supervisor.start();
  await until(() => platform.launches.length === 1, "the start");
  await supervisor.stop();
  assert.deepEqual(platform.launches[0].signals, ["TERM"]);
});

Deno.test("fast: an anchor that cannot be resolved fails the resolve stage (exit 3), nothing starts", async () => {
  const platform = new FakePlatform(script([{}]), { staticError: "no such netns" });
  const { supervisor, of } = supervise(config({}), platform);
  const result = await supervisor.start();
  assert.equal(platform.launches.length, 0);
  assert.equal(result.workloads[0].failedStage, "resolve");
  assert.equal(of("failed")[0].stage, "resolve");
  assert.match(of("failed")[0].message, /no such netns/);
  assert.equal(exitCodeFor(result), 3);
});

Deno.test("fast: a first launch that fails is the launch stage (exit 4), not retried", async () => {
  const platform = new FakePlatform(script([{ launchError: "No such file or directory" }]));
  const { supervisor } = supervise(config({ restart: { policy: "always" } }), platform);
  const result = await supervisor.start();
  assert.equal(platform.launches.length, 1);
  assert.equal(result.workloads[0].failedStage, "launch");
  assert.match(result.workloads[0].error ?? "", /cannot start "\/bin\/app": No such file/);
  assert.equal(exitCodeFor(result), 4);
});

/** Two workloads on one static anchor: `w` as given, `v` running until it is stopped. */
function twoWorkloads(w: Record<string, unknown>): Config {
  const result = parseConfig(JSON.stringify({
    apiVersion: "cplauncher/v1",
    anchors: { a: { netns: "/fake/static" } },
    workloads: {
      w: { anchor: "a", command: ["/bin/w"], stopTimeout: "50ms", ...w },
      v: { anchor: "a", command: ["/bin/v"], stopTimeout: "50ms" },
    },
  }));
  if (!result.ok) throw new Error(result.issues.map((i) => i.message).join("; "));
  return result.config;
}

Deno.test("fast: a stranded launcher stops every workload and exits 4, even after a good start", async () => {
  let launchesOfW = 0;
  const platform = new FakePlatform((_n, spec) => {
    if (spec.name !== "w") return {};
    launchesOfW++;
    return launchesOfW === 1
      ? { exitCode: 1, exitAfterMs: 20 }
      : { stranded: { in: "launch", message: "could not return the launcher's thread" } };
  });
  const { supervisor, of } = supervise(
    twoWorkloads({ restart: { policy: "always", backoff: { initial: "5ms", max: "5ms" } } }),
    platform,
  );
  const result = await supervisor.start();
  const w = result.workloads.find((x) => x.name === "w")!;
  const v = result.workloads.find((x) => x.name === "v")!;
  assert.equal(w.failedStage, "stranded");
  assert.match(w.error ?? "", /could not return the launcher's thread/);
  assert.deepEqual(of("failed").map((e) => [e.workload, e.stage]), [["w", "stranded"]]);
  const vRun = platform.launches.find((l) => l.spec.name === "v")!;
  assert.deepEqual(vRun.signals, ["TERM"], "the healthy workload was stopped");
  assert.equal(v.failedStage, undefined);
  assert.equal(result.stopped, true);
  assert.equal(exitCodeFor(result), 4);
});

Deno.test("fast: a stranded listening check stops the running child and the launcher (exit 4)", async () => {
  const platform = new FakePlatform(script([
    { stranded: { in: "listening", message: "thread left in compartment 7" } },
  ]));
  const { supervisor } = supervise(
    config({ port: 8080, restart: { policy: "always" } }),
    platform,
  );
  const result = await supervisor.start();
  assert.equal(platform.launches.length, 1, "never started again");
  assert.deepEqual(platform.launches[0].signals, ["TERM"]);
  assert.equal(result.workloads[0].failedStage, "stranded");
  assert.match(result.workloads[0].error ?? "", /thread left in compartment 7/);
  assert.equal(exitCodeFor(result), 4);
});

Deno.test("fast: stranded while opening a static anchor is exit 4, not a resolve failure", async () => {
  const platform = new FakePlatform(script([{}]), { staticStranded: "thread left in 3" });
  const { supervisor } = supervise(config({}), platform);
  const result = await supervisor.start();
  assert.equal(platform.launches.length, 0);
  assert.equal(result.workloads[0].failedStage, "stranded");
  assert.equal(exitCodeFor(result), 4);
});

Deno.test("fast: a launch failure after a successful start backs off without counting a restart", async () => {
  const platform = new FakePlatform(script([
    { exitCode: 1 },
    { launchError: "text file busy" },
    { exitCode: 0 },
  ]));
  const { supervisor, of } = supervise(config({}), platform);
  const result = await supervisor.start();
  assert.equal(platform.launches.length, 3);
  assert.deepEqual(of("restarting").map((e) => e.delayMs), [5, 10]);
  assert.match(of("restarting")[1].reason, /text file busy/);
  assert.equal(result.workloads[0].restarts, 1);
  assert.equal(exitCodeFor(result), 0);
});

Deno.test("fast: a digest mismatch refuses to start (exit 4) and nothing runs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const program = `${dir}/app`;
    await Deno.writeTextFile(program, "#!/bin/sh\n");
    const platform = new FakePlatform(script([{}]));
    const { supervisor } = supervise(
      config({ command: [program], sha256: "0".repeat(64) }),
      platform,
    );
    const result = await supervisor.start();
    assert.equal(platform.launches.length, 0);
    assert.match(result.workloads[0].error ?? "", /refusing to start .*sha256 is [0-9a-f]{64}/);
    assert.equal(exitCodeFor(result), 4);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fast: several workloads give 1 when one failed, 0 when all succeeded", () => {
  const status = (lastExitCode: number) => ({
    name: "w",
    anchor: "a",
    state: "done" as const,
    ready: false,
    restarts: 0,
    lastExitCode,
  });
  assert.equal(exitCodeFor({ stopped: false, workloads: [status(0), status(2)] }), 1);
  assert.equal(exitCodeFor({ stopped: false, workloads: [status(0), status(0)] }), 0);
  assert.equal(
    exitCodeFor({
      stopped: false,
      workloads: [{ ...status(0), failedStage: "launch" }, {
        ...status(0),
        failedStage: "resolve",
      }],
    }),
    3,
    "an anchor failure outranks a launch failure",
  );
});

Deno.test("fast: port listening outside the anchor stops and restarts the workload", async () => {
  const platform = new FakePlatform(script([
    { listens: { inside: false, outside: true } },
    { exitCode: 0, exitAfterMs: 20 },
  ]));
  const { supervisor, of } = supervise(config({ port: 8080 }), platform);
  const result = await supervisor.start();
  assert.equal(
    of("exited")[0].reason,
    "port 8080 is listening outside the anchor's network, not inside it",
  );
  assert.deepEqual(platform.launches[0].signals, ["TERM"]);
  assert.equal(platform.launches.length, 2);
  assert.equal(exitCodeFor(result), 0);
});

Deno.test("fast: ready once the port listens inside the anchor", async () => {
  const platform = new FakePlatform(script([{ exitCode: 0, exitAfterMs: 300 }]));
  const { supervisor, of } = supervise(config({ port: 8080 }), platform);
  supervisor.start();
  await until(() => of("ready").some((e) => e.ready), "ready");
  assert.equal(supervisor.status()[0].ready, true);
  await supervisor.stop();
  assert.equal(supervisor.status()[0].ready, false);
});

Deno.test("fast: relayed output arrives whole and in order per stream", async () => {
  const lines: OutputLine[] = [];
  const platform = new FakePlatform(script([
    { exitCode: 0, exitAfterMs: 10, stdout: ["one", "two"], stderr: ["oops"] },
  ]));
  const { supervisor } = supervise(config({}), platform, { output: (l) => void lines.push(l) });
  await supervisor.start();
  const text = (stream: string) =>
    lines.filter((l) => l.stream === stream).map((l) => new TextDecoder().decode(l.line));
  assert.deepEqual(text("stdout"), ["one", "two"]);
  assert.deepEqual(text("stderr"), ["oops"]);
});

Deno.test("fast: a per-line output function may keep the bytes it was given", async () => {
  const kept: Uint8Array[] = [];
  const expected = Array.from({ length: 3000 }, (_, i) => `line ${i} of a chatty workload`);
  const platform = new FakePlatform(script([{ exitCode: 0, exitAfterMs: 10, stdout: expected }]));
  // Keeps each line as given, without copying: later reads must not overwrite it.
  const { supervisor } = supervise(config({}), platform, { output: (l) => void kept.push(l.line) });
  await supervisor.start();
  assert.deepEqual(kept.map((line) => new TextDecoder().decode(line)), expected);
});

Deno.test("fast: an output writer gets blocks of lines: both workloads' lines arrive whole and prefixed", async () => {
  const base = config({});
  const cfg: Config = {
    ...base,
    workloads: { a: base.workloads.w, "b-2": base.workloads.w },
  };
  const lines = (name: string) => Array.from({ length: 2000 }, (_, i) => `${name} line ${i}`);
  const platform = new FakePlatform((_n, spec) => ({
    exitCode: 0,
    exitAfterMs: 10,
    stdout: lines(spec.name),
    stderr: [`${spec.name} warning`],
  }));
  const out: string[] = [];
  const err: string[] = [];
  const decoder = new TextDecoder();
  const writer = createOutputWriter(
    (bytes) => void out.push(decoder.decode(bytes)),
    (bytes) => void err.push(decoder.decode(bytes)),
    "text",
  );
  const { supervisor } = supervise(cfg, platform, { output: writer });
  await supervisor.start();
  await writer.drain();
  for (const write of out) assert.ok(write.endsWith("\n"), "every write ends at a line end");
  const written = out.join("").split("\n").slice(0, -1);
  for (const name of ["a", "b-2"]) {
    assert.deepEqual(
      written.filter((l) => l.startsWith(`[${name}] `)),
      lines(name).map((l) => `[${name}] ${l}`),
    );
  }
  assert.equal(written.length, 4000, "no line without a prefix, none lost");
  assert.deepEqual(err.join("").split("\n").sort(), ["", "[a] a warning", "[b-2] b-2 warning"]);
});

Deno.test("fast: the backend warms up while an anchor waits for its pod, not for a static anchor", async () => {
  const pods = new FakePodSource();
  const pod = pods.upsert(
    fakePod({ name: "anchor-1", ip: "10.9.0.1", ready: false, labels: { app: "albums" } }),
  );
  const platform = new FakePlatform(script([{ exitCode: 0, exitAfterMs: 10 }]));
  const { supervisor } = supervise(
    config({ restart: { policy: "never" } }, { selector: "app=albums", timeout: "2s" }),
    platform,
    { podSource: pods },
  );
  const done = supervisor.start();
  await until(() => platform.warmUps.length === 1, "the warm-up while waiting");
  assert.deepEqual(platform.warmUps, [{ launchesBefore: 0 }], "before the first launch");
  pods.upsert({ ...pod, ready: true, resourceVersion: "2" });
  await done;
  assert.equal(platform.launches.length, 1);
  assert.equal(platform.warmUps.length, 1);

  const fixed = new FakePlatform(script([{ exitCode: 0 }]));
  await supervise(config({ restart: { policy: "never" } }), fixed).supervisor.start();
  assert.equal(fixed.launches.length, 1);
  assert.deepEqual(fixed.warmUps, [], "nothing to wait for, nothing to warm");
});

Deno.test("fast: a deleted anchor pod moves the workload to the replacement pod's domain", async () => {
  const pods = new FakePodSource();
  pods.upsert(fakePod({ name: "anchor-1", ip: "10.9.0.1", labels: { app: "albums" } }));
  const platform = new FakePlatform(script([{}]));
  const { supervisor, of } = supervise(
    config({ restart: { policy: "always", backoff: { initial: "5ms" } } }, {
      selector: "app=albums",
      timeout: "2s",
    }),
    platform,
    { podSource: pods },
  );
  supervisor.start();
  await until(() => platform.launches.length === 1, "the first start");
  assert.equal(
    platform.launches[0].domain.kind === "netns" && platform.launches[0].domain.path,
    "/fake/netns/10.9.0.1",
  );
  pods.remove("uid-anchor-1");
  await until(() => of("anchorChanged").length === 1, "the move");
  assert.match(
    of("anchorChanged")[0].reason,
    /anchor pod anchor-1 \(uid uid-anchor-1\) was deleted/,
  );
  assert.deepEqual(platform.launches[0].signals, ["TERM"], "the old process is stopped");
  assert.equal(supervisor.status()[0].ready, false, "not ready while no anchor exists");
  pods.upsert(fakePod({ name: "anchor-2", ip: "10.9.0.2", labels: { app: "albums" } }));
  await until(() => platform.launches.length === 2, "the start in the new anchor");
  const domain = platform.launches[1].domain;
  assert.equal(domain.kind === "netns" && domain.path, "/fake/netns/10.9.0.2");
  assert.equal(supervisor.status()[0].ip, "10.9.0.2");
  assert.equal(supervisor.status()[0].restarts, 1);
  await supervisor.stop();
  assert.equal(pods.openWatches, 0, "every watch is closed after stop");
});

Deno.test("fast: an anchor whose IP changes moves the workload too", async () => {
  const pods = new FakePodSource();
  const pod = pods.upsert(fakePod({ name: "anchor", ip: "10.9.1.1", labels: { app: "x" } }));
  const platform = new FakePlatform(script([{}]));
  const { supervisor, of } = supervise(
    config({}, { selector: "app=x", timeout: "2s" }),
    platform,
    { podSource: pods },
  );
  supervisor.start();
  await until(() => platform.launches.length === 1, "the first start");
  pods.upsert({ ...pod, ips: ["10.9.1.2"] });
  await until(() => platform.launches.length === 2, "the restart on the new IP");
  assert.match(of("anchorChanged")[0].reason, /changed IP from 10\.9\.1\.1 to 10\.9\.1\.2/);
  const domain = platform.launches[1].domain;
  assert.equal(domain.kind === "netns" && domain.path, "/fake/netns/10.9.1.2");
  await supervisor.stop();
});

Deno.test("fast: anchors of one namespace each get a watch filtered by their selector", async () => {
  const pods = new FakePodSource();
  pods.upsert(fakePod({ name: "p1", ip: "10.9.2.1", labels: { app: "one" } }));
  pods.upsert(fakePod({ name: "p2", ip: "10.9.2.2", labels: { app: "two" } }));
  const result = parseConfig(JSON.stringify({
    apiVersion: "cplauncher/v1",
    anchors: { one: { selector: "app=one" }, two: { selector: "app=two" } },
    workloads: {
      a: { anchor: "one", command: ["/bin/a"] },
      b: { anchor: "two", command: ["/bin/b"] },
    },
  }));
  assert.ok(result.ok);
  const platform = new FakePlatform(script([{}]));
  const { supervisor } = supervise(result.config, platform, { podSource: pods });
  supervisor.start();
  await until(() => platform.launches.length === 2, "both starts");
  await until(() => pods.openWatches === 2, "the anchor watches");
  const selectors = pods.openQueries.map((q) => q.labelSelector).sort();
  assert.deepEqual(selectors, ["app=one", "app=two"], "the server filters each watch");
  const ips = platform.launches.map((l) => l.domain.kind === "netns" && l.domain.path).sort();
  assert.deepEqual(ips, ["/fake/netns/10.9.2.1", "/fake/netns/10.9.2.2"]);
  await supervisor.stop();
});

Deno.test("fast: no anchor pod within the timeout fails the resolve stage naming what was seen", async () => {
  const pods = new FakePodSource();
  pods.upsert(fakePod({ name: "p", ip: "10.9.3.1", ready: false, labels: { app: "y" } }));
  const platform = new FakePlatform(script([{}]));
  const { supervisor } = supervise(
    config({}, { selector: "app=y", timeout: "50ms" }),
    platform,
    { podSource: pods },
  );
  const result = await supervisor.start();
  assert.equal(exitCodeFor(result), 3);
  assert.match(result.workloads[0].error ?? "", /no usable pod after .*p \(Running, not Ready/);
});
