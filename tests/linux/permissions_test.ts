/**
 * The launcher as shipped runs with the permission set `launcher` from deno.json (the
 * `cplauncher` and `compile:*` tasks), not with the test runner's --allow-all. Entering and
 * verifying a network namespace goes through /proc/PID/ns/net, which Deno only grants with
 * all permissions; this test runs the real entrypoint with exactly that set.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test({
  name: "permissions: the launcher with the shipped permission set enters a netns and verifies it",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const netns = `cplperm${Deno.pid}`;
    const logs = await Deno.makeTempDir({ prefix: "cplauncher-perm-" });
    const add = await new Deno.Command("ip", { args: ["netns", "add", netns] }).output();
    assert.equal(add.code, 0, new TextDecoder().decode(add.stderr));
    try {
      const expected = (await Deno.stat(`/var/run/netns/${netns}`)).ino;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-P=launcher",
          join(ROOT, "src/main.ts"),
          "exec",
          "--netns",
          netns,
          "-log-dir",
          logs,
          "--",
          "/bin/sh",
          "-c",
          "stat -L -c %i /proc/self/ns/net",
        ],
        cwd: ROOT,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `launcher failed:\n${stderr}`);
      assert.equal(new TextDecoder().decode(out.stdout).trim(), String(expected));
      assert.doesNotMatch(stderr, /Requires all access/);
    } finally {
      await new Deno.Command("ip", { args: ["netns", "del", netns] }).output();
      await Deno.remove(logs, { recursive: true });
    }
  },
});
