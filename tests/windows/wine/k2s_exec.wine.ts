/**
 * What `cplauncher exec` (the k2s launcher's command line) does differently on Windows, run
 * by the real Windows deno (under Wine in CI): `-wait-tree` waits for the job to empty, the
 * program gets `COMPARTMENT_ID_ATTACH` (and the `-env-name` variable with `-self-env`), and
 * the launcher log goes to `%SystemDrive%\var\log\cplauncher`.
 *
 * Not proven here: a real compartment (Wine has none: every id "exists" and nothing is placed),
 * so only strategy `self` runs a program, and `-compartment 42` is accepted by Wine's stub.
 */
import assert from "node:assert/strict";
import { domainEnv, runExec } from "../../../src/cli/exec.ts";
import type { Io } from "../../../src/cli/io.ts";
import { spawnInJob } from "../../../src/platform/windows/launch.ts";
import { kernel32 } from "../../../src/platform/windows/kernel32.ts";
import { iphlpapi } from "../../../src/platform/windows/iphlpapi.ts";
import { createWindowsBackend } from "../../../src/platform/windows/mod.ts";
import type { CompartmentDomain } from "../../../src/platform/types.ts";
import { defaultLauncherLogDir, LauncherLogFile } from "../../../src/supervisor/launcher_log.ts";
import { HELPER, ON_WINDOWS, readText, readUntil, running, within } from "./_util.ts";

const T = { ignore: !ON_WINDOWS, sanitizeResources: false } as const;
if (ON_WINDOWS) {
  kernel32();
  iphlpapi();
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

/**
 * Runs `cplauncher ARGS` (the k2s form: exec without the word) in this process, collecting
 * what it prints. The exec entry point is called directly: importing the whole CLI would make
 * the Windows deno type-check every command under Wine, which takes minutes.
 */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const dec = new TextDecoder();
  const io: Io = {
    out: (text) => out += text,
    err: (text) => err += text,
    outBytes: (bytes) => out += dec.decode(bytes),
    errBytes: (bytes) => err += dec.decode(bytes),
  };
  const code = await runExec(args, io, (error) => {
    err += `cplauncher: ${error instanceof Error ? error.message : String(error)}\n`;
    return 2;
  });
  return { code, out, err };
}

Deno.test({
  ...T,
  // Compartment 1, not the README's 42: Wine's compartment calls are stubs, and a compartment
  // the launcher's thread cannot actually enter is refused as not existing.
  name: "k2s exec: README pure environment mode, -compartment N -self-env -no-inject -- myapp",
  async fn() {
    const logs = await Deno.makeTempDir({ prefix: "cplauncher-k2s-" });
    try {
      for (const name of ["COMPARTMENT_ID", "COMPARTMENT_ID_ATTACH"]) {
        const run = await cli([
          "-compartment",
          "1",
          "-self-env",
          "-no-inject",
          "-log-dir",
          logs,
          "--",
          HELPER,
          "env",
          name,
        ]);
        assert.equal(run.code, 0, run.err);
        assert.equal(run.out, "1\n", name);
        assert.match(run.err, /\(-no-inject accepted for compatibility and ignored\)/);
        assert.match(run.err, /strategy self/);
      }
      // Both runs share this process's pid, so within one second they share a file too.
      const files = [...Deno.readDirSync(logs)].map((e) => e.name);
      assert.ok(files.length >= 1 && files.length <= 2, files.join(", "));
      assert.ok(files.every((f) => /^cplauncher-\d+-\d+\.log$/.test(f)), files.join(", "));
      const text = files.map((f) => Deno.readTextFileSync(`${logs}\\${f}`)).join("");
      assert.equal(text.match(/set COMPARTMENT_ID_ATTACH=1 for the program/g)?.length, 2);
    } finally {
      await Deno.remove(logs, { recursive: true });
    }
  },
});

Deno.test({
  ...T,
  name: "k2s exec: README dry run, -compartment N -dry-run -dll ... -- myapp starts nothing",
  async fn() {
    const logs = await Deno.makeTempDir({ prefix: "cplauncher-k2s-" });
    try {
      const run = await cli([
        "-compartment",
        "1",
        "-dry-run",
        "-dll",
        "C:\\k2s\\cni\\cphook.dll",
        "-log-dir",
        logs,
        "--output",
        "json",
        "--",
        HELPER,
        "print",
        "started",
        "",
        "0",
      ]);
      assert.equal(run.code, 0, run.err);
      const plan = JSON.parse(run.out);
      assert.equal(plan.domain, "compartment 1 (static)");
      assert.deepEqual(plan.env, { COMPARTMENT_ID_ATTACH: "1" });
      assert.match(plan.launch, /job object/);
      assert.doesNotMatch(run.out + run.err, /started pid/, "nothing was started");
    } finally {
      await Deno.remove(logs, { recursive: true });
    }
  },
});
