/**
 * The launcher as users start it: `deno task cplauncher` runs the permissions its task line
 * grants, not the test runner's. Entering and verifying a network namespace goes through
 * /proc/PID/ns/net, which Deno grants only with --allow-all (read access is not enough), so a
 * task (or a compile task) that lists single permissions fails on every Linux node; this
 * test runs the task as written in deno.json.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

Deno.test({
  name: "permissions: `deno task cplauncher` as written enters a netns and verifies it",
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
          "task",
          "--quiet",
          "cplauncher",
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
