/**
 * The shipped bundle against a real kube-apiserver and real network namespaces (root): the
 * paths where bundling could break client-node (its HTTP stack, TLS options, watch stream,
 * patch headers) or the launcher's own runtime pieces. Exec with a service-account token and
 * with a client certificate; a watch that stays quiet past 60 s and still delivers; claims;
 * `run` with several workloads serving HTTP on their pod IPs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import {
  albumsCommand,
  type AlbumsScenario,
  SHARED_RESOURCES,
  sharedAlbumsScenario,
  waitForHttp,
} from "../support/albums_scenario.ts";
import { type BundledLauncher, launcherLogDir, runBundled, startBundled } from "./_support.ts";

const setUp = sharedAlbumsScenario({ anchors: 3, prefix: "cplbu" });

/** A workload that reports the network namespace it runs in. */
const REPORT_NETNS = ["sh", "-c", 'echo "netns=$(readlink /proc/self/ns/net)"'];

function netnsOf(path: string): string {
  return `net:[${Deno.statSync(path).ino}]`;
}

function config(s: AlbumsScenario, anchors: unknown, workloads: unknown, kubeconfig?: string) {
  return {
    apiVersion: "cplauncher/v1",
    kubernetes: { kubeconfig: kubeconfig ?? s.cluster.adminKubeconfigPath },
    anchors,
    workloads,
  };
}

/** A kubeconfig with a bound service-account token allowed `verbs` on pods. */
async function tokenKubeconfig(s: AlbumsScenario, name: string, verbs: string[]): Promise<string> {
  const c = s.cluster;
  await c.createServiceAccount(s.namespace, name);
  await c.applyRole(s.namespace, name, [{ apiGroups: [""], resources: ["pods"], verbs }]);
  await c.bindRole(s.namespace, name, name, name);
  const token = await c.tokenFor(s.namespace, name);
  return await c.kubeconfigForToken(token, join(s.dir, `${name}.kubeconfig`));
}

async function stopGracefully(launcher: BundledLauncher): Promise<number> {
  launcher.process.kill("SIGTERM");
  const timer = setTimeout(() => launcher.kill(), 20_000);
  try {
    return (await launcher.status).code;
  } finally {
    clearTimeout(timer);
  }
}

Deno.test({
  name:
    "bundle exec: service-account token over TLS with a custom CA; the program runs in the anchor",
  ...SHARED_RESOURCES,
  fn: async () => {
    const s = await setUp();
    const anchor = s.anchors[0];
    const kubeconfig = await tokenKubeconfig(s, "bundle-exec", ["get", "list", "watch"]);
    const run = await runBundled([
      "exec",
      "--log-dir",
      await launcherLogDir(),
      "--label",
      `anchor=${anchor.pod}`,
      "--namespace",
      s.namespace,
      "--kubeconfig",
      kubeconfig,
      "--timeout",
      "30s",
      "--",
      ...REPORT_NETNS,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      new RegExp(`netns=${netnsOf(anchor.host.path).replace(/[[\]]/g, "\\$&")}`),
    );
  },
});

Deno.test({
  name: "bundle exec: client certificate (admin kubeconfig); the program's exit code comes back",
  ...SHARED_RESOURCES,
  fn: async () => {
    const s = await setUp();
    const anchor = s.anchors[1];
    const run = await runBundled([
      "exec",
      "--log-dir",
      await launcherLogDir(),
      "--label",
      `anchor=${anchor.pod}`,
      "--namespace",
      s.namespace,
      "--kubeconfig",
      s.cluster.adminKubeconfigPath,
      "--",
      "sh",
      "-c",
      'echo "netns=$(readlink /proc/self/ns/net)"; exit 7',
    ]);
    assert.equal(run.code, 7, run.stderr);
    assert.ok(run.stdout.includes(`netns=${netnsOf(anchor.host.path)}`), run.stdout);
  },
});

Deno.test({
  name: "bundle exec: insecure-skip-tls-verify, where client-node makes the first list too",
  ...SHARED_RESOURCES,
  fn: async () => {
    const s = await setUp();
    const anchor = s.anchors[2];
    const token = await tokenKubeconfig(s, "bundle-insecure", ["get", "list", "watch"]);
    const config = parse(await Deno.readTextFile(token)) as {
      clusters: { cluster: Record<string, unknown> }[];
    };
    const cluster = config.clusters[0].cluster;
    delete cluster["certificate-authority-data"];
    cluster["insecure-skip-tls-verify"] = true;
    const insecure = join(s.dir, "insecure.kubeconfig");
    await Deno.writeTextFile(insecure, stringify(config));
    const run = await runBundled([
      "--log-level",
      "debug",
      "exec",
      "--log-dir",
      await launcherLogDir(),
      "--label",
      `anchor=${anchor.pod}`,
      "--namespace",
      s.namespace,
      "--kubeconfig",
      insecure,
      "--",
      ...REPORT_NETNS,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /client-node makes every request: insecure-skip-tls-verify is set/);
    assert.ok(run.stdout.includes(`netns=${netnsOf(anchor.host.path)}`), run.stdout);
  },
});

Deno.test({
  name: "bundle run: a watch quiet for 65 s still delivers the anchor's deletion, no reconnect",
  ...SHARED_RESOURCES,
  fn: async () => {
    const s = await setUp();
    const anchor = await s.addAnchor("bundle-quiet", { labels: { app: "bundle-quiet" } });
    const path = await s.writeConfig(
      "quiet",
      config(
        s,
        { a: { selector: "app=bundle-quiet", namespace: s.namespace, timeout: "30s" } },
        { w: { anchor: "a", command: ["sleep", "600"], restart: { policy: "always" } } },
      ),
    );
    const launcher = await startBundled(["--log-level", "debug", "run", "-c", path]);
    try {
      await launcher.waitFor(/workload w started: pid \d+ in netns/);
      await new Promise((r) => setTimeout(r, 65_000));
      const quiet = launcher.stderr();
      await s.cluster.deletePod(s.namespace, anchor.pod);
      // Deletion first sets the deletionTimestamp: the watch delivers that as "terminating".
      await launcher.waitFor(
        /workload w: anchor pod bundle-quiet (is terminating|\(uid [^)]+\) was deleted); moving/,
        5_000,
      );
      assert.doesNotMatch(quiet, /Kubernetes API unavailable|retrying in/);
    } finally {
      await launcher.kill();
    }
  },
});

Deno.test({
  name: "bundle run: pick claim pairs two launchers with two anchors and releases on exit",
  ...SHARED_RESOURCES,
  fn: async () => {
    const s = await setUp();
    for (const name of ["bundle-claim-0", "bundle-claim-1"]) {
      await s.addAnchor(name, { labels: { app: "bundle-claim", anchor: name } });
    }
    const kubeconfig = await tokenKubeconfig(s, "bundle-claim", ["get", "list", "watch", "patch"]);
    const path = await s.writeConfig(
      "claim",
      config(
        s,
        {
          a: {
            selector: "app=bundle-claim",
            namespace: s.namespace,
            pick: "claim",
            timeout: "30s",
          },
        },
        { w: { anchor: "a", command: ["sleep", "600"] } },
        kubeconfig,
      ),
    );
    const launchers = [
      await startBundled(["run", "-c", path]),
      await startBundled(["run", "-c", path]),
    ];
    try {
      const claimed = await Promise.all(
        launchers.map(async (l) => (await l.waitFor(/claimed anchor pod (\S+) as/))[1]),
      );
      assert.deepEqual(claimed.toSorted(), ["bundle-claim-0", "bundle-claim-1"]);
      const holders = (await s.cluster.listPods(s.namespace, "app=bundle-claim"))
        .map((p) => p.metadata.annotations?.["cplauncher.dev/claimed-by"]);
      assert.equal(new Set(holders.filter(Boolean)).size, 2, "two distinct holders");
      for (const l of launchers) assert.equal(await stopGracefully(l), 0, l.stderr());
      const after = await s.cluster.listPods(s.namespace, "app=bundle-claim");
      for (const pod of after) {
        assert.equal(pod.metadata.annotations?.["cplauncher.dev/claimed-by"], undefined);
      }
    } finally {
      for (const l of launchers) await l.kill();
    }
  },
});

Deno.test({
  name: "bundle run: three workloads in three anchors answer HTTP on their pod IPs, stop cleanly",
  ...SHARED_RESOURCES,
  fn: async () => {
    const s = await setUp();
    const anchors = Object.fromEntries(
      s.anchors.slice(0, 3).map((a, i) => [
        `a${i}`,
        { selector: `anchor=${a.pod}`, namespace: s.namespace, timeout: "30s" },
      ]),
    );
    const workloads = Object.fromEntries(
      s.anchors.slice(0, 3).map((_, i) => [
        `albums${i}`,
        { anchor: `a${i}`, command: albumsCommand(8080), port: 8080 },
      ]),
    );
    const path = await s.writeConfig("several", config(s, anchors, workloads));
    const launcher = await startBundled(["run", "-c", path]);
    try {
      for (let i = 0; i < 3; i++) {
        await launcher.waitFor(new RegExp(`workload albums${i} started: pid \\d+`));
      }
      for (const anchor of s.anchors.slice(0, 3)) {
        const response = await waitForHttp(s, `http://${anchor.host.ip}:8080/albums`);
        assert.equal(response.status, 200, launcher.stderr());
        assert.ok(Array.isArray(JSON.parse(response.body)));
      }
      for (let i = 0; i < 3; i++) {
        assert.match(launcher.stdout(), new RegExp(`\\[albums${i}\\] albums listening`));
      }
      assert.equal(await stopGracefully(launcher), 0, launcher.stderr());
    } finally {
      await launcher.kill();
    }
  },
});

Deno.test({
  name: "bundle kube tests: clean up",
  ...SHARED_RESOURCES,
  fn: async () => {
    await (await setUp()).stop();
  },
});
