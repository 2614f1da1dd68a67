/**
 * The library scripts in examples/scripts/ run as documented: each is started as its own
 * `deno run` process, exactly as a user would, and its output and exit code are checked.
 *
 * validate_string.ts needs nothing. resolve_anchor.ts and stream_logs.ts need root (real
 * network namespaces from tests/support/netns.ts); the selector case also starts a real
 * kube-apiserver (tests/support/kube_cluster.ts) holding an anchor pod whose IP lives in one
 * of those namespaces.
 *
 * @module
 */
import assert from "node:assert/strict";
import { stringify } from "yaml";
import { startKubeCluster } from "./support/kube_cluster.ts";
import { createTestNetwork, leftovers, type TestNetwork } from "./support/netns.ts";

const ROOT = decodeURIComponent(new URL("../", import.meta.url).pathname);
const SCRIPTS = `${ROOT}examples/scripts/`;
const IS_ROOT = Deno.uid() === 0;
const PREFIX = "cplex";

interface ScriptRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function runScript(
  script: string,
  args: string[],
  options: { stdin?: string; env?: Record<string, string> } = {},
): Promise<ScriptRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${SCRIPTS}${script}`, ...args],
    cwd: ROOT,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

async function writeConfig(dir: string, config: Record<string, unknown>): Promise<string> {
  const path = `${dir}/config-${crypto.randomUUID().slice(0, 8)}.yaml`;
  await Deno.writeTextFile(path, stringify({ apiVersion: "cplauncher/v1", ...config }));
  return path;
}

/** Runs `fn` with a fresh test network and scratch folder, removing both afterwards. */
async function withNetwork(fn: (net: TestNetwork, dir: string) => Promise<void>): Promise<void> {
  const net = await createTestNetwork(PREFIX);
  const dir = await Deno.makeTempDir({ prefix: "cplauncher-scripts-" });
  try {
    await fn(net, dir);
  } finally {
    await net.remove();
    await Deno.remove(dir, { recursive: true });
  }
}

/** `key: value` lines as a record. */
function report(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout.trim().split("\n").map((line) => {
      const at = line.indexOf(": ");
      return [line.slice(0, at), line.slice(at + 2)];
    }),
  );
}

Deno.test("scripts: validate_string.ts validates its sample string", async () => {
  const run = await runScript("validate_string.ts", []);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(
    run.stdout,
    [
      "anchor web: selector (app=web in shop, pick exactly-one, timeout 120000 ms)",
      'workload web: ["/usr/bin/web","--port","8080"] in anchor web, restart always, port 8080',
      "ok",
      "",
    ].join("\n"),
  );
});

Deno.test("scripts: validate_string.ts validates text from stdin", async () => {
  const text = await Deno.readTextFile(`${ROOT}examples/multi.yaml`);
  const ok = await runScript("validate_string.ts", ["-"], {
    stdin: text,
    env: { NODE_NAME: "node-7" },
  });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^anchor albums-a: selector \(app=albums,instance=a in demo/);
  assert.match(ok.stdout, /\nok\n$/);

  const bad = await runScript("validate_string.ts", ["-"], {
    stdin: "apiVersion: cplauncher/v1\nanchors:\n  a: { selector: 'app=x', timeout: 5x }\n" +
      "workloads:\n  w: { anchor: b, command: [x] }\n",
  });
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, "");
  const lines = bad.stderr.trim().split("\n");
  assert.equal(lines.length, 2, bad.stderr);
  assert.match(lines[0], /^<stdin>:3:\d+: anchors\.a\.timeout: "5x" is not a duration/);
  assert.match(lines[1], /^<stdin>:5:\d+: workloads\.w\.anchor: .*\bb\b/);
});

Deno.test("scripts: usage errors exit 2", async () => {
  for (const script of ["resolve_anchor.ts", "stream_logs.ts"]) {
    const run = await runScript(script, []);
    assert.equal(run.code, 2, script);
    assert.match(run.stderr, /^usage: /);
  }
  const config = `${ROOT}examples/static-netns.yaml`;
  const anchor = await runScript("resolve_anchor.ts", ["-c", config, "nope"]);
  assert.equal(anchor.code, 2);
  assert.equal(anchor.stderr, 'no anchor "nope" (have: lab)\n');
  const workload = await runScript("stream_logs.ts", ["-c", config, "nope"]);
  assert.equal(workload.code, 2);
  assert.equal(workload.stderr, 'no workload "nope" (have: albums)\n');
  const missing = await runScript("resolve_anchor.ts", ["-c", "/nonexistent.yaml", "lab"]);
  assert.equal(missing.code, 2);
  assert.equal(missing.stderr, "/nonexistent.yaml:1:1: (document): no such file\n");
});

Deno.test({
  name: "scripts: resolve_anchor.ts prints a static netns anchor; a missing one exits 3",
  ignore: !IS_ROOT,
  async fn() {
    await withNetwork(async (net, dir) => {
      const host = await net.addHost("a", net.addr(10));
      const config = await writeConfig(dir, {
        anchors: { lab: { netns: host.path }, gone: { netns: `${host.path}-missing` } },
        workloads: {
          w: { anchor: "lab", command: ["true"] },
          v: { anchor: "gone", command: ["true"] },
        },
      });
      const run = await runScript("resolve_anchor.ts", ["-c", config, "lab"]);
      assert.equal(run.code, 0, run.stderr);
      const r = report(run.stdout);
      assert.equal(r.anchor, "lab");
      assert.equal(r.kind, "netns");
      assert.equal(r.netns, host.path);
      assert.equal(Number(r.inode), Deno.statSync(host.path).ino);
      assert.equal(r.pod, undefined);

      const gone = await runScript("resolve_anchor.ts", ["-c", config, "gone"]);
      assert.equal(gone.code, 3, gone.stderr);
      assert.match(gone.stderr, /anchor gone did not resolve \(platform\): .*does not exist/);
    });
    assert.deepEqual(await leftovers(PREFIX), []);
  },
});

Deno.test({
  name: "scripts: resolve_anchor.ts follows a selector anchor from the apiserver to its netns",
  ignore: !IS_ROOT,
  async fn() {
    await using cluster = await startKubeCluster();
    await withNetwork(async (net, dir) => {
      const host = await net.addHost("pod", net.addr(20));
      await cluster.createNamespace("shop");
      await cluster.createPod("shop", { name: "web-anchor-1", labels: { app: "web" } });
      await cluster.setPodStatus("shop", "web-anchor-1", { ready: true, podIP: host.ip });
      const config = await writeConfig(dir, {
        kubernetes: { kubeconfig: cluster.adminKubeconfigPath },
        anchors: { web: { selector: "app=web", namespace: "shop", timeout: "20s" } },
        workloads: { web: { anchor: "web", command: ["true"] } },
      });
      const run = await runScript("resolve_anchor.ts", ["-c", config, "web"]);
      assert.equal(run.code, 0, run.stderr);
      const r = report(run.stdout);
      assert.equal(r.kind, "selector");
      assert.equal(r.pod, "shop/web-anchor-1");
      assert.equal(r.ip, host.ip);
      assert.equal(Number(r.inode), Deno.statSync(host.path).ino, `found ${r.netns}`);
    });
  },
});

Deno.test({
  name: "scripts: stream_logs.ts streams a workload's output from inside its anchor",
  ignore: !IS_ROOT,
  async fn() {
    await withNetwork(async (net, dir) => {
      const host = await net.addHost("a", net.addr(30));
      const config = await writeConfig(dir, {
        anchors: { lab: { netns: host.path } },
        workloads: {
          w: {
            anchor: "lab",
            // The address printed is the namespace's own: proof the process runs inside it.
            command: [
              "sh",
              "-c",
              "echo hello; ip -o -4 addr show dev eth0 | awk '{print $4}'; echo oops >&2; exit 3",
            ],
            restart: { policy: "never" },
          },
        },
      });
      const run = await runScript("stream_logs.ts", ["-c", config, "w"]);
      assert.equal(run.code, 3, `the workload's exit code\n${run.stderr}`);
      const lines = run.stdout.trim().split("\n");
      assert.equal(
        lines[0],
        `# w: anchor lab is netns ${host.path} (inode ${Deno.statSync(host.path).ino})`,
      );
      assert.match(lines[1], /^# w: started, pid \d+$/);
      assert.ok(lines.includes("[w stdout] hello"), run.stdout);
      assert.ok(lines.includes(`[w stdout] ${host.ip}/24`), run.stdout);
      assert.ok(lines.includes("[w stderr] oops"), run.stdout);
      assert.equal(lines.at(-1), "# w: exited with code 3 (exited)");
      // stdout lines keep their order relative to each other.
      assert.ok(lines.indexOf("[w stdout] hello") < lines.indexOf(`[w stdout] ${host.ip}/24`));
    });
    assert.deepEqual(await leftovers(PREFIX), []);
  },
});

Deno.test({
  name: "scripts: stream_logs.ts stops the workload gracefully on SIGTERM",
  ignore: !IS_ROOT,
  async fn() {
    await withNetwork(async (net, dir) => {
      const host = await net.addHost("a", net.addr(40));
      const config = await writeConfig(dir, {
        anchors: { lab: { netns: host.path } },
        workloads: {
          w: {
            anchor: "lab",
            command: ["sh", "-c", "echo up; exec sleep 60"],
            restart: { policy: "always" },
            stopTimeout: "5s",
          },
        },
      });
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", `${SCRIPTS}stream_logs.ts`, "-c", config, "w"],
        cwd: ROOT,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let seen = "";
      const deadline = Date.now() + 20_000;
      while (!seen.includes("[w stdout] up\n") && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += value;
      }
      assert.ok(seen.includes("[w stdout] up\n"), seen);
      const started = performance.now();
      child.kill("SIGTERM");
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        seen += value;
      }
      const status = await child.status;
      await child.stderr.cancel();
      assert.equal(status.code, 0, seen);
      assert.ok(performance.now() - started < 5_000, "sleep got SIGTERM, not the kill timeout");
      assert.match(seen, /# w: exited with code \d+ \(.*\)\n$/);
      assert.doesNotMatch(seen, /restarting/);
    });
    assert.deepEqual(await leftovers(PREFIX), []);
  },
});
