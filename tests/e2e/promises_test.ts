/**
 * README promises that only the real thing can show, each with a test that fails when the
 * promise breaks: `pick: claim` under `run` (renewed past its TTL, released on SIGTERM, taken
 * by the waiting launcher); a workload follows its anchor's new IP into another namespace; a
 * child that ignores SIGTERM is killed `stopTimeout` later; a workload that escapes to the
 * host network is stopped; relayed output in JSON format; and credentials (tokens, client
 * keys) never appear in anything the launcher writes, on every path, at trace level, from
 * the first line on. Real apiserver, real namespaces, the launcher as its own process.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { CLAIM_HOLDER_ANNOTATION, CLAIM_RENEWED_ANNOTATION } from "../../src/kube/mod.ts";
import { leftovers } from "../support/netns.ts";
import {
  albumsCommand,
  type AlbumsScenario,
  alive,
  launcherConfig as config,
  type LauncherProcess,
  processesLeft,
  SHARED_RESOURCES,
  sharedAlbumsScenario,
  startLauncher,
  stopLauncher,
  waitForHttp,
} from "../support/albums_scenario.ts";

const SHARED = SHARED_RESOURCES;
const setUp = sharedAlbumsScenario({ anchors: 1, prefix: "cplprm" });
/** Addresses for namespaces made by these tests (the scenario uses 10+ and 200). */
let nextAddress = 150;
/** Namespaces made by these tests besides the scenario's anchors and client. */
const extraNamespaces: string[] = [];

/** The launcher's exit code, or a failure naming `what` when it has not ended within `ms`. */
async function exitWithin(launcher: LauncherProcess, ms: number, what: string): Promise<number> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), ms));
  const ended = await Promise.race([launcher.status, late]);
  clearTimeout(timer);
  if (ended === "late") {
    assert.fail(`the launcher did not exit within ${ms} ms (${what}):\n${launcher.stderr()}`);
  }
  return ended.code;
}

async function annotations(s: AlbumsScenario, pod: string): Promise<Record<string, string>> {
  return (await s.cluster.getPod(s.namespace, pod)).metadata.annotations ?? {};
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Gives a pod a new IP, as a kubelet would after a sandbox restart (same pod, same uid). */
async function moveIp(s: AlbumsScenario, pod: string, ip: string): Promise<void> {
  // A merge patch replaces the podIPs list (a strategic merge would add to it).
  const response = await s.cluster.api(
    "PATCH",
    `/api/v1/namespaces/${s.namespace}/pods/${pod}/status`,
    { status: { podIP: ip, podIPs: [{ ip }] } },
    { contentType: "application/merge-patch+json" },
  );
  assert.equal(response.status, 200, JSON.stringify(response.body));
}

Deno.test({
  name:
    "claim under run: renewed past its TTL, released on SIGTERM, then taken by the waiting launcher",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    await s.addAnchor("claimed-0", { labels: { app: "claimed" } });
    const path = await s.writeConfig(
      "claim",
      config(s, {
        selector: "app=claimed",
        namespace: s.namespace,
        pick: "claim",
        timeout: "120s",
      }, {
        command: ["sh", "-c", "echo up; while :; do sleep 0.2; done"],
        stopTimeout: "2s",
      }),
    );
    const first = startLauncher(["run", "-c", path]);
    let second: LauncherProcess | undefined;
    try {
      await first.waitFor(/workload w started: pid \d+/);
      const claimed = await annotations(s, "claimed-0");
      const holder = claimed[CLAIM_HOLDER_ANNOTATION];
      const claimedAt = Number(claimed[CLAIM_RENEWED_ANNOTATION]);
      assert.ok(holder, "the first launcher holds the claim");
      second = startLauncher(["run", "-c", path]);
      // Past the 30 s TTL: an unrenewed claim would be stale by now.
      await sleep(Math.max(0, claimedAt + 33_000 - Date.now()));
      const renewed = await annotations(s, "claimed-0");
      assert.equal(renewed[CLAIM_HOLDER_ANNOTATION], holder, "still the first launcher's");
      const renewedAt = Number(renewed[CLAIM_RENEWED_ANNOTATION]);
      assert.ok(
        renewedAt > claimedAt + 20_000 && Date.now() - renewedAt < 15_000,
        `renewed every 10 s: claimed at ${claimedAt}, last renewed ${
          Date.now() - renewedAt
        } ms ago`,
      );
      assert.doesNotMatch(second.stderr(), /workload w started/, "the second launcher waits");

      first.process.kill("SIGTERM");
      assert.equal(await exitWithin(first, 10_000, "SIGTERM"), 0);
      const stoppedAt = performance.now();
      // An unreleased claim renewed up to 10 s ago would hold the waiting launcher off for
      // another 20 s or more; a released one is taken at once.
      await second.waitFor(/workload w started: pid \d+/, 15_000);
      const waited = performance.now() - stoppedAt;
      assert.ok(waited < 10_000, `the waiting launcher started ${waited.toFixed(0)} ms later`);
      const taken = await annotations(s, "claimed-0");
      assert.ok(taken[CLAIM_HOLDER_ANNOTATION], "the second launcher holds the claim");
      assert.notEqual(taken[CLAIM_HOLDER_ANNOTATION], holder);

      second.process.kill("SIGTERM");
      assert.equal(await exitWithin(second, 10_000, "SIGTERM"), 0);
      const released = await annotations(s, "claimed-0");
      assert.equal(released[CLAIM_HOLDER_ANNOTATION], undefined, "released on clean exit");
      assert.equal(released[CLAIM_RENEWED_ANNOTATION], undefined);
    } finally {
      await stopLauncher(first);
      if (second) await stopLauncher(second);
    }
  },
});

Deno.test({
  name: "claim: an anchor whose IP no namespace holds is released when the launcher gives up",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    await s.cluster.createPod(s.namespace, { name: "ghost-claim", labels: { app: "ghost" } });
    await s.cluster.setPodStatus(s.namespace, "ghost-claim", {
      ready: true,
      podIP: s.network.addr(251),
    });
    const path = await s.writeConfig(
      "ghost-claim",
      config(s, { selector: "app=ghost", namespace: s.namespace, pick: "claim", timeout: "3s" }, {
        command: ["true"],
      }),
    );
    const launcher = startLauncher(["run", "-c", path]);
    try {
      assert.equal(await exitWithin(launcher, 20_000, "unresolvable anchor"), 3);
      assert.match(launcher.stderr(), /claimed anchor pod ghost-claim/);
      assert.match(launcher.stderr(), /has IP [0-9.]+, but address [0-9.]+ did not appear/);
      const left = await annotations(s, "ghost-claim");
      assert.equal(left[CLAIM_HOLDER_ANNOTATION], undefined, "the claim was released");
    } finally {
      await stopLauncher(launcher);
    }
  },
});

Deno.test({
  name: "an anchor whose IP moves to another namespace: the workload follows it there",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const anchor = await s.addAnchor("mover", { labels: { app: "mover" } });
    const target = await s.network.addHost("mover-b", s.network.addr(nextAddress++));
    extraNamespaces.push(target.netns);
    const path = await s.writeConfig(
      "mover",
      config(s, { selector: "app=mover", namespace: s.namespace, timeout: "20s" }, {
        command: albumsCommand(8080),
        port: 8080,
        stopTimeout: "2s",
      }),
    );
    const launcher = startLauncher(["run", "-c", path]);
    try {
      const before = await waitForHttp(s, `http://${anchor.host.ip}:8080/albums`);
      assert.equal(before.status, 200, launcher.stderr());
      await moveIp(s, "mover", target.ip);
      const after = await waitForHttp(s, `http://${target.ip}:8080/albums`, 10_000);
      assert.equal(after.status, 200, `not serving on the new IP:\n${launcher.stderr()}`);
      assert.match(
        launcher.stderr(),
        new RegExp(`anchor pod mover changed IP from ${anchor.host.ip} to ${target.ip}`),
      );
      const pids = [...launcher.stderr().matchAll(/workload w started: pid (\d+)/g)].map((m) =>
        Number(m[1])
      );
      assert.equal(pids.length, 2, launcher.stderr());
      assert.equal(alive(pids[0]), false, "the old process is gone");
      assert.equal(
        Deno.statSync(`/proc/${pids[1]}/ns/net`).ino,
        Deno.statSync(target.path).ino,
        "the new process runs in the namespace that holds the new IP",
      );
      assert.equal((await s.curl(`http://${anchor.host.ip}:8080/albums`, 1)).status, 0);
    } finally {
      await stopLauncher(launcher);
    }
  },
});

Deno.test({
  name: "stop: a child that ignores SIGTERM is killed stopTimeout later; the launcher exits 0",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const path = await s.writeConfig(
      "stubborn",
      config(s, { netns: s.anchors[0].host.path }, {
        command: [
          "sh",
          "-c",
          "trap 'echo ignoring TERM' TERM; echo up; while :; do sleep 0.1; done",
        ],
        stopTimeout: "1500ms",
      }),
    );
    const launcher = startLauncher(["run", "-c", path]);
    try {
      await launcher.waitFor(/\[w\] up/);
      const pid = Number((await launcher.waitFor(/workload w started: pid (\d+)/))[1]);
      const sent = performance.now();
      launcher.process.kill("SIGTERM");
      const code = await exitWithin(launcher, 10_000, "the child ignores SIGTERM");
      const took = performance.now() - sent;
      assert.equal(code, 0);
      assert.match(launcher.stdout(), /\[w\] ignoring TERM/, "the child got SIGTERM first");
      assert.ok(took >= 1400, `the grace period was given (${took.toFixed(0)} ms)`);
      assert.match(launcher.stderr(), /did not stop within 1500 ms; killing it/);
      assert.equal(alive(pid), false, "the child was killed");
    } finally {
      await stopLauncher(launcher);
    }
  },
});

Deno.test({
  name:
    "a workload that escapes to the host network is stopped: its port listens outside the anchor",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    // The launcher shares this process's network namespace: the workload joins it again.
    const escape = [
      "nsenter",
      `--net=/proc/${Deno.pid}/ns/net`,
      "--",
      Deno.execPath(),
      "eval",
      `Deno.listen({ hostname: "127.0.0.1", port: ${port} }); setInterval(() => {}, 1000);`,
    ];
    const path = await s.writeConfig(
      "escape",
      config(s, { netns: s.anchors[0].host.path }, {
        command: escape,
        port,
        startupTimeout: "20s",
        restart: { policy: "never" },
        stopTimeout: "2s",
      }),
    );
    const launcher = startLauncher(["run", "-c", path]);
    try {
      const started = performance.now();
      const code = await exitWithin(launcher, 15_000, "escaped workload");
      const took = performance.now() - started;
      assert.match(
        launcher.stderr(),
        new RegExp(`port ${port} is listening outside the anchor's network, not inside it`),
      );
      assert.ok(took < 10_000, `noticed at once, not at the startup timeout (${took} ms)`);
      assert.equal(code, 143, "the stopped workload's own exit code (SIGTERM)");
      assert.doesNotMatch(launcher.stderr(), /listens on port \d+ inside the anchor/);
    } finally {
      await stopLauncher(launcher);
    }
  },
});

Deno.test({
  name:
    "--log-format json: relayed output is one JSON record per line on stdout, logs JSON on stderr",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const path = await s.writeConfig(
      "json",
      config(s, { netns: s.anchors[0].host.path }, {
        command: ["sh", "-c", "echo out-line; echo 'err \"quoted\"' >&2; printf 'no newline'"],
        restart: { policy: "never" },
      }),
    );
    const launcher = startLauncher(["--log-format", "json", "run", "-c", path]);
    assert.equal(await exitWithin(launcher, 20_000, "short workload"), 0, launcher.stderr());
    const records = launcher.stdout().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
    const lines = records.map((r) => [r.workload, r.stream, r.line]);
    assert.deepEqual(lines.filter((l) => l[1] === "stdout"), [
      ["w", "stdout", "out-line"],
      ["w", "stdout", "no newline"],
    ]);
    assert.deepEqual(lines.filter((l) => l[1] === "stderr"), [["w", "stderr", 'err "quoted"']]);
    for (const record of records) assert.ok(!Number.isNaN(Date.parse(record.time)));
    const logs = launcher.stderr().split("\n").filter((l) => l !== "");
    assert.ok(logs.length >= 2, "the launcher logged its start and the exit");
    for (const line of logs) assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
    assert.ok(logs.some((l) => /workload w started/.test(JSON.parse(l).message)));
  },
});

/** Secrets of one identity, and how to recognise any part of them in output. */
interface Secret {
  readonly label: string;
  readonly fragments: readonly string[];
}

function tokenSecret(token: string): Secret {
  const [header, payload, signature] = token.split(".");
  return { label: "token", fragments: [token, header, payload, signature] };
}

async function clientKeySecret(kubeconfig: string): Promise<Secret> {
  const text = await Deno.readTextFile(kubeconfig);
  const keyData = /client-key-data: (\S+)/.exec(text)?.[1];
  assert.ok(keyData, `${kubeconfig} has inline client key data`);
  const pem = new TextDecoder().decode(Uint8Array.from(atob(keyData), (c) => c.charCodeAt(0)));
  const body = pem.split("\n").filter((l) => l !== "" && !l.startsWith("-----"));
  return { label: "client key", fragments: [keyData.slice(0, 40), ...body, "PRIVATE KEY"] };
}

function assertNoSecret(what: string, text: string, secrets: readonly Secret[]): void {
  for (const secret of secrets) {
    for (const fragment of secret.fragments) {
      assert.ok(!text.includes(fragment), `${what}: the ${secret.label} leaked into the output`);
    }
  }
}

Deno.test({
  name:
    "credentials are never logged: token, client-key and in-cluster identities, every command, at trace level",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const c = s.cluster;
    const ns = s.namespace;
    await c.createServiceAccount(ns, "secretive");
    await c.applyRole(ns, "secretive", [{
      apiGroups: [""],
      resources: ["pods"],
      verbs: ["get", "list", "watch", "patch"],
    }]);
    await c.bindRole(ns, "secretive", "secretive", "secretive");
    const token = await c.tokenFor(ns, "secretive");
    const tokenKubeconfig = await c.kubeconfigForToken(token, join(s.dir, "token.kubeconfig"));
    const secrets = [tokenSecret(token), await clientKeySecret(c.adminKubeconfigPath)];
    await s.addAnchor("secret-anchor", { labels: { app: "secret" } });
    const sandbox = join(s.dir, "sandbox");
    const serviceAccount = join(sandbox, "var/run/secrets/kubernetes.io/serviceaccount");
    await Deno.mkdir(serviceAccount, { recursive: true });
    await Deno.writeTextFile(join(serviceAccount, "token"), token);
    await Deno.writeTextFile(join(serviceAccount, "ca.crt"), c.caPem);
    await Deno.writeTextFile(join(serviceAccount, "namespace"), ns);
    const server = new URL(c.server);
    const inCluster = {
      CONTAINER_SANDBOX_MOUNT_POINT: `${sandbox}/`,
      KUBERNETES_SERVICE_HOST: server.hostname,
      KUBERNETES_SERVICE_PORT: server.port,
    };
    const runConfig = (name: string, kubeconfig: string, extra: Record<string, unknown> = {}) =>
      s.writeConfig(name, {
        apiVersion: "cplauncher/v1",
        kubernetes: { kubeconfig },
        anchors: {
          a: { selector: "app=secret", namespace: ns, timeout: "10s", ...extra },
        },
        workloads: { w: { anchor: "a", command: ["true"], restart: { policy: "never" } } },
      });
    const logDir = join(s.dir, "exec-logs");
    const trace = ["--log-level", "trace"];
    const cases: { name: string; args: string[]; env?: Record<string, string>; code: number }[] = [
      {
        name: "run with a token, pick claim",
        args: [...trace, "run", "-c", await runConfig("t-run", tokenKubeconfig, { pick: "claim" })],
        code: 0,
      },
      {
        name: "run with a client key, JSON logs",
        args: [
          ...trace,
          "--log-format",
          "json",
          "run",
          "-c",
          await runConfig("k-run", c.adminKubeconfigPath),
        ],
        code: 0,
      },
      {
        name: "run in-cluster (HostProcess sandbox token)",
        args: [...trace, "run", "-c", await runConfig("i-run", "in-cluster")],
        env: inCluster,
        code: 0,
      },
      {
        name: "run with a token that may not watch the namespace",
        args: [
          ...trace,
          "run",
          "-c",
          await s.writeConfig("t-forbidden", {
            apiVersion: "cplauncher/v1",
            kubernetes: { kubeconfig: tokenKubeconfig },
            anchors: { a: { selector: "app=secret", namespace: "kube-system", timeout: "5s" } },
            workloads: { w: { anchor: "a", command: ["true"] } },
          }),
        ],
        code: 3,
      },
      {
        name: "plan --resolve with a token",
        args: [...trace, "plan", "--resolve", "-c", await runConfig("t-plan", tokenKubeconfig)],
        code: 0,
      },
      {
        name: "compartments with a client key",
        args: [...trace, "compartments", "-c", await runConfig("k-doc", c.adminKubeconfigPath)],
        code: 0,
      },
      {
        name: "k2s exec with a token",
        args: [
          "exec",
          "-label",
          "app=secret",
          "-namespace",
          ns,
          "-kubeconfig",
          tokenKubeconfig,
          "-v=-8",
          "-log-dir",
          logDir,
          "--",
          "true",
        ],
        code: 0,
      },
      {
        name: "k2s exec in-cluster",
        args: ["-label", "app=secret", "-namespace", ns, "-v=-8", "-log-dir", logDir, "--", "true"],
        env: inCluster,
        code: 0,
      },
    ];
    let detailed = 0;
    for (const run of cases) {
      const launcher = startLauncher(run.args, run.env);
      try {
        const code = await exitWithin(launcher, 30_000, run.name);
        const output = `${launcher.stdout()}\n${launcher.stderr()}`;
        assert.equal(code, run.code, `${run.name}:\n${output}`);
        assert.notEqual(launcher.stderr(), "", `${run.name}: the launcher logged`);
        if (/(TRACE|DEBUG|"level":"(trace|debug)")/i.test(launcher.stderr())) detailed++;
        assertNoSecret(run.name, output, secrets);
      } finally {
        await stopLauncher(launcher);
      }
    }
    assert.ok(detailed >= 4, `debug and trace records were written (${detailed} runs)`);
    const logFiles = [...Deno.readDirSync(logDir)].map((e) => join(logDir, e.name));
    assert.equal(logFiles.length, 2, "each exec wrote its log file");
    for (const file of logFiles) assertNoSecret(file, await Deno.readTextFile(file), secrets);
  },
});

Deno.test({
  name:
    "promises cleanup: no workload left in the anchor namespaces, then namespaces and links gone",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    assert.deepEqual(await processesLeft(s, extraNamespaces), [], "processes left behind");
    await s.stop();
    assert.deepEqual(await leftovers(s.network.stem), []);
  },
});
