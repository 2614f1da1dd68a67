/**
 * Launching into a real namespace, end to end, through a launcher subprocess
 * (tests/linux/launch_albums.ts): the albums example is started in a fixture namespace,
 * a second fixture namespace plays the client, and the launcher is SIGKILLed to check the
 * workload dies with it.
 *
 * Needs root. Run: `deno test --allow-all tests/linux/`
 *
 * @module
 */

import assert from "node:assert/strict";
import { listenSockets } from "../../src/platform/linux/listening.ts";
import { isAlive } from "../../src/platform/linux/proc.ts";
import { createTestNetwork, leftovers, type TestNetwork } from "../support/netns.ts";

const PREFIX = "cpltl";
const SCRIPT = new URL("./launch_albums.ts", import.meta.url).pathname;

type Event = Record<string, unknown> & { event: string };

/** A running launcher script with its JSON-line event stream. */
class Launcher {
  readonly child: Deno.ChildProcess;
  readonly events: Event[] = [];
  readonly stderr: Promise<string>;
  private waiters: (() => void)[] = [];
  private ended = false;

  constructor(args: string[], wrapper: string[] = []) {
    const argv = [...wrapper, Deno.execPath(), "run", "--allow-all", SCRIPT, ...args];
    this.child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.stderr = new Response(this.child.stderr).text();
    this.read();
  }

  private async read() {
    let buf = "";
    for await (const chunk of this.child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        this.events.push(JSON.parse(buf.slice(0, i)));
        buf = buf.slice(i + 1);
        this.waiters.splice(0).forEach((w) => w());
      }
    }
    this.ended = true;
    this.waiters.splice(0).forEach((w) => w());
  }

  /** Waits for the first event matching `pred`. */
  async next(pred: (e: Event) => boolean, what: string, timeoutMs = 30_000): Promise<Event> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      if (this.ended || Date.now() > deadline) {
        throw new Error(
          `no ${what} event; got ${JSON.stringify(this.events)}; stderr:\n${await this.stderr}`,
        );
      }
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }

  event(name: string, timeoutMs?: number): Promise<Event> {
    return this.next((e) => e.event === name || e.event === "error", name, timeoutMs)
      .then((e) => {
        if (e.event === "error" && name !== "error") {
          throw new Error(`launcher failed: ${JSON.stringify(e)}`);
        }
        return e;
      });
  }

  async finish(): Promise<Deno.CommandStatus> {
    const s = await this.child.status;
    await this.stderr;
    return s;
  }
}

/** Stems of the networks this file made (checked gone at the end). */
const stems: string[] = [];

async function withNetwork(fn: (net: TestNetwork) => Promise<void>): Promise<void> {
  const net = await createTestNetwork(PREFIX);
  stems.push(net.stem);
  try {
    await fn(net);
  } finally {
    await net.remove();
  }
}

/** Lines of `curl -s -w '\n%{http_code}'` from the client namespace. */
async function curl(net: TestNetwork, client: Parameters<TestNetwork["exec"]>[0], url: string) {
  const r = await net.exec(client, "curl", [
    "-s",
    "--max-time",
    "5",
    "-w",
    "\n%{http_code}",
    url,
  ]);
  const i = r.stdout.lastIndexOf("\n");
  return { code: r.code, status: Number(r.stdout.slice(i + 1)), body: r.stdout.slice(0, i) };
}

function hostListens(port: number): boolean {
  return listenSockets("self").some((s) => s.port === port);
}

Deno.test("albums launched into a pod namespace is reachable from a client namespace only", async () => {
  await withNetwork(async (net) => {
    const pod = await net.addHost("pod", net.addr(20));
    const client = await net.addHost("cli", net.addr(21));
    assert.equal(hostListens(8080), false, "precondition: nothing on 8080 in the host netns");
    const l = new Launcher(["albums", pod.ip, "8080"]);
    try {
      const launched = await l.event("launched");
      const pid = launched.pid as number;
      const target = Deno.statSync(pod.path).ino;
      // The child's namespace, checked by the launcher and again here independently.
      assert.equal(launched.childInode, target);
      assert.equal(Deno.statSync(`/proc/${pid}/ns/net`).ino, target);
      assert.equal(launched.pdeathsig, true);
      // The launcher's own namespace is untouched.
      assert.notEqual(Deno.statSync(`/proc/${l.child.pid}/ns/net`).ino, target);

      const listening = await l.event("listening");
      assert.deepEqual({ inside: listening.inside, outside: listening.outside }, {
        inside: true,
        outside: false,
      });
      await l.next(
        (e) => e.event === "stdout" && e.line === "albums listening on 0.0.0.0:8080",
        "start line",
      );

      const res = await curl(net, client, `http://${pod.ip}:8080/albums`);
      assert.equal(res.code, 0, `curl exit ${res.code}`);
      assert.equal(res.status, 200);
      const albums = JSON.parse(res.body);
      assert.ok(Array.isArray(albums) && albums.length >= 3);
      assert.equal(typeof albums[0].title, "string");
      const one = await curl(net, client, `http://${pod.ip}:8080/albums/2`);
      assert.equal(one.status, 200);
      assert.equal(JSON.parse(one.body).id, "2");
      assert.equal((await curl(net, client, `http://${pod.ip}:8080/health/readiness`)).status, 200);
      assert.equal((await curl(net, client, `http://${pod.ip}:8080/health/liveness`)).status, 200);
      assert.equal((await curl(net, client, `http://${pod.ip}:8080/nope`)).status, 404);
      await l.next((e) => e.event === "stdout" && /GET \/albums 200/.test(String(e.line)), "log");

      // Nothing listens on 8080 in the host namespace.
      assert.equal(hostListens(8080), false);

      // SIGTERM → graceful exit 0, propagated through the launcher.
      l.child.kill("SIGTERM");
      const exit = await l.event("exit");
      assert.deepEqual(exit.status, { code: 0, signal: null });
      assert.equal((await l.finish()).code, 0);
    } finally {
      try {
        l.child.kill("SIGKILL");
      } catch { /* exited */ }
      await l.finish();
    }
  });
});

Deno.test("SIGKILL of the launcher kills the workload within 2 s (pdeathsig)", async () => {
  await withNetwork(async (net) => {
    const pod = await net.addHost("pod", net.addr(30));
    const l = new Launcher(["albums", pod.ip, "8080"]);
    let pid = 0;
    try {
      pid = (await l.event("launched")).pid as number;
      await l.event("listening");
      assert.ok(isAlive(pid));
      const t0 = performance.now();
      l.child.kill("SIGKILL");
      while (isAlive(pid) && performance.now() - t0 < 3000) {
        await new Promise((r) => setTimeout(r, 5));
      }
      const ms = performance.now() - t0;
      assert.equal(isAlive(pid), false, `workload ${pid} still alive ${ms} ms after SIGKILL`);
      assert.ok(ms < 2000, `took ${ms} ms`);
    } finally {
      if (pid && isAlive(pid)) Deno.kill(pid, "SIGKILL");
      await l.finish();
    }
  });
});

Deno.test("two workloads on the same port in two namespaces", async () => {
  await withNetwork(async (net) => {
    const a = await net.addHost("a", net.addr(40));
    const b = await net.addHost("b", net.addr(41));
    const client = await net.addHost("cli", net.addr(42));
    const la = new Launcher(["albums", a.ip, "8080"]);
    const lb = new Launcher(["albums", b.ip, "8080"]);
    try {
      await la.event("listening");
      await lb.event("listening");
      for (const h of [a, b]) {
        const res = await curl(net, client, `http://${h.ip}:8080/albums`);
        assert.equal(res.status, 200, `${h.ip}`);
      }
      assert.equal(hostListens(8080), false);
    } finally {
      for (const l of [la, lb]) {
        try {
          l.child.kill("SIGTERM");
        } catch { /* exited */ }
        await l.finish();
      }
    }
  });
});

Deno.test("exit status: code and 128+signal are propagated", async () => {
  await withNetwork(async (net) => {
    const pod = await net.addHost("pod", net.addr(50));
    const code = new Launcher(["exit", pod.path, "sh", "-c", "exit 7"]);
    assert.deepEqual((await code.event("exit")).status, { code: 7, signal: null });
    await code.finish();
    const sig = new Launcher(["exit", pod.path, "sh", "-c", "kill -TERM $$"]);
    assert.deepEqual((await sig.event("exit")).status, { code: 143, signal: "SIGTERM" });
    await sig.finish();
    const missing = new Launcher(["exit", pod.path, "cpl-no-such-command"]);
    const notFound = await missing.event("error");
    assert.match(
      String(notFound.message),
      /^program "cpl-no-such-command" not found \(searched the launcher's PATH: .*; cwd \/.*\)$/,
    );
    assert.equal(notFound.kind, "command-not-found");
    await missing.finish();
  });
});

Deno.test("launch refuses a namespace whose inode changed since it was resolved", async () => {
  await withNetwork(async (net) => {
    const pod = await net.addHost("pod", net.addr(60));
    const l = new Launcher(["stale", pod.path]);
    const e = await l.event("error");
    assert.match(String(e.message), /is now network namespace \d+, not the resolved \d+/);
    assert.equal(e.kind, "domain-changed");
    assert.equal((await l.finish()).code, 2);
  });
});

Deno.test("without CAP_SYS_ADMIN the error names the capability", async () => {
  await withNetwork(async (net) => {
    const pod = await net.addHost("pod", net.addr(70));
    // Root, but with CAP_SYS_ADMIN removed from the bounding and inheritable sets, so the
    // exec'd launcher runs without it.
    const drop = ["setpriv", "--inh-caps", "-sys_admin", "--bounding-set", "-sys_admin", "--"];
    const l = new Launcher(["resolve", pod.ip], drop);
    const e = await l.event("error");
    assert.match(String(e.message), /setns .*EPERM.*CAP_SYS_ADMIN/);
    assert.equal(e.kind, "errno");
    await l.finish();
  });
});

Deno.test("launch fixtures leave nothing behind", async () => {
  for (const stem of stems) assert.deepEqual(await leftovers(stem), [], stem);
});
