/**
 * What `cplauncher exec` (the k2s launcher's command line) does differently on Windows, run
 * by the real Windows deno (under Wine in CI): `-wait-tree` waits for the job to empty, the
 * program gets `COMPARTMENT_ID_ATTACH` (and the `-env-name` variable with `-self-env`), and
 * the launcher log goes to `%SystemDrive%\var\log\cplauncher`.
 *
 * Not proven here: a real compartment (Wine has none), so the environment check uses strategy
 * `self` in compartment 1, which places nothing.
 */
import assert from "node:assert/strict";
import { domainEnv } from "../../../src/cli/exec.ts";
import { spawnInJob } from "../../../src/platform/windows/launch.ts";
import { kernel32 } from "../../../src/platform/windows/kernel32.ts";
import { iphlpapi } from "../../../src/platform/windows/iphlpapi.ts";
import { createWindowsBackend } from "../../../src/platform/windows/mod.ts";
import { W } from "../../../src/platform/windows/structs.ts";
import type { CompartmentDomain } from "../../../src/platform/types.ts";
import { defaultLauncherLogDir, LauncherLogFile } from "../../../src/supervisor/launcher_log.ts";
import { HELPER, ON_WINDOWS, readText, readUntil, within } from "./_util.ts";

const T = { ignore: !ON_WINDOWS, sanitizeResources: false } as const;
if (ON_WINDOWS) {
  kernel32();
  iphlpapi();
}

function running(pid: number): boolean {
  const k = kernel32();
  const h = k.OpenProcess(W.SYNCHRONIZE | W.PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
  if (h === null) return false;
  try {
    return k.WaitForSingleObject(h, 0) !== W.WAIT_OBJECT_0;
  } finally {
    k.CloseHandle(h);
  }
}

Deno.test({
  ...T,
  name: "k2s exec: -wait-tree waits until the job is empty, then gives the program's own code",
  async fn() {
    const p = spawnInJob({
      name: "wait-tree",
      argv: [HELPER, "tree-exit"],
      env: Deno.env.toObject(),
      strategy: "job",
      compartmentId: undefined,
      waitTree: true,
    });
    const reader = p.stdout.getReader();
    const line = await within(readUntil(reader, /grandchild \d+\n/), 20_000, "grandchild pid");
    const grandchild = Number(/grandchild (\d+)/.exec(line)![1]);
    // The program itself exits at once; its grandchild sleeps on.
    let settled = false;
    p.status.then(() => settled = true);
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(settled, false, "status settled while the grandchild still ran");
    assert.ok(running(grandchild), "the grandchild is still running");
    assert.deepEqual(p.processIds(), [grandchild], "only the grandchild is left in the job");
    p.kill();
    const status = await within(p.status, 20_000, "status after the job emptied");
    assert.equal(status.code, 0, "the program's own exit code, not the kill's");
    assert.equal(running(grandchild), false);
    reader.releaseLock();
    await Promise.all([readText(p.stdout), readText(p.stderr)]);
  },
});

Deno.test({
  ...T,
  name: "k2s exec: the program gets COMPARTMENT_ID_ATTACH, and with -self-env COMPARTMENT_ID",
  async fn() {
    const backend = createWindowsBackend();
    const domain: CompartmentDomain = { kind: "compartment", id: 1, source: "static" };
    for (const name of ["COMPARTMENT_ID_ATTACH", "COMPARTMENT_ID"]) {
      const child = await backend.launch(domain, {
        name: "env",
        command: [HELPER, "env", name],
        env: domainEnv(domain, true, "COMPARTMENT_ID"),
        windowsStrategy: "self",
        compartmentEnvName: "COMPARTMENT_ID",
      });
      const [out, , status] = await within(
        Promise.all([readText(child.stdout), readText(child.stderr), child.status]),
        20_000,
        `helper env ${name}`,
      );
      assert.equal(status.code, 0);
      assert.equal(out, "1", name);
    }
    assert.deepEqual(domainEnv(domain, false, "COMPARTMENT_ID"), { COMPARTMENT_ID_ATTACH: "1" });
  },
});

Deno.test({
  ...T,
  name: "k2s exec: the launcher log file goes to %SystemDrive%\\var\\log\\cplauncher",
  fn() {
    const dir = defaultLauncherLogDir("windows", (name) => Deno.env.get(name));
    const drive = Deno.env.get("SystemDrive") ?? "C:";
    assert.equal(dir.toLowerCase(), `${drive}\\var\\log\\cplauncher`.toLowerCase());
    const file = LauncherLogFile.open(dir, 4242, 1_700_000_000_000);
    try {
      assert.equal(file.path, `${dir}\\cplauncher-4242-1700000000.log`);
      file.write(new TextEncoder().encode("12:00:00.000 ERROR exec: written on Windows\n"));
      assert.deepEqual(file.excerpt(5), ["12:00:00.000 ERROR exec: written on Windows"]);
      assert.deepEqual(file.prune({ keep: 30 }).failed, []);
    } finally {
      file.close();
      Deno.removeSync(file.path);
    }
  },
});
