// deno-lint-ignore-file no-console -- test/demo output for people reading the run
/**
 * `cplauncher run` as a supervisor: restarts with backoff, probes, anchor replacement,
 * graceful shutdown, no orphans, lossless log relay, health endpoint and metrics. Real
 * processes, real namespaces, real apiserver; the launcher runs as its own process.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { leftovers } from "../support/netns.ts";
import {
  albumsCommand,
  alive,
  launcherConfig as config,
  processesLeft,
  ROOT,
  SHARED_RESOURCES,
  sharedAlbumsScenario,
  startLauncher,
  stopLauncher,
  waitForHttp,
} from "../support/albums_scenario.ts";

const SHARED = SHARED_RESOURCES;
const setUp = sharedAlbumsScenario({ anchors: 1, prefix: "cplsup" });

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test({
  name: "crash loop: restarts follow the exponential backoff (200, 400, 800, 800 ms …)",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const path = await s.writeConfig(
      "crash",
      config(s, { netns: s.anchors[0].host.path }, {
        command: ["sh", "-c", "exit 1"],
        restart: {
          policy: "always",
          backoff: { initial: "200ms", max: "800ms", resetAfter: "1m" },
        },
      }),
    );
    const launcher = startLauncher(["run", "-c", path]);
    try {
      await new Promise((r) => setTimeout(r, 4000));
      launcher.process.kill("SIGTERM");
      assert.equal((await launcher.status).code, 0);
      const delays = [...launcher.stderr().matchAll(/restarting in (\d+) ms/g)].map((m) =>
        Number(m[1])
      );
      assert.ok(delays.length >= 4, `only ${delays.length} restarts in 4 s`);
      assert.deepEqual(delays.slice(0, 4), [200, 400, 800, 800]);
      const starts = [...launcher.stderr().matchAll(/workload w started/g)].length;
      // 0 + 0.2 + 0.6 + 1.4 + 2.2 + 3.0 + 3.8 s: at most 7 starts fit in 4 s, plus slack for launch time.
      assert.ok(starts >= 4 && starts <= 7, `${starts} starts in 4 s`);
    } finally {
      await stopLauncher(launcher);
    }
  },
});

Deno.test({
  name: "liveness failure restarts the workload",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const path = await s.writeConfig(
      "liveness",
      config(s, { selector: `anchor=${s.anchors[0].pod}`, namespace: s.namespace }, {
        command: albumsCommand(8080),
        restart: { policy: "always", backoff: { initial: "100ms" } },
        probes: {
          liveness: { tcp: { port: 8089 }, period: "200ms", timeout: "200ms", failureThreshold: 2 },
        },
      }),
    );
    const launcher = startLauncher(["run", "-c", path]);
    try {
      await launcher.waitFor(/liveness probe failed/, 20_000);
      await launcher.waitFor(/stopping workload w \(pid \d+\): liveness probe failed/);
      await launcher.waitFor(/restarting in 100 ms \(liveness probe failed/);
      const starts = [
        ...(await launcher.waitFor(/workload w started[^]*workload w started/)).values(),
      ];
      assert.ok(starts.length > 0);
    } finally {
      await stopLauncher(launcher);
    }
  },
});

Deno.test({
  name:
    "anchor replaced (deleted, recreated with a new IP in another netns): serving on the new IP within 5 s",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const first = await s.addAnchor("moving-0", { labels: { app: "moving" } });
    const path = await s.writeConfig(
      "moving",
      config(s, { selector: "app=moving", namespace: s.namespace, pick: "first-ready" }, {
        command: albumsCommand(8080),
        port: 8080,
        stopTimeout: "2s",
      }),
    );
    const launcher = startLauncher(["run", "-c", path]);
    try {
      assert.equal(
        (await waitForHttp(s, `http://${first.host.ip}:8080/albums`)).status,
        200,
        launcher.stderr(),
      );
      await s.cluster.deletePod(s.namespace, "moving-0");
      const second = await s.addAnchor("moving-1", { labels: { app: "moving" }, ready: false });
      const readyAt = performance.now();
      await s.cluster.setPodStatus(s.namespace, "moving-1", { ready: true, podIP: second.host.ip });
      const answer = await waitForHttp(s, `http://${second.host.ip}:8080/albums`, 5000);
      const took = performance.now() - readyAt;
      assert.equal(answer.status, 200, `not serving on the new IP: ${launcher.stderr()}`);
      console.log(`serving on the new anchor IP ${took.toFixed(0)} ms after it became Ready`);
      assert.equal(
        (await s.curl(`http://${first.host.ip}:8080/albums`, 1)).status,
        0,
        "the old IP no longer answers",
      );
      assert.match(launcher.stderr(), /anchor pod moving-0 .*(deleted|terminating)/);
    } finally {
      await stopLauncher(launcher);
    }
  },
});

Deno.test({
  name: "SIGTERM: children get SIGTERM, exit within stopTimeout, launcher exits 0",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const marker = join(s.dir, "got-term");
    const path = await s.writeConfig(
      "term",
      config(s, { netns: s.anchors[0].host.path }, {
        command: [
          "sh",
          "-c",
          `trap 'echo term > ${marker}; exit 0' TERM; echo up; while true; do sleep 0.05; done`,
        ],
        stopTimeout: "3s",
      }),
    );
    const launcher = startLauncher(["run", "-c", path]);
    try {
      await launcher.waitFor(/\[w\] up/);
      const pid = Number((await launcher.waitFor(/workload w started: pid (\d+)/))[1]);
      const sent = performance.now();
      launcher.process.kill("SIGTERM");
      const { code } = await launcher.status;
      const took = performance.now() - sent;
      assert.equal(code, 0);
      assert.equal(await Deno.readTextFile(marker), "term\n", "the child received SIGTERM");
      assert.ok(took < 3000, `stopped in ${took} ms, within stopTimeout`);
      assert.equal(alive(pid), false);
    } finally {
      await stopLauncher(launcher);
    }
  },
});

Deno.test({
  name: "SIGKILL of the launcher leaves zero workload processes within 2 s",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const path = await s.writeConfig(
      "orphans",
      config(s, { netns: s.anchors[0].host.path }, {
        command: ["sh", "-c", "trap '' TERM; echo up; while true; do sleep 0.05; done"],
      }),
    );
    const launcher = startLauncher(["run", "-c", path]);
    await launcher.waitFor(/\[w\] up/);
    const pid = Number((await launcher.waitFor(/workload w started: pid (\d+)/))[1]);
    assert.ok(alive(pid));
    launcher.process.kill("SIGKILL");
    await launcher.status;
    const deadline = performance.now() + 2000;
    while (alive(pid) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(pid), false, "the workload outlived its launcher");
  },
});

Deno.test({
  name: "50 MB of child output relayed with zero lost bytes and bounded launcher memory",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const size = 50 * 1000 * 1000;
    const script =
      `yes 'cplauncher relay test line 0123456789 abcdefghijklmnopqrstuvwxyz' | head -c ${size}`;
    const path = await s.writeConfig(
      "relay",
      config(s, { netns: s.anchors[0].host.path }, {
        command: ["sh", "-c", script],
        restart: { policy: "never" },
      }),
    );
    const expected = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" })
      .output();
    // The last line of `head -c` has no newline; the relay terminates it with one.
    let expectedBytes = expected.stdout;
    if (expectedBytes.at(-1) !== 0x0a) {
      expectedBytes = new Uint8Array(expected.stdout.length + 1);
      expectedBytes.set(expected.stdout);
      expectedBytes[expected.stdout.length] = 0x0a;
    }
    const expectedHash = createHash("sha256").update(expectedBytes).digest("hex");
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", join(ROOT, "src/main.ts"), "run", "-c", path],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const hash = createHash("sha256");
    const prefix = new TextEncoder().encode("[w] ");
    let pending = new Uint8Array(0);
    let relayed = 0;
    let peakRss = 0;
    const sampler = setInterval(() => {
      try {
        const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
        peakRss = Math.max(peakRss, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
      } catch { /* exited */ }
    }, 100);
    for await (const chunk of child.stdout) {
      const data = new Uint8Array(pending.length + chunk.length);
      data.set(pending);
      data.set(chunk, pending.length);
      let start = 0;
      for (;;) {
        const nl = data.indexOf(0x0a, start);
        if (nl === -1) break;
        const line = data.subarray(start, nl + 1);
        assert.deepEqual(line.subarray(0, prefix.length), prefix);
        hash.update(line.subarray(prefix.length));
        relayed += line.length - prefix.length;
        start = nl + 1;
      }
      pending = data.slice(start);
    }
    clearInterval(sampler);
    const { code } = await child.status;
    assert.equal(code, 0);
    assert.equal(pending.length, 0);
    assert.equal(relayed, expectedBytes.length, "byte count");
    assert.equal(hash.digest("hex"), expectedHash, "content");
    console.log(`launcher peak RSS while relaying 50 MB: ${(peakRss / 1024).toFixed(0)} MiB`);
    assert.ok(peakRss > 0 && peakRss < 250 * 1024, `peak RSS ${peakRss} KiB`);
  },
});

Deno.test({
  name: "a launcher whose stdout nobody reads still answers /healthz, and the child is held back",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const port = freePort();
    const marker = join(s.dir, "written");
    const path = await s.writeConfig(
      "stuck-reader",
      config(s, { netns: s.anchors[0].host.path }, {
        // Writes 20 MB, then records that it got through.
        command: [
          "sh",
          "-c",
          `head -c 20000000 /dev/zero | tr '\\0' 'x' | fold -w 100; echo done > ${marker}`,
        ],
        restart: { policy: "never" },
      }, { health: { port, address: "127.0.0.1" } }),
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", join(ROOT, "src/main.ts"), "run", "-c", path],
      stdout: "piped", // never read: the pipe fills up
      stderr: "null",
    }).spawn();
    try {
      let healthy = 0;
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 150));
        try {
          const r = await fetch(`http://127.0.0.1:${port}/healthz`, {
            signal: AbortSignal.timeout(2000),
          });
          await r.body?.cancel();
          if (r.status === 200) healthy++;
        } catch { /* not up yet, or stalled */ }
      }
      assert.ok(
        healthy >= 15,
        `only ${healthy}/20 health checks answered while stdout was blocked`,
      );
      let finished = true;
      try {
        Deno.statSync(marker);
      } catch {
        finished = false;
      }
      assert.equal(
        finished,
        false,
        "the child was held back by backpressure, not buffered in memory",
      );
      const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
      const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      assert.ok(rss > 0 && rss < 200 * 1024, `launcher RSS ${rss} KiB`);
    } finally {
      child.kill("SIGKILL");
      await child.status;
      await child.stdout.cancel();
    }
  },
});

Deno.test({
  name: "per-workload log files receive the relayed lines; sha256 pins the program",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const logDir = join(s.dir, "logs");
    const sh = "/bin/sh";
    const digest = [
      ...new Uint8Array(await crypto.subtle.digest("SHA-256", await Deno.readFile(sh))),
    ]
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    const good = await s.writeConfig(
      "logs",
      config(s, { netns: s.anchors[0].host.path }, {
        command: [sh, "-c", "echo out-line; echo err-line >&2"],
        sha256: digest,
        restart: { policy: "never" },
        logs: { dir: logDir, maxSize: "1MiB", keep: 2 },
      }),
    );
    const ok = startLauncher(["run", "-c", good]);
    assert.equal((await ok.status).code, 0, ok.stderr());
    // Both streams go to the file; their relative order depends on which pipe is read first.
    const logged = (await Deno.readTextFile(join(logDir, "w.log"))).split("\n").sort();
    assert.deepEqual(logged, ["", "err-line", "out-line"]);
    const bad = await s.writeConfig(
      "badsum",
      config(s, { netns: s.anchors[0].host.path }, {
        command: [sh, "-c", "echo should-not-run"],
        sha256: "0".repeat(64),
        restart: { policy: "never" },
      }),
    );
    const refused = startLauncher(["run", "-c", bad]);
    assert.equal((await refused.status).code, 4);
    assert.match(
      refused.stderr(),
      /refusing to start \/bin\/sh: sha256 is [0-9a-f]{64}, the config expects 0{64}/,
    );
    assert.doesNotMatch(refused.stdout(), /should-not-run/);
  },
});

Deno.test({
  name: "/readyz flips with readiness; /healthz and /metrics (Prometheus text) are served",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    const port = freePort();
    const path = await s.writeConfig(
      "health",
      config(s, { selector: `anchor=${s.anchors[0].pod}`, namespace: s.namespace }, {
        command: albumsCommand(8080),
        port: 8080,
        probes: {
          readiness: {
            http: { port: 8080, path: "/health/readiness" },
            period: "200ms",
            timeout: "300ms",
            failureThreshold: 2,
          },
        },
      }, { health: { port, address: "127.0.0.1" } }),
    );
    const launcher = startLauncher(["run", "-c", path]);
    const get = async (p: string) => {
      try {
        const r = await fetch(`http://127.0.0.1:${port}${p}`);
        return { status: r.status, body: await r.text() };
      } catch {
        return { status: 0, body: "" };
      }
    };
    const waitStatus = async (p: string, status: number, ms = 15_000) => {
      const deadline = Date.now() + ms;
      let last = await get(p);
      while (last.status !== status && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        last = await get(p);
      }
      return last;
    };
    try {
      assert.equal((await waitStatus("/healthz", 200)).status, 200);
      assert.equal((await waitStatus("/readyz", 200)).status, 200, launcher.stderr());
      const pid = Number((await launcher.waitFor(/workload w started: pid (\d+)/))[1]);
      Deno.kill(pid, "SIGSTOP"); // the workload hangs: readiness probes time out
      const notReady = await waitStatus("/readyz", 503);
      assert.equal(notReady.status, 503);
      assert.match(notReady.body, /not ready: w/);
      Deno.kill(pid, "SIGCONT");
      assert.equal((await waitStatus("/readyz", 200)).status, 200);
      assert.equal((await get("/readyz?workload=nope")).status, 404);
      const metrics = await get("/metrics");
      assert.equal(metrics.status, 200);
      const sample =
        /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? -?[0-9.eE+-]+$/;
      for (const line of metrics.body.trim().split("\n")) {
        if (line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
        assert.match(line, sample, `not a Prometheus sample: ${line}`);
      }
      assert.match(metrics.body, /^cplauncher_workload_up\{workload="w",anchor="a"\} 1$/m);
      assert.match(metrics.body, /^cplauncher_workload_ready\{workload="w",anchor="a"\} 1$/m);
      assert.match(
        metrics.body,
        /^cplauncher_anchor_resolution_seconds\{workload="w",anchor="a"\} [0-9.]+$/m,
      );
      assert.match(metrics.body, /^# TYPE cplauncher_workload_restarts_total counter$/m);
    } finally {
      await stopLauncher(launcher);
    }
  },
});

Deno.test({
  name: "supervisor cleanup: no processes left in the namespaces, then no namespaces or veths",
  ...SHARED,
  fn: async () => {
    const s = await setUp();
    // Checked before the fixture's own cleanup, which kills whatever runs in its namespaces.
    assert.deepEqual(await processesLeft(s), [], "processes left behind");
    await s.stop();
    assert.deepEqual(
      await leftovers(s.network.stem),
      [],
      "this run's namespaces and links are gone",
    );
  },
});
