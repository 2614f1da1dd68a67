/**
 * The lock file (src/config/lock.ts) and its use by the CLI (src/cli/lock.ts) and the
 * supervisor, without processes: its name next to the config, round trip, positioned errors,
 * what `run` demands of it, what `plan --pin` records and what `validate` reports stale, and
 * that a recorded digest pins a workload (`compartments.lock expects …`, exit 4, nothing runs).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { exitCodeFor } from "../../src/cli/exit_codes.ts";
import { checkLock, lockForRun, recordPins } from "../../src/cli/lock.ts";
import {
  type Config,
  ConfigError,
  formatLock,
  lockPathFor,
  parseConfig,
  parseLock,
  type ProgramLock,
  readLock,
  writeLock,
} from "../../src/config/mod.ts";
import { Supervisor } from "../../src/supervisor/mod.ts";
import { FakePlatform } from "../support/fake_platform.ts";

const OS = Deno.build.os === "windows" ? "windows" : "linux";

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function config(workloads: Record<string, Record<string, unknown>>): Config {
  const parsed = parseConfig(JSON.stringify({
    apiVersion: "cplauncher/v1",
    anchors: { a: { netns: "/var/run/netns/a" } },
    workloads: Object.fromEntries(
      Object.entries(workloads).map(([name, w]) => [
        name,
        { anchor: "a", restart: { policy: "never" }, ...w },
      ]),
    ),
  }));
  assert.ok(parsed.ok, JSON.stringify(!parsed.ok && parsed.issues));
  return parsed.config;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cplauncher-lock-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("lock: its name follows the config's, in the same directory", () => {
  assert.equal(lockPathFor("compartments.yaml"), "compartments.lock");
  assert.equal(
    lockPathFor("/etc/cplauncher/compartments.yaml"),
    "/etc/cplauncher/compartments.lock",
  );
  assert.equal(lockPathFor("conf/lab.yml"), "conf/lab.lock");
  assert.equal(lockPathFor("C:\\cfg\\Node.YAML"), "C:\\cfg\\Node.lock");
  assert.equal(lockPathFor("/etc/config"), "/etc/config.lock");
});

Deno.test("lock: written atomically and read back; a missing file is no lock", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "compartments.lock");
    assert.equal(await readLock(path), undefined);
    const lock: ProgramLock = {
      path,
      platform: "windows",
      workloads: {
        zeta: { program: "C:\\apps\\z.exe", sha256: sha256("z") },
        alpha: { program: "C:\\apps\\a b\\#a.exe", sha256: sha256("a") },
      },
    };
    await writeLock(lock);
    const text = await Deno.readTextFile(path);
    assert.match(text, /^# The SHA-256 of each workload's program/);
    assert.ok(text.indexOf("alpha:") < text.indexOf("zeta:"), "entries are sorted");
    assert.deepEqual(await readLock(path), lock);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["compartments.lock"]);
    assert.equal(formatLock(parseLock(text, path)), text);
  });
});

Deno.test("lock: a malformed lock file is a positioned config error", () => {
  const errors = (text: string) => {
    try {
      parseLock(text, "x.lock");
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
    }
    throw new Error("parsed");
  };
  const good = `lockVersion: 1\nplatform: linux\nworkloads:\n  w:\n    program: /x\n    sha256: ${
    sha256("x")
  }\n`;
  assert.doesNotThrow(() => parseLock(good, "x.lock"));
  assert.deepEqual(errors(good.replace(/sha256: .*/, "sha256: ABC")), [
    "6:13 workloads.w.sha256: sha256 must be 64 lowercase hex digits (record it again with `cplauncher plan --pin`)",
  ]);
  assert.match(
    errors(good.replace("lockVersion: 1", "lockVersion: 2"))[0],
    /^1:14 lockVersion: lockVersion must be 1/,
  );
  assert.match(errors(good.replace("platform: linux", "platform: mac"))[0], /^2:11 platform: /);
  assert.match(errors("workloads: [\n")[0], /^2:1 \(document\): YAML /);
});

Deno.test("lock: run needs an entry for every selected sha256: auto workload, recorded on this OS", async () => {
  await withDir(async (dir) => {
    const configPath = join(dir, "compartments.yaml");
    const cfg = config({ a: { command: ["/a"], sha256: "auto" }, b: { command: ["/b"] } });
    const missing = await lockForRun(cfg, configPath, undefined, OS).catch((e) => e);
    assert.equal(missing.exitCode, 4);
    assert.match(
      missing.message,
      /^workload a: sha256 is auto, but there is no .*compartments\.lock; record it with `cplauncher plan --pin -c /,
    );
    assert.equal(await lockForRun(cfg, configPath, ["b"], OS), undefined, "a is not selected");
    const entry = { program: "/a", sha256: sha256("a") };
    await writeLock({ path: lockPathFor(configPath), platform: OS, workloads: { b: entry } });
    const noEntry = await lockForRun(cfg, configPath, undefined, OS).catch((e) => e);
    assert.match(
      noEntry.message,
      /workload a: sha256 is auto, but .*compartments\.lock has no entry for it/,
    );
    await writeLock({ path: lockPathFor(configPath), platform: OS, workloads: { a: entry } });
    assert.deepEqual((await lockForRun(cfg, configPath, undefined, OS))?.workloads, { a: entry });
    const other = OS === "linux" ? "windows" : "linux";
    await writeLock({ path: lockPathFor(configPath), platform: other, workloads: { a: entry } });
    const foreign = await lockForRun(cfg, configPath, undefined, OS).catch((e) => e);
    assert.equal(foreign.exitCode, 2);
    assert.match(foreign.message, new RegExp(`was recorded on ${other}, this is ${OS}`));
  });
});

Deno.test("lock: plan --pin records every workload, and nothing when one cannot be pinned", async () => {
  await withDir(async (dir) => {
    const configPath = join(dir, "compartments.yaml");
    await Deno.writeTextFile(join(dir, "a"), "program a");
    await Deno.writeTextFile(join(dir, "b"), "program b");
    const platform = new FakePlatform(() => ({}));
    const cfg = config({
      a: { command: [join(dir, "a")], sha256: "auto" },
      b: { command: [join(dir, "b")], sha256: sha256("program b") },
      c: { command: [join(dir, "a")] },
    });
    const pinned = await recordPins(cfg, configPath, platform);
    assert.deepEqual(pinned.problems, []);
    assert.deepEqual(pinned.lock, {
      path: join(dir, "compartments.lock"),
      platform: "linux",
      workloads: {
        a: { program: join(dir, "a"), sha256: sha256("program a") },
        b: { program: join(dir, "b"), sha256: sha256("program b") },
        c: { program: join(dir, "a"), sha256: sha256("program a") },
      },
    });
    const broken = await recordPins(
      config({
        a: { command: [join(dir, "missing")] },
        b: { command: [join(dir, "b")], sha256: "0".repeat(64) },
      }),
      configPath,
      platform,
    );
    assert.equal(broken.lock, undefined);
    assert.equal(broken.problems.length, 2);
    assert.match(broken.problems[0], /^workload a: program .*missing not found/);
    assert.match(
      broken.problems[1],
      /^workload b: .*\/b has sha256 [0-9a-f]{64}, the config expects 0{64}$/,
    );
  });
});

Deno.test("lock: validate reports stale, missing and orphaned entries", async () => {
  await withDir(async (dir) => {
    const configPath = join(dir, "compartments.yaml");
    const program = join(dir, "p");
    await Deno.writeTextFile(program, "v1");
    const platform = () => Promise.resolve(new FakePlatform(() => ({})));
    const cfg = config({ a: { command: [program], sha256: "auto" }, b: { command: [program] } });
    assert.equal(
      await checkLock(config({ b: { command: [program] } }), configPath, platform),
      undefined,
    );
    assert.deepEqual((await checkLock(cfg, configPath, platform))?.problems, [
      "workload a: sha256 is auto, but there is no compartments.lock; record it with `cplauncher plan --pin`",
    ]);
    const lockPath = lockPathFor(configPath);
    await writeLock({
      path: lockPath,
      platform: OS,
      workloads: {
        a: { program, sha256: sha256("v1") },
        gone: { program, sha256: sha256("v1") },
      },
    });
    const first = await checkLock(cfg, configPath, platform);
    assert.equal(first?.checked, 1);
    assert.deepEqual(first?.problems, [
      "workload gone: stale entry: the config has no such workload",
    ]);
    await Deno.writeTextFile(program, "v2");
    await writeLock({
      path: lockPath,
      platform: OS,
      workloads: {
        a: { program, sha256: sha256("v1") },
        b: { program: "/elsewhere", sha256: sha256("v2") },
      },
    });
    assert.deepEqual((await checkLock(cfg, configPath, platform))?.problems, [
      `workload a: stale entry: ${program} has sha256 ${sha256("v2")}, the lock file records ${
        sha256("v1")
      }`,
      `workload b: stale entry: the program is now ${program}, the lock file records /elsewhere`,
    ]);
    await writeLock({
      path: lockPath,
      platform: OS === "linux" ? "windows" : "linux",
      workloads: {},
    });
    const foreign = await checkLock(cfg, configPath, () => Promise.reject(new Error("not needed")));
    assert.deepEqual(foreign?.problems, []);
    assert.match(foreign?.skipped ?? "", /its entries can only be checked there/);
  });
});

Deno.test("lock: a recorded digest pins the workload; a mismatch is exit 4 and nothing runs", async () => {
  await withDir(async (dir) => {
    const program = join(dir, "p");
    await Deno.writeTextFile(program, "v1");
    const run = async (workload: Record<string, unknown>, lock?: ProgramLock) => {
      const platform = new FakePlatform(() => ({ exitCode: 0 }));
      const supervisor = new Supervisor({
        config: config({ w: { command: [program], ...workload } }),
        platform,
        ...(lock ? { lock } : {}),
      });
      const result = await supervisor.start();
      return { platform, result, code: exitCodeFor(result) };
    };
    const lock = (digest: string): ProgramLock => ({
      path: join(dir, "compartments.lock"),
      platform: "linux",
      workloads: { w: { program, sha256: digest } },
    });
    const ok = await run({}, lock(sha256("v1")));
    assert.equal(ok.code, 0);
    assert.equal(ok.platform.launches[0].spec.sha256, sha256("v1"));
    assert.equal(ok.platform.launches[0].spec.pinnedBy, "compartments.lock");
    const stale = await run({ sha256: "auto" }, lock(sha256("v0")));
    assert.equal(stale.code, 4);
    assert.equal(stale.platform.launches.length, 0);
    assert.match(
      stale.result.workloads[0].error ?? "",
      /^refusing to start .*\/p: sha256 is [0-9a-f]{64}, compartments\.lock expects [0-9a-f]{64}$/,
    );
    // The config's own digest wins over the lock file's.
    const own = await run({ sha256: sha256("v1") }, lock(sha256("v0")));
    assert.equal(own.code, 0);
    assert.equal(own.platform.launches[0].spec.pinnedBy, "the config");
    // auto without any lock: refused before the backend is asked.
    const none = await run({ sha256: "auto" });
    assert.equal(none.code, 4);
    assert.equal(none.platform.launches.length, 0);
    assert.match(none.result.workloads[0].error ?? "", /sha256 is auto, but no lock file pins it/);
    // Unpinned: nothing is checked.
    const unpinned = await run({});
    assert.equal(unpinned.code, 0);
    assert.equal(unpinned.platform.launches[0].spec.sha256, undefined);
  });
});
