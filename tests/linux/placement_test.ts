/**
 * "The child's `/proc/PID/ns/net` inode is then compared with the target; a mismatch kills
 * it." A launcher run under a seccomp filter that makes setns(2) report success without
 * doing anything (tests/support/setns_noop.c, built here with the C compiler) starts every
 * child in the wrong namespace — the situation the comparison exists for. It must refuse:
 * through the backend (error kind `placement`, the child killed) and through `cplauncher
 * run` (exit code 4). Without the filter the same launches are verified and run.
 *
 * Needs root and a C compiler. Run: `deno test --allow-all tests/linux/placement_test.ts`
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createTestNetwork, leftovers, type TestNetwork } from "../support/netns.ts";

const PREFIX = "cplpv";
const ROOT = new URL("../../", import.meta.url).pathname;
const SCRIPT = join(ROOT, "tests/linux/launch_albums.ts");
const SOURCE = join(ROOT, "tests/support/setns_noop.c");

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function run(argv: string[]): Promise<Run> {
  const out = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Builds setns_noop into `dir` and returns its path. */
async function buildSetnsNoop(dir: string): Promise<string> {
  const binary = join(dir, "setns_noop");
  const built = await run(["cc", "-O2", "-Wall", "-Werror", "-o", binary, SOURCE]);
  assert.equal(built.code, 0, `building ${SOURCE} failed:\n${built.stderr}`);
  return binary;
}

async function withFixture(
  fn: (net: TestNetwork, anchor: string, setnsNoop: string, dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cplauncher-placement-" });
  const net = await createTestNetwork(PREFIX);
  try {
    const anchor = await net.addHost("anchor", "");
    await fn(net, anchor.path, await buildSetnsNoop(dir), dir);
  } finally {
    await net.remove();
    await Deno.remove(dir, { recursive: true });
  }
  assert.deepEqual(await leftovers(net.stem), [], "the fixture's namespace and links are gone");
}

/** Whether `pid` still runs (a zombie waiting to be reaped by init does not). */
function running(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

function events(stdout: string): Record<string, unknown>[] {
  return stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

Deno.test("the filter really makes setns a silent no-op (the premise of the tests below)", async () => {
  await withFixture(async (_net, anchor, setnsNoop) => {
    const inode = Deno.statSync(anchor).ino;
    const own = Deno.statSync("/proc/self/ns/net").ino;
    const entered = await run(["nsenter", `--net=${anchor}`, "readlink", "/proc/self/ns/net"]);
    assert.equal(entered.stdout.trim(), `net:[${inode}]`);
    const faked = await run([
      setnsNoop,
      "nsenter",
      `--net=${anchor}`,
      "readlink",
      "/proc/self/ns/net",
    ]);
    assert.equal(faked.code, 0, faked.stderr);
    assert.equal(faked.stdout.trim(), `net:[${own}]`);
  });
});

/** A launcher script in "hold" mode: its events as they come, and a way to end it. */
function holdLauncher(argv: string[]) {
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    async next(): Promise<Record<string, unknown>> {
      for (;;) {
        const newline = buffer.indexOf("\n");
        if (newline >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          return JSON.parse(line);
        }
        const { value, done } = await lines.read();
        if (done) throw new Error(`the launcher ended without an event:\n${await stderr}`);
        buffer += value;
      }
    },
    async stop(): Promise<void> {
      try {
        child.kill("SIGTERM");
      } catch { /* already ended */ }
      await lines.cancel();
      await child.status;
      await stderr;
    },
  };
}

Deno.test("backend: a child that did not land in the target namespace is killed and the launch fails", async () => {
  await withFixture(async (_net, anchor, setnsNoop) => {
    const inode = Deno.statSync(anchor).ino;
    // Long enough to be verified (a child that is already gone cannot be looked at).
    const good = await run([
      Deno.execPath(),
      "run",
      "--allow-all",
      SCRIPT,
      "exit",
      anchor,
      "sleep",
      "0.5",
    ]);
    const launched = events(good.stdout).find((e) => e.event === "launched");
    assert.equal(launched?.verifiedInode, inode, good.stderr);

    const launcher = holdLauncher([
      setnsNoop,
      Deno.execPath(),
      "run",
      "--allow-all",
      SCRIPT,
      "hold",
      anchor,
      "sleep",
      "30",
    ]);
    try {
      const event = await launcher.next();
      assert.equal(event.event, "error", `launched anyway: ${JSON.stringify(event)}`);
      assert.equal(event.kind, "placement");
      const message = String(event.message);
      const match =
        /child pid (\d+) is in network namespace (\d+), not the target (\d+) \((.+)\); killed it/
          .exec(message);
      assert.ok(match, message);
      assert.equal(Number(match[2]), Deno.statSync("/proc/self/ns/net").ino);
      assert.equal(Number(match[3]), inode);
      assert.equal(match[4], anchor);
      // Checked while the launcher still runs: its parent-death signal must not be what
      // ends the child.
      const pid = Number(match[1]);
      const deadline = Date.now() + 1000;
      while (running(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(running(pid), false, "the misplaced child was killed");
    } finally {
      await launcher.stop();
    }
  });
});

Deno.test("cplauncher run: a misplaced workload is exit 4, and it never runs", async () => {
  await withFixture(async (_net, anchor, setnsNoop, dir) => {
    const marker = join(dir, "ran");
    const config = join(dir, "placement.yaml");
    await Deno.writeTextFile(
      config,
      [
        "apiVersion: cplauncher/v1",
        `anchors: { a: { netns: ${anchor} } }`,
        "workloads:",
        `  w: { anchor: a, command: [sh, -c, "sleep 0.5; readlink /proc/self/ns/net > ${marker}"], restart: { policy: never } }`,
        "",
      ].join("\n"),
    );
    const launcher = [Deno.execPath(), "run", "--allow-all", join(ROOT, "src/main.ts")];
    const good = await run([...launcher, "run", "-c", config]);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(await Deno.readTextFile(marker), `net:[${Deno.statSync(anchor).ino}]\n`);
    await Deno.remove(marker);

    const bad = await run([setnsNoop, ...launcher, "run", "-c", config]);
    assert.equal(bad.code, 4, `a launch that failed verification is exit 4:\n${bad.stderr}`);
    assert.match(bad.stderr, /is in network namespace \d+, not the target \d+ .*; killed it/);
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(
      await Deno.stat(marker).then(() => true, () => false),
      false,
      "the misplaced workload ran",
    );
  });
});
