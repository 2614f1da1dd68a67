/**
 * Program pinning through the CLI, with real processes in a real network namespace: the
 * relative command in a `cwd` from the README starts with its digest pinned; `sha256: auto`
 * without a lock file refuses to start; `plan --pin` records `compartments.lock` next to the
 * config, `validate` checks it, `run` enforces it; a changed program is reported stale by
 * `validate` and refused by `run` with exit 4, and nothing runs.
 *
 * Needs root. Run: `deno test --allow-all tests/e2e/pinning_test.ts`
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { parse } from "yaml";
import { createTestNetwork, leftovers } from "../support/netns.ts";
import { startLauncher } from "../support/albums_scenario.ts";

const PREFIX = "cplpin";

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

interface Cli {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function cli(...args: string[]): Promise<Cli> {
  const launcher = startLauncher(args);
  const { code } = await launcher.status;
  return { code, stdout: launcher.stdout(), stderr: launcher.stderr() };
}

Deno.test({
  name: "pinning: cwd-relative program, sha256 auto, plan --pin, validate, run, stale lock",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const net = await createTestNetwork(PREFIX);
    const dir = await Deno.makeTempDir({ prefix: "cplauncher-pinning-" });
    try {
      await Deno.chmod(dir, 0o755);
      const host = await net.addHost("pod", net.addr(10));
      const server = join(dir, "server");
      const runs = join(dir, "runs");
      const writeServer = async (version: string) => {
        await Deno.writeTextFile(server, `#!/bin/sh\necho "served ${version}"\necho >> ${runs}\n`);
        await Deno.chmod(server, 0o755);
        return sha256(await Deno.readFile(server));
      };
      const runCount = () => Deno.readTextFile(runs).then((t) => t.length, () => 0);
      const configPath = join(dir, "compartments.yaml");
      const lockPath = join(dir, "compartments.lock");
      const writeConfig = (workload: Record<string, unknown>) =>
        Deno.writeTextFile(
          configPath,
          JSON.stringify({
            apiVersion: "cplauncher/v1",
            anchors: { a: { netns: host.path } },
            workloads: {
              w: {
                anchor: "a",
                command: ["./server"],
                cwd: dir,
                restart: { policy: "never" },
                ...workload,
              },
            },
          }),
        );

      // The README's case: a relative command in a cwd, its digest in the config.
      const v1 = await writeServer("v1");
      await writeConfig({ sha256: v1 });
      const pinned = await cli("run", "-c", configPath);
      assert.equal(pinned.code, 0, pinned.stderr);
      assert.match(pinned.stdout, /\[w\] served v1/);
      assert.match(pinned.stderr, new RegExp(`runs ${server}: sha256 ${v1} verified`));
      assert.equal(await runCount(), 1);

      // auto without a lock file: refused before anything runs, and validate says so.
      await writeConfig({ sha256: "auto" });
      const noLock = await cli("run", "-c", configPath);
      assert.equal(noLock.code, 4, noLock.stderr);
      assert.match(
        noLock.stderr,
        /workload w: sha256 is auto, but there is no .*compartments\.lock; record it with `cplauncher plan --pin/,
      );
      const unpinned = await cli("validate", "-c", configPath);
      assert.equal(unpinned.code, 2);
      assert.match(
        unpinned.stderr,
        /workload w: sha256 is auto, but there is no compartments\.lock/,
      );
      assert.equal(await runCount(), 1);

      // plan --pin records the lock file; validate and run accept it.
      const pin = await cli("plan", "-c", configPath, "--pin");
      assert.equal(pin.code, 0, pin.stderr);
      assert.match(pin.stderr, /recorded 1 program digest\(s\) in .*compartments\.lock/);
      assert.match(pin.stdout, new RegExp(`sha256: ${v1} \\(from compartments\\.lock\\)`));
      assert.deepEqual(parse(await Deno.readTextFile(lockPath)), {
        lockVersion: 1,
        platform: "linux",
        workloads: { w: { program: server, sha256: v1 } },
      });
      const valid = await cli("validate", "-c", configPath);
      assert.equal(valid.code, 0, valid.stderr);
      assert.match(
        valid.stdout,
        /: ok \(1 anchor, 1 workload; .*compartments\.lock: 1 program\(s\) match\)/,
      );
      const locked = await cli("run", "-c", configPath);
      assert.equal(locked.code, 0, locked.stderr);
      assert.match(locked.stderr, new RegExp(`runs ${server}: sha256 ${v1} verified`));
      assert.equal(await runCount(), 2);

      // The program changes: validate reports the entry stale, run refuses (exit 4), nothing
      // runs — also for a workload without sha256 in the config, which the lock pins too.
      const v2 = await writeServer("v2");
      const stale = await cli("validate", "-c", configPath);
      assert.equal(stale.code, 2);
      assert.match(
        stale.stderr,
        new RegExp(
          `workload w: stale entry: ${server} has sha256 ${v2}, the lock file records ${v1}`,
        ),
      );
      for (const workload of [{ sha256: "auto" }, {}]) {
        await writeConfig(workload);
        const refused = await cli("run", "-c", configPath);
        assert.equal(refused.code, 4, refused.stderr);
        assert.match(
          refused.stderr,
          new RegExp(
            `refusing to start ${server}: sha256 is ${v2}, compartments\\.lock expects ${v1}`,
          ),
        );
      }
      assert.equal(await runCount(), 2);

      // Recording again accepts the new program.
      await writeConfig({ sha256: "auto" });
      assert.equal((await cli("plan", "-c", configPath, "--pin")).code, 0);
      const again = await cli("run", "-c", configPath);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /\[w\] served v2/);
      assert.equal(await runCount(), 3);

      // A program that cannot be pinned records nothing and leaves the lock file as it was.
      const before = await Deno.readTextFile(lockPath);
      await writeConfig({ command: ["./missing"] });
      const broken = await cli("plan", "-c", configPath, "--pin");
      assert.equal(broken.code, 4);
      assert.match(
        broken.stderr,
        new RegExp(`workload w: program "\\./missing" not found \\(searched ${dir}; cwd ${dir}\\)`),
      );
      assert.equal(await Deno.readTextFile(lockPath), before);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await net.remove();
    }
  },
});

Deno.test("pinning fixtures leave nothing behind", async () => {
  assert.deepEqual(await leftovers(PREFIX), []);
});
