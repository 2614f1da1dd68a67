/**
 * The k2s albums scenario end to end on Linux: real apiserver, real network namespaces, the real
 * CLI as a separate process (setns must run on the launcher's main thread).
 */
import assert from "node:assert/strict";
import { leftovers } from "../support/netns.ts";
import {
  albumsCommand,
  type AlbumsScenario,
  alive,
  processesLeft,
  SHARED_RESOURCES,
  sharedAlbumsScenario,
  startLauncher,
  stopLauncher,
  waitForHttp,
} from "../support/albums_scenario.ts";

const SHARED = SHARED_RESOURCES;
/** Every workload pid the launchers of this file reported (checked gone at the end). */
const workloadPids: number[] = [];
function collectPids(output: string): void {
  for (const m of output.matchAll(/workload \S+ started: pid (\d+)/g)) {
    workloadPids.push(Number(m[1]));
  }
}
const setUp = sharedAlbumsScenario({ anchors: 2, prefix: "cple2e" });

function baseConfig(
  s: AlbumsScenario,
  anchors: Record<string, unknown>,
  workloads: Record<string, unknown>,
) {
  return {
    apiVersion: "cplauncher/v1",
    kubernetes: { kubeconfig: s.cluster.adminKubeconfigPath },
    anchors,
    workloads,
  };
}

async function hostListensOn(port: number): Promise<boolean> {
  // The launcher's (host) namespace: is anything listening on the port?
  const out = await new Deno.Command("ss", { args: ["-Hltn", `sport = :${port}`], stdout: "piped" })
    .output();
  return new TextDecoder().decode(out.stdout).trim() !== "";
}

Deno.test({
  name: "albums: anchor resolved by label, albums answers on the pod IP from the client namespace",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const anchor = s.anchors[0];
    const config = await s.writeConfig(
      "albums",
      baseConfig(
        s,
        {
          albums: {
            selector: `app=cp-albums,anchor=${anchor.pod}`,
            namespace: s.namespace,
            timeout: "30s",
          },
        },
        {
          albums: {
            anchor: "albums",
            command: albumsCommand(),
            port: 8080,
            restart: { policy: "never" },
          },
        },
      ),
    );
    const launcher = startLauncher(["run", "-c", config]);
    try {
      const started = await launcher.waitFor(/workload albums started: pid (\d+) in netns (\S+)/);
      const response = await waitForHttp(s, `http://${anchor.host.ip}:8080/albums`);
      assert.equal(
        response.status,
        200,
        `client got ${response.status}; launcher said:\n${launcher.stderr()}`,
      );
      const albums = JSON.parse(response.body);
      assert.ok(Array.isArray(albums) && albums.length > 0 && typeof albums[0].title === "string");
      assert.equal(
        await hostListensOn(8080),
        false,
        "nothing listens on 8080 in the host namespace",
      );
      await launcher.waitFor(/listens on port 8080 inside the anchor/);
      const logs = launcher.stderr();
      assert.match(logs, new RegExp(`pod k2s/${anchor.pod}`), "logs name the pod");
      assert.match(logs, new RegExp(anchor.host.ip.replaceAll(".", "\\.")), "logs name the IP");
      assert.equal(started[2], anchor.host.path, "logs name the netns");
      // The workload really runs in the anchor's namespace.
      const pid = Number(started[1]);
      assert.equal(Deno.statSync(`/proc/${pid}/ns/net`).ino, Deno.statSync(anchor.host.path).ino);
      assert.match(
        launcher.stdout(),
        /\[albums\] albums listening on 0\.0\.0\.0:8080/,
        "child output relayed with its name",
      );
      // Exit code propagation: the workload ends (SIGTERM → 0) and so does the launcher.
      Deno.kill(pid, "SIGTERM");
      assert.equal((await launcher.status).code, 0);
    } finally {
      await stopLauncher(launcher);
      collectPids(launcher.stderr());
    }
  },
});

Deno.test({
  name: "albums: a single workload with restart never exits the launcher with its own code",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const anchor = s.anchors[0];
    const config = await s.writeConfig(
      "exit7",
      baseConfig(
        s,
        { a: { selector: `anchor=${anchor.pod}`, namespace: s.namespace } },
        {
          w: {
            anchor: "a",
            command: ["sh", "-c", "echo bye; exit 7"],
            restart: { policy: "never" },
          },
        },
      ),
    );
    const launcher = startLauncher(["run", "-c", config]);
    assert.equal((await launcher.status).code, 7);
    collectPids(launcher.stderr());
    assert.match(launcher.stdout(), /\[w\] bye/);
  },
});

Deno.test({
  name: "albums: k2s-style exec -label -namespace -- cmd propagates the exit code",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const anchor = s.anchors[0];
    const launcher = startLauncher(
      [
        "exec",
        "-log-dir",
        `${s.dir}/launcher-logs`,
        "-label",
        `anchor=${anchor.pod}`,
        "-namespace",
        s.namespace,
        "-label-timeout",
        "20s",
        "--",
        "sh",
        "-c",
        "readlink /proc/self/ns/net; exit 5",
      ],
      { KUBECONFIG: s.cluster.adminKubeconfigPath },
    );
    assert.equal((await launcher.status).code, 5, launcher.stderr());
    const inode = Deno.statSync(anchor.host.path).ino;
    assert.equal(
      launcher.stdout().trim(),
      `net:[${inode}]`,
      "raw output, from inside the anchor's netns",
    );
  },
});

Deno.test({
  name: "albums: plan --resolve shows the resolved anchor pod, IP and netns without launching",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const anchor = s.anchors[1];
    const config = await s.writeConfig(
      "plan",
      baseConfig(
        s,
        { albums: { selector: `anchor=${anchor.pod}`, namespace: s.namespace, timeout: "20s" } },
        { albums: { anchor: "albums", command: albumsCommand() } },
      ),
    );
    const launcher = startLauncher(["plan", "--resolve", "--output", "json", "-c", config]);
    assert.equal((await launcher.status).code, 0, launcher.stderr());
    const plan = JSON.parse(launcher.stdout());
    assert.deepEqual(plan.resolved[0].anchor, "albums");
    assert.equal(plan.resolved[0].pod, `k2s/${anchor.pod}`);
    assert.equal(plan.resolved[0].ip, anchor.host.ip);
    assert.match(plan.resolved[0].domain, new RegExp(`netns ${anchor.host.path} `));
    assert.doesNotMatch(launcher.stderr(), /started: pid/, "nothing was launched");
  },
});

Deno.test({
  name: "compartments (doctor) lists the anchor namespaces, their addresses and owning pods",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const config = await s.writeConfig("doctor", baseConfig(s, {}, {}));
    const run = startLauncher(["doctor", "--output", "json", "-c", config]);
    assert.equal((await run.status).code, 0, run.stderr());
    const { domains } = JSON.parse(run.stdout());
    for (const anchor of s.anchors) {
      const inode = Deno.statSync(anchor.host.path).ino;
      const row = domains.find((d: { id: string }) => d.id === `netns:${inode}`);
      assert.ok(row, `namespace of ${anchor.pod} listed`);
      assert.ok(row.paths.includes(anchor.host.path));
      assert.ok(row.addresses.some((a: string) => a.startsWith(`${anchor.host.ip}/24 `)));
      assert.deepEqual(row.pods, [`k2s/${anchor.pod}`]);
    }
    assert.ok(
      domains.some((d: { launcher: boolean }) => d.launcher),
      "the launcher's own namespace is marked",
    );
  },
});

Deno.test({
  name: "scale: two anchors, two workloads on the same port 8080, one launcher",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const [a, b] = s.anchors;
    const config = await s.writeConfig(
      "scale",
      baseConfig(
        s,
        {
          first: { selector: `anchor=${a.pod}`, namespace: s.namespace },
          second: { selector: `anchor=${b.pod}`, namespace: s.namespace },
        },
        {
          one: { anchor: "first", command: albumsCommand(8080), port: 8080 },
          two: { anchor: "second", command: albumsCommand(8080), port: 8080 },
        },
      ),
    );
    const launcher = startLauncher(["run", "-c", config]);
    try {
      const first = await waitForHttp(s, `http://${a.host.ip}:8080/albums`);
      const second = await waitForHttp(s, `http://${b.host.ip}:8080/albums`);
      assert.equal(first.status, 200, launcher.stderr());
      assert.equal(second.status, 200, launcher.stderr());
      assert.equal(await hostListensOn(8080), false);
      launcher.process.kill("SIGTERM");
      assert.equal((await launcher.status).code, 0, "SIGTERM stops the launcher cleanly");
    } finally {
      await stopLauncher(launcher);
      collectPids(launcher.stderr());
    }
  },
});

Deno.test({
  name: "bad: an anchor IP that no namespace holds is exit 3 with a clear message",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    await s.cluster.createPod(s.namespace, { name: "ghost", labels: { anchor: "ghost" } });
    await s.cluster.setPodStatus(s.namespace, "ghost", { ready: true, podIP: s.network.addr(250) });
    const config = await s.writeConfig(
      "ghost",
      baseConfig(
        s,
        { g: { selector: "anchor=ghost", namespace: s.namespace, timeout: "2s" } },
        { w: { anchor: "g", command: ["true"] } },
      ),
    );
    const launcher = startLauncher(["run", "-c", config]);
    const { code } = await launcher.status;
    assert.equal(code, 3);
    assert.match(
      launcher.stderr(),
      new RegExp(`has IP ${s.network.addr(250).replaceAll(".", "\\.")}, but`),
    );
    assert.doesNotMatch(launcher.stderr(), /^\s+at /m, "no stack trace");
  },
});

Deno.test({
  name: "bad: a static netns path that does not exist is exit 3",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const config = await s.writeConfig(
      "nonetns",
      baseConfig(s, { n: { netns: "/var/run/netns/cpl-does-not-exist" } }, {
        w: { anchor: "n", command: ["true"] },
      }),
    );
    const launcher = startLauncher(["run", "-c", config]);
    assert.equal((await launcher.status).code, 3);
    assert.match(launcher.stderr(), /netns \/var\/run\/netns\/cpl-does-not-exist does not exist/);
  },
});

Deno.test({
  name: "bad: without CAP_SYS_ADMIN the error names the missing capability",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const anchor = s.anchors[0];
    const config = await s.writeConfig(
      "nocap",
      baseConfig(s, { n: { netns: anchor.host.path } }, { w: { anchor: "n", command: ["true"] } }),
    );
    const out = await new Deno.Command("setpriv", {
      args: [
        "--bounding-set=-sys_admin",
        "--inh-caps=-sys_admin",
        Deno.execPath(),
        "run",
        "-A",
        new URL("../../src/main.ts", import.meta.url).pathname,
        "run",
        "-c",
        config,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 4, `a workload that cannot be started is exit 4:\n${stderr}`);
    assert.match(stderr, /CAP_SYS_ADMIN/);
    assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
  },
});

Deno.test({
  name: "cleanup: no workload outlives its launcher; namespaces, veths and the apiserver are gone",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    assert.ok(workloadPids.length >= 4, "the tests above started workloads");
    // Checked before the fixture's own cleanup, which kills whatever runs in its namespaces.
    const deadline = Date.now() + 2000;
    while (workloadPids.some(alive) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(workloadPids.filter(alive), [], "workload processes still alive");
    assert.deepEqual(await processesLeft(s), [], "processes left in the scenario's namespaces");
    const pids = s.cluster.recordProcesses ? await s.cluster.recordProcesses() : [];
    await s.stop();
    assert.deepEqual(
      await leftovers(s.network.stem),
      [],
      "this run's namespaces and links are gone",
    );
    for (const p of pids) assert.equal(alive(p.pid), false, `process ${p.pid} still alive`);
  },
});
