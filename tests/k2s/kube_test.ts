/**
 * The k2s launcher's command line against a real kube-apiserver, with Linux network
 * namespaces standing in for the compartments of the anchor pods: the manifest line k2s users
 * run, every `-label` example of the k2s launcher README, all-namespace lookup, ambiguity,
 * `-dry-run`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import type { TestHost } from "../support/netns.ts";
import {
  type AlbumsScenario,
  SHARED_RESOURCES,
  sharedAlbumsScenario,
  stopLauncher,
} from "../support/albums_scenario.ts";
import {
  exists,
  myappReport,
  netnsLink,
  runLauncher,
  show,
  spawnLauncher,
  type Workbench,
  workbench,
} from "./_support.ts";

const T = SHARED_RESOURCES;
const scenario = sharedAlbumsScenario({ anchors: 0, prefix: "cplk2k" });
let bench: Promise<Workbench> | undefined;
const namespaces = new Set(["k2s"]);
let nextAddress = 10;

interface AnchorPod {
  readonly namespace: string;
  readonly name: string;
  readonly host: TestHost;
}

/** Creates a Ready anchor pod whose IP lives in a new network namespace. */
async function anchorPod(
  s: AlbumsScenario,
  namespace: string,
  name: string,
  labels: Record<string, string>,
): Promise<AnchorPod> {
  if (!namespaces.has(namespace)) {
    await s.cluster.createNamespace(namespace);
    namespaces.add(namespace);
  }
  const host = await s.network.addHost(name, s.network.addr(nextAddress++));
  await s.cluster.createPod(namespace, { name, labels });
  await s.cluster.setPodStatus(namespace, name, { ready: true, podIP: host.ip });
  return { namespace, name, host };
}

async function setUp(): Promise<{ s: AlbumsScenario; b: Workbench; env: Record<string, string> }> {
  const s = await scenario();
  const b = await (bench ??= workbench());
  return { s, b, env: { ...b.env, KUBECONFIG: s.cluster.adminKubeconfigPath } };
}

/** Runs a test body with pods that are deleted afterwards (labels repeat across tests). */
async function withPods(
  s: AlbumsScenario,
  pods: AnchorPod[],
  body: () => Promise<void>,
): Promise<void> {
  try {
    await body();
  } finally {
    for (const pod of pods) await s.cluster.deletePod(pod.namespace, pod.name).catch(() => {});
  }
}

Deno.test({
  name: "the k2s manifest line, verbatim after the binary name: anchor, netns, exit code",
  ...T,
  fn: async () => {
    const { s, b, env } = await setUp();
    const pod = await anchorPod(s, "k2s", "albums-win-0", { app: "cp-albums-win" });
    const albumsWin = await b.script(
      "albums-win.exe",
      `#!/bin/sh\necho "netns=$(readlink /proc/self/ns/net)"\necho "args=$*"\n` +
        `echo "COMPARTMENT_ID=\${COMPARTMENT_ID-unset}"\n` +
        `echo "COMPARTMENT_ID_ATTACH=\${COMPARTMENT_ID_ATTACH-unset}"\nexit 7\n`,
    );
    // cplauncher.exe -label app=cp-albums-win -namespace k2s -label-timeout 120s -wait-tree -no-inject -- "$env:ALBUMS_WIN"
    const line = [
      "-label",
      "app=cp-albums-win",
      "-namespace",
      "k2s",
      "-label-timeout",
      "120s",
      "-wait-tree",
      "-no-inject",
      "--",
      albumsWin,
    ];
    await withPods(s, [pod], async () => {
      const run = await runLauncher(line, { ...env, ALBUMS_WIN: albumsWin });
      const logs = [...Deno.readDirSync("/var/log/cplauncher")]
        .map((e) => e.name)
        .filter((name) => name.startsWith(`cplauncher-${run.pid}-`));
      for (const name of logs) await Deno.remove(join("/var/log/cplauncher", name));
      assert.equal(run.code, 7, show(run));
      const report = myappReport(run.stdout);
      assert.equal(report.netns, netnsLink(pod.host.path), "ran in the anchor pod's namespace");
      assert.equal(report.args, "");
      assert.equal(report.attach, "unset", "Linux sets no compartment variable without -self-env");
      assert.match(run.stdout, /^netns=/, "the program's output is relayed raw");
      assert.match(run.stderr, new RegExp(`pod k2s/${pod.name}`));
      assert.match(run.stderr, /\(-no-inject accepted for compatibility and ignored\)/);
      assert.equal(logs.length, 1, "one launcher log file in /var/log/cplauncher");
      assert.match(logs[0], new RegExp(`^cplauncher-${run.pid}-\\d+\\.log$`));
    });
  },
});

Deno.test({
  name: "k2s README: -label app=my-service -- myapp.exe (all namespaces)",
  ...T,
  fn: async () => {
    const { s, b, env } = await setUp();
    const pod = await anchorPod(s, "apps", "my-service-0", { app: "my-service" });
    await withPods(s, [pod], async () => {
      const run = await runLauncher(
        ["-label", "app=my-service", "-log-dir", b.logs, "--", "myapp.exe"],
        env,
      );
      assert.equal(run.code, 0, show(run));
      assert.equal(myappReport(run.stdout).netns, netnsLink(pod.host.path));
      assert.match(run.stderr, /pods matching app=my-service in all namespaces/);
      assert.match(run.stderr, /pod apps\/my-service-0/);
    });
  },
});

Deno.test({
  name: "k2s README: -label app=my-service -namespace prod -- myapp.exe",
  ...T,
  fn: async () => {
    const { s, b, env } = await setUp();
    const prod = await anchorPod(s, "prod", "my-service-prod", { app: "my-service" });
    const staging = await anchorPod(s, "staging", "my-service-staging", { app: "my-service" });
    await withPods(s, [prod, staging], async () => {
      const run = await runLauncher(
        ["-label", "app=my-service", "-namespace", "prod", "-log-dir", b.logs, "--", "myapp.exe"],
        { ...env, MYAPP_EXIT: "5" },
      );
      assert.equal(run.code, 5, show(run));
      assert.equal(myappReport(run.stdout).netns, netnsLink(prod.host.path), "the prod pod");
    });
  },
});

Deno.test({
  name: "k2s README: -label app=my-service -dry-run -- myapp.exe starts nothing",
  ...T,
  fn: async () => {
    const { s, b, env } = await setUp();
    const pod = await anchorPod(s, "apps", "my-service-dry", { app: "my-service" });
    const marker = b.marker("label-dry-run");
    await withPods(s, [pod], async () => {
      const run = await runLauncher(
        ["-label", "app=my-service", "-dry-run", "-log-dir", b.logs, "--", "myapp.exe"],
        { ...env, MYAPP_MARKER: marker },
      );
      assert.equal(run.code, 0, show(run));
      assert.equal(exists(marker), false, "myapp.exe did not run");
      assert.match(run.stdout, /^dry run: nothing was started$/m);
      assert.match(
        run.stdout,
        new RegExp(`^pod: +apps/my-service-dry \\(IP ${pod.host.ip}\\)$`, "m"),
      );
      assert.match(run.stdout, new RegExp(`^domain: +netns ${pod.host.path} `, "m"));
      assert.doesNotMatch(run.stderr, /started: pid/);
    });
  },
});

Deno.test({
  name: "k2s README: -label app=albums-win1 -namespace k2s -- albumswin.exe",
  ...T,
  fn: async () => {
    const { s, b, env } = await setUp();
    const pod = await anchorPod(s, "k2s", "albums-win1-0", { app: "albums-win1" });
    await b.script("albumswin.exe", `#!/bin/sh\nexec myapp.exe "$@"\n`);
    await withPods(s, [pod], async () => {
      const run = await runLauncher(
        [
          "-label",
          "app=albums-win1",
          "-namespace",
          "k2s",
          "-log-dir",
          b.logs,
          "--",
          "albumswin.exe",
        ],
        env,
      );
      assert.equal(run.code, 0, show(run));
      assert.equal(myappReport(run.stdout).netns, netnsLink(pod.host.path));
    });
  },
});

Deno.test({
  name: "-namespace omitted finds the pod in any namespace; a wrong -namespace does not",
  ...T,
  fn: async () => {
    const { s, b, env } = await setUp();
    const pod = await anchorPod(s, "far-away", "lonely-0", { app: "lonely" });
    await withPods(s, [pod], async () => {
      const anywhere = await runLauncher(
        ["-label", "app=lonely", "-log-dir", b.logs, "--", "myapp.exe"],
        env,
      );
      assert.equal(anywhere.code, 0, show(anywhere));
      assert.equal(myappReport(anywhere.stdout).netns, netnsLink(pod.host.path));
      const wrong = await runLauncher(
        [
          "-label",
          "app=lonely",
          "-namespace",
          "k2s",
          "-label-timeout",
          "1s",
          "-log-dir",
          b.logs,
          "--",
          "myapp.exe",
        ],
        env,
      );
      assert.equal(wrong.code, 3, show(wrong));
      assert.equal(wrong.stdout, "");
      assert.match(wrong.stderr, /no pod matches app=lonely in namespace k2s/);
    });
  },
});

Deno.test({
  name: "two matching pods fail before the timeout, naming both",
  ...T,
  fn: async () => {
    const { s, b, env } = await setUp();
    const one = await anchorPod(s, "k2s", "twin-one", { app: "twin" });
    const two = await anchorPod(s, "apps", "twin-two", { app: "twin" });
    const marker = b.marker("twins");
    await withPods(s, [one, two], async () => {
      const started = Date.now();
      const run = await runLauncher(
        ["-label", "app=twin", "-label-timeout", "2m", "-log-dir", b.logs, "--", "myapp.exe"],
        { ...env, MYAPP_MARKER: marker },
        100_000,
      );
      assert.equal(run.code, 3, show(run));
      assert.ok(Date.now() - started < 120_000, "failed before -label-timeout ran out");
      assert.match(run.stderr, /2 pods match app=twin in all namespaces/);
      assert.match(run.stderr, /twin-one/);
      assert.match(run.stderr, /twin-two/);
      assert.match(run.stderr, /---- recent log lines/);
      assert.equal(exists(marker), false, "nothing started");
    });
  },
});

Deno.test({
  name: "-label-timeout waits for an anchor that appears later; Go syntax with =",
  ...T,
  fn: async () => {
    const { s, b, env } = await setUp();
    const launcher = spawnLauncher(
      [
        "--label=app=late",
        "--namespace=k2s",
        "-label-timeout=1m30s",
        "-dry-run=false",
        `-log-dir=${b.logs}`,
        "--",
        "myapp.exe",
      ],
      { ...env, MYAPP_EXIT: "2" },
    );
    const pods: AnchorPod[] = [];
    try {
      await launcher.waitFor(/pods matching app=late in namespace k2s/, 30_000);
      pods.push(await anchorPod(s, "k2s", "late-0", { app: "late" }));
      const status = await launcher.status;
      assert.equal(status.code, 2, launcher.stderr());
      assert.equal(myappReport(launcher.stdout()).netns, netnsLink(pods[0].host.path));
    } finally {
      await stopLauncher(launcher);
      for (const pod of pods) await s.cluster.deletePod(pod.namespace, pod.name).catch(() => {});
    }
  },
});

/** The object URL of a manifest document, for server-side apply. */
function objectPath(doc: { kind: string; metadata: { name: string; namespace?: string } }) {
  const { name, namespace } = doc.metadata;
  switch (doc.kind) {
    case "ServiceAccount":
      return `/api/v1/namespaces/${namespace}/serviceaccounts/${name}`;
    case "ClusterRole":
      return `/apis/rbac.authorization.k8s.io/v1/clusterroles/${name}`;
    case "ClusterRoleBinding":
      return `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${name}`;
    default:
      throw new Error(`unexpected kind ${doc.kind} in the example`);
  }
}

Deno.test({
  name: "examples/k2s/rbac-all-namespaces.yaml is enough to search every namespace; a Role is not",
  ...T,
  fn: async () => {
    const { s, b, env } = await setUp();
    const pod = await anchorPod(s, "k2s", "rbac-anchor", { app: "rbac-check" });
    const example = new URL("../../examples/k2s/rbac-all-namespaces.yaml", import.meta.url);
    const docs = parseAllDocuments(await Deno.readTextFile(example)).map((d) => d.toJS());
    assert.deepEqual(docs.map((d) => d.kind), [
      "ServiceAccount",
      "ClusterRole",
      "ClusterRoleBinding",
    ]);
    for (const doc of docs) await s.cluster.apply(objectPath(doc), doc);
    const granted = await s.cluster.kubeconfigForToken(
      await s.cluster.tokenFor("k2s", "cplauncher"),
      join(b.dir, "cluster-reader.kubeconfig"),
    );
    // The narrower identity: a Role for pods in k2s only, as in examples/kubernetes/rbac.yaml.
    await s.cluster.createServiceAccount("k2s", "narrow");
    await s.cluster.applyRole("k2s", "narrow", [
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
    ]);
    await s.cluster.bindRole("k2s", "narrow", "narrow", "narrow");
    const narrow = await s.cluster.kubeconfigForToken(
      await s.cluster.tokenFor("k2s", "narrow"),
      join(b.dir, "narrow.kubeconfig"),
    );
    const args = ["-label", "app=rbac-check", "-log-dir", b.logs, "--", "myapp.exe"];
    await withPods(s, [pod], async () => {
      const everywhere = await runLauncher(args, { ...env, KUBECONFIG: granted });
      assert.equal(everywhere.code, 0, show(everywhere));
      assert.equal(myappReport(everywhere.stdout).netns, netnsLink(pod.host.path));

      const refused = await runLauncher(args, { ...env, KUBECONFIG: narrow });
      assert.equal(refused.code, 3, show(refused));
      assert.match(refused.stderr, /403|forbidden/i);
      assert.match(refused.stderr, /examples\/k2s\/rbac-all-namespaces\.yaml/);

      const inNamespace = await runLauncher(
        ["-namespace", "k2s", ...args],
        { ...env, KUBECONFIG: narrow },
      );
      assert.equal(inNamespace.code, 0, show(inNamespace));
    });
  },
});

Deno.test({
  name: "k2s kube tests: clean up",
  ...T,
  fn: async () => {
    await (await scenario()).stop();
    await (await bench)?.remove();
  },
});
