/**
 * One workload's runner through its seams (a scripted platform, a scripted anchor source, an
 * in-memory pod source): the `pick: claim` lease it holds is released whenever the workload
 * leaves its anchor (a move, a stop, the end), before anything else is claimed; a terminating
 * anchor pod moves the workload like a deleted one; a port that never listens inside, a
 * failing liveness or startup probe restart it; readiness follows the readiness probe.
 * Probes run against 127.0.0.1 (static anchors have no pod IP).
 */
import assert from "node:assert/strict";
import { parseConfig, type Workload } from "../../src/config/mod.ts";
import type { Claim, LoadedKubeConfig, ResolvedPod } from "../../src/kube/mod.ts";
import type { AnchorSource, ResolvedAnchor } from "../../src/supervisor/anchors.ts";
import { Supervisor } from "../../src/supervisor/mod.ts";
import { WorkloadRunner } from "../../src/supervisor/runner.ts";
import { FakePlatform } from "../support/fake_platform.ts";
import { fakePod, FakePodSource } from "../support/fake_pods.ts";
import { until } from "../support/wait.ts";

function workload(extra: Record<string, unknown> = {}): Workload {
  const result = parseConfig(JSON.stringify({
    apiVersion: "cplauncher/v1",
    anchors: { a: { selector: "app=x", pick: "claim" } },
    workloads: {
      w: {
        anchor: "a",
        command: ["/bin/app"],
        restart: { policy: "always", backoff: { initial: "5ms", max: "5ms" } },
        stopTimeout: "50ms",
        ...extra,
      },
    },
  }));
  if (!result.ok) throw new Error(result.issues.map((i) => i.message).join("; "));
  return result.config.workloads.w;
}

/**
 * An anchor source handing out pod anchors with fake claims, one per resolution, and
 * recording resolutions and releases in one journal so their order can be checked.
 */
class ClaimingAnchors implements AnchorSource {
  readonly watched = true;
  readonly journal: string[] = [];
  readonly #lost: ((reason: string) => void)[] = [];
  #resolutions = 0;

  resolve(): Promise<ResolvedAnchor> {
    const n = ++this.#resolutions;
    this.journal.push(`claim ${n}`);
    const claim = {
      release: () => {
        this.journal.push(`release ${n}`);
        return Promise.resolve();
      },
    } as unknown as Claim;
    const ip = `10.8.0.${n}`;
    const pod: ResolvedPod = {
      anchor: "a",
      pod: `anchor-${n}`,
      namespace: "default",
      uid: `uid-${n}`,
      ips: [ip],
      ip,
      elapsedMs: 1,
      claim,
    };
    return Promise.resolve({
      name: "a",
      pod,
      ip,
      domain: { kind: "netns", path: `/fake/netns/${ip}`, inode: n },
      resolutionSeconds: 0.001,
    });
  }

  watch(_resolved: ResolvedAnchor, onLost: (reason: string) => void) {
    this.#lost.push(onLost);
    return Promise.resolve(() => Promise.resolve());
  }

  /** Reports the current anchor pod lost. */
  lose(reason: string): void {
    this.#lost.at(-1)!(reason);
  }
}

Deno.test("runner: a claimed anchor is released when the workload moves, before the next claim", async () => {
  const anchors = new ClaimingAnchors();
  const platform = new FakePlatform(() => ({}));
  const stop = new AbortController();
  const runner = new WorkloadRunner("w", workload(), {
    platform,
    anchor: anchors,
    stop: stop.signal,
    emit: () => {},
  });
  const done = runner.run();
  try {
    await until(() => platform.launches.length === 1, "the first start");
    anchors.lose("anchor pod anchor-1 changed IP from 10.8.0.1 to 10.8.0.9");
    await until(() => platform.launches.length === 2, "the start in the next anchor");
    assert.deepEqual(platform.launches[0].signals, ["TERM"], "the old process was stopped");
    assert.deepEqual(anchors.journal, ["claim 1", "release 1", "claim 2"]);
  } finally {
    stop.abort();
  }
  assert.deepEqual(await done, {});
  assert.deepEqual(anchors.journal, ["claim 1", "release 1", "claim 2", "release 2"]);
});

Deno.test("runner: the claim is released when the workload ends by its policy, and when it fails", async () => {
  const anchors = new ClaimingAnchors();
  const stop = new AbortController();
  const finished = new WorkloadRunner(
    "w",
    workload({ restart: { policy: "never" } }),
    {
      platform: new FakePlatform(() => ({ exitCode: 0 })),
      anchor: anchors,
      stop: stop.signal,
      emit: () => {},
    },
  );
  assert.deepEqual(await finished.run(), {});
  assert.deepEqual(anchors.journal, ["claim 1", "release 1"]);

  const refused = new ClaimingAnchors();
  const failing = new WorkloadRunner("w", workload(), {
    platform: new FakePlatform(() => ({ launchError: "No such file or directory" })),
    anchor: refused,
    stop: stop.signal,
    emit: () => {},
  });
  assert.deepEqual(await failing.run(), { failedStage: "launch" });
  assert.deepEqual(refused.journal, ["claim 1", "release 1"]);
});

Deno.test("supervisor: an anchor pod that starts terminating moves the workload", async () => {
  const pods = new FakePodSource();
  const pod = pods.upsert(fakePod({ name: "anchor", ip: "10.9.4.1", labels: { app: "t" } }));
  const platform = new FakePlatform(() => ({}));
  const result = parseConfig(JSON.stringify({
    apiVersion: "cplauncher/v1",
    anchors: { a: { selector: "app=t", timeout: "2s" } },
    workloads: { w: { anchor: "a", command: ["/bin/app"], stopTimeout: "50ms" } },
  }));
  assert.ok(result.ok);
  const kube = () => Promise.resolve({ server: "https://fake" } as unknown as LoadedKubeConfig);
  const supervisor = new Supervisor({ config: result.config, platform, kube, podSource: pods });
  const moves: string[] = [];
  supervisor.on("anchorChanged", (e) => moves.push(e.reason));
  supervisor.start();
  try {
    await until(() => platform.launches.length === 1, "the first start");
    pods.upsert({ ...pod, deleting: true });
    await until(() => moves.length === 1, "the move");
    assert.equal(moves[0], "anchor pod anchor is terminating");
    assert.deepEqual(platform.launches[0].signals, ["TERM"]);
    pods.upsert(fakePod({ name: "anchor-2", ip: "10.9.4.2", labels: { app: "t" } }));
    await until(() => platform.launches.length === 2, "the start in the replacement");
    const domain = platform.launches[1].domain;
    assert.equal(domain.kind === "netns" && domain.path, "/fake/netns/10.9.4.2");
  } finally {
    await supervisor.stop();
  }
});

/** A workload on a static anchor: probes go to 127.0.0.1, nothing leaves the machine. */
function staticConfig(workloadFields: Record<string, unknown>) {
  const result = parseConfig(JSON.stringify({
    apiVersion: "cplauncher/v1",
    anchors: { a: { netns: "/fake/static" } },
    workloads: {
      w: {
        anchor: "a",
        command: ["/bin/app"],
        restart: { policy: "on-failure", backoff: { initial: "5ms", max: "5ms" } },
        stopTimeout: "50ms",
        ...workloadFields,
      },
    },
  }));
  if (!result.ok) throw new Error(result.issues.map((i) => i.message).join("; "));
  return result.config;
}

/** A loopback port nothing listens on. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function exits(supervisor: Supervisor): string[] {
  const reasons: string[] = [];
  supervisor.on("exited", (e) => reasons.push(e.reason));
  return reasons;
}

Deno.test("supervisor: a port that never listens inside within startupTimeout restarts the workload", async () => {
  const platform = new FakePlatform((n) =>
    n === 0 ? { listens: { inside: false, outside: false } } : { exitCode: 0, exitAfterMs: 10 }
  );
  const supervisor = new Supervisor({
    config: staticConfig({ port: 8080, startupTimeout: "60ms" }),
    platform,
  });
  const reasons = exits(supervisor);
  await supervisor.start();
  assert.deepEqual(reasons, [
    "port 8080 was not listening inside the anchor within 60 ms",
    "exited",
  ]);
  assert.deepEqual(platform.launches[0].signals, ["TERM"]);
});

Deno.test("supervisor: a failing liveness probe restarts the workload", async () => {
  const port = closedPort();
  const platform = new FakePlatform((n) => n === 0 ? {} : { exitCode: 0, exitAfterMs: 10 });
  const supervisor = new Supervisor({
    config: staticConfig({
      probes: {
        liveness: { tcp: { port }, period: "10ms", timeout: "100ms", failureThreshold: 2 },
      },
    }),
    platform,
  });
  const reasons = exits(supervisor);
  await supervisor.start();
  assert.deepEqual(reasons, ["liveness probe failed", "exited"]);
});

Deno.test("supervisor: a failing startup probe restarts the workload; readiness waits for it", async () => {
  const port = closedPort();
  const platform = new FakePlatform((n) => n === 0 ? {} : { exitCode: 0, exitAfterMs: 10 });
  const supervisor = new Supervisor({
    config: staticConfig({
      probes: { startup: { tcp: { port }, period: "10ms", timeout: "100ms", failureThreshold: 2 } },
    }),
    platform,
  });
  const reasons = exits(supervisor);
  const ready: boolean[] = [];
  supervisor.on("ready", (e) => ready.push(e.ready));
  await supervisor.start();
  assert.deepEqual(reasons, ["startup probe failed", "exited"]);
  assert.equal(ready.includes(true), false, "never ready while the startup probe fails");
});

Deno.test("supervisor: readiness follows the readiness probe", async () => {
  let healthy = true;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(null, { status: healthy ? 200 : 503 }),
  );
  try {
    const platform = new FakePlatform(() => ({}));
    const supervisor = new Supervisor({
      config: staticConfig({
        probes: {
          readiness: {
            http: { port: server.addr.port, path: "/ready" },
            period: "10ms",
            timeout: "200ms",
            failureThreshold: 1,
          },
        },
      }),
      platform,
    });
    supervisor.start();
    try {
      await until(() => supervisor.status()[0]?.ready === true, "ready");
      healthy = false;
      await until(() => supervisor.status()[0].ready === false, "not ready");
      healthy = true;
      await until(() => supervisor.status()[0].ready === true, "ready again");
    } finally {
      await supervisor.stop();
    }
  } finally {
    await server.shutdown();
  }
});
