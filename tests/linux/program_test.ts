/**
 * The Linux backend's program resolution and pinning, launching for real (into the test
 * process's own network namespace, which exercises the same setns + spawn path):
 * `command[0]` relative to `cwd`, PATH from the workload's env, the execute bit, the owner
 * check, digest refusals that start nothing, `#!` scripts, and the swap race — another
 * program renamed over the pinned one as fast as possible while it is started many times must
 * never run.
 *
 * Needs root. Run: `deno test --allow-all tests/linux/program_test.ts`
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { isPlatformError } from "../../src/platform/errors.ts";
import { createLinuxBackend } from "../../src/platform/linux/mod.ts";
import type { LaunchedProcess, LaunchSpec } from "../../src/platform/types.ts";

const backend = createLinuxBackend();
const domain = await backend.openStatic({ netns: `/proc/${Deno.pid}/ns/net` });

function report(line: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`${line}\n`));
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function output(p: LaunchedProcess): Promise<{ out: string; code: number }> {
  const [out] = await Promise.all([new Response(p.stdout).text(), p.stderr.cancel()]);
  return { out: out.trim(), code: (await p.status).code };
}

async function launchError(spec: LaunchSpec): Promise<{ kind: string; message: string }> {
  try {
    const p = await backend.launch(domain, spec);
    await output(p);
  } catch (error) {
    assert.ok(isPlatformError(error), `not a PlatformError: ${error}`);
    return { kind: error.kind, message: error.message };
  }
  throw new Error(`${JSON.stringify(spec.command)} started, but should not have`);
}

/** A temporary directory with executable scripts `name → body`. */
async function scripts(files: Record<string, string>, mode = 0o755): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "cplauncher-program-" });
  await Deno.chmod(dir, 0o755);
  for (const [name, body] of Object.entries(files)) {
    await Deno.writeTextFile(join(dir, name), `#!/bin/sh\n${body}\n`);
    await Deno.chmod(join(dir, name), mode);
  }
  return dir;
}

Deno.test("a relative command starts from the workload's cwd, pinned or not", async () => {
  const dir = await scripts({ server: 'echo "server in $(pwd)"' });
  try {
    const digest = sha256(await Deno.readFile(join(dir, "server")));
    for (const pin of [{}, { sha256: digest }]) {
      const p = await backend.launch(domain, {
        name: "w",
        command: ["./server"],
        env: {},
        cwd: dir,
        ...pin,
      });
      assert.deepEqual(p.program, { path: join(dir, "server"), ...pin });
      assert.deepEqual(await output(p), { out: `server in ${dir}`, code: 0 });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a bare name is found on the workload's own PATH, not the launcher's", async () => {
  const first = await scripts({ tool: "echo first" });
  const second = await scripts({ tool: "echo second" });
  try {
    const p = await backend.launch(domain, {
      name: "w",
      command: ["tool"],
      env: { PATH: `/nonexistent:${second}:${first}` },
    });
    assert.equal(p.program.path, join(second, "tool"));
    assert.deepEqual(await output(p), { out: "second", code: 0 });
    // Relative PATH entries are relative to the cwd.
    const relative = await backend.launch(domain, {
      name: "w",
      command: ["tool"],
      env: { PATH: "." },
      cwd: first,
    });
    assert.deepEqual(await output(relative), { out: "first", code: 0 });
    const missing = await launchError({ name: "w", command: ["tool"], env: {}, cwd: first });
    assert.equal(missing.kind, "command-not-found");
    assert.match(
      missing.message,
      new RegExp(`^program "tool" not found \\(searched the launcher's PATH: .*; cwd ${first}\\)$`),
    );
  } finally {
    await Deno.remove(first, { recursive: true });
    await Deno.remove(second, { recursive: true });
  }
});

Deno.test("a file without an execute bit is refused with one line naming it and the cwd", async () => {
  const dir = await scripts({ server: "echo must-not-run" }, 0o644);
  try {
    const relative = await launchError({ name: "w", command: ["./server"], env: {}, cwd: dir });
    assert.equal(relative.kind, "command-not-found");
    assert.equal(
      relative.message,
      `program "./server" cannot be started: ${dir}/server has mode 0644, no execute bit ` +
        `(searched ${dir}; cwd ${dir})`,
    );
    const onPath = await launchError({ name: "w", command: ["server"], env: { PATH: dir } });
    assert.match(onPath.message, /has mode 0644, no execute bit \(searched the workload's PATH/);
    assert.doesNotMatch(relative.message + onPath.message, /\n/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a digest mismatch is refused before anything runs", async () => {
  const dir = await scripts({ server: `touch "$(dirname "$(readlink -f "$0")")/ran"` });
  try {
    const e = await launchError({
      name: "w",
      command: ["./server"],
      env: {},
      cwd: dir,
      sha256: "0".repeat(64),
      pinnedBy: "compartments.lock",
    });
    assert.equal(e.kind, "digest-mismatch");
    assert.match(
      e.message,
      new RegExp(
        `^refusing to start ${dir}/server: sha256 is [0-9a-f]{64}, compartments\\.lock expects 0{64}$`,
      ),
    );
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(await Deno.stat(join(dir, "ran")).then(() => true, () => false), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a pinned #! script runs; $0 resolves to its real path; the fd is closed after exit", async () => {
  const dir = await scripts({ run: 'readlink -f "$0"; cat "$0" | wc -l' });
  try {
    const path = join(dir, "run");
    const digest = sha256(await Deno.readFile(path));
    const held = () =>
      [...Deno.readDirSync("/proc/self/fd")].filter((e) => {
        try {
          return Deno.readLinkSync(`/proc/self/fd/${e.name}`) === path;
        } catch {
          return false;
        }
      }).length;
    const p = await backend.launch(domain, { name: "w", command: [path], env: {}, sha256: digest });
    assert.equal(held(), 1, "the launcher holds the pinned file while the workload runs");
    assert.deepEqual(await output(p), { out: `${path}\n2`, code: 0 });
    assert.equal(held(), 0, "the descriptor is released once the workload has exited");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pinned programs must be root's and writable by nobody else, unless programOwner: any", async () => {
  const dir = await scripts({ server: "echo ran" });
  const path = join(dir, "server");
  const spec = { name: "w", command: [path], env: {}, sha256: sha256(await Deno.readFile(path)) };
  try {
    await Deno.chmod(path, 0o775);
    const group = await launchError(spec);
    assert.equal(group.kind, "unsafe-program");
    assert.match(group.message, /its mode 0775 lets its group change it .*programOwner: any/);
    await Deno.chmod(path, 0o757);
    assert.match((await launchError(spec)).message, /its mode 0757 lets anyone change it/);
    await Deno.chmod(path, 0o755);
    await Deno.chown(path, 1000, 0);
    const owner = await launchError(spec);
    assert.equal(owner.kind, "unsafe-program");
    assert.match(owner.message, /it is owned by uid 1000, not root/);
    const allowed = await backend.launch(domain, { ...spec, programOwner: "any" });
    assert.deepEqual(await output(allowed), { out: "ran", code: 0 });
    // Without a pin nothing is checked, as before.
    const unpinned = await backend.launch(domain, { name: "w", command: [path], env: {} });
    assert.deepEqual(await output(unpinned), { out: "ran", code: 0 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Starts `program` (pinned to the digest of `pinned`) `times` times while another process
 * atomically renames `pinned` and `other` over it in a loop. Every start must print the pinned
 * digest; returns how many started and how many were refused.
 */
async function race(
  dir: string,
  pinned: string,
  other: string,
  command: (program: string) => string[],
  times: number,
): Promise<{ started: number; refused: number; swaps: number }> {
  const program = join(dir, "program");
  await Deno.link(pinned, program);
  const expected = sha256(await Deno.readFile(pinned));
  const swapper = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const [a, b, p, t] = Deno.args; let n = 0;
       Deno.addSignalListener("SIGTERM", () => { console.log(n); Deno.exit(0); });
       for (;;) {
         for (const f of [b, a]) { Deno.linkSync(f, t); Deno.renameSync(t, p); n++; }
         if (n % 512 === 0) await new Promise((r) => setTimeout(r, 0));
       }`,
      pinned,
      other,
      program,
      join(dir, "swap.tmp"),
    ],
    stdout: "piped",
  }).spawn();
  let started = 0;
  let refused = 0;
  try {
    await new Promise((r) => setTimeout(r, 300)); // swapping at full speed
    for (let i = 0; i < times; i++) {
      let p: LaunchedProcess;
      try {
        p = await backend.launch(domain, {
          name: "race",
          command: command(program),
          env: {},
          sha256: expected,
        });
      } catch (error) {
        assert.ok(isPlatformError(error, "digest-mismatch"), String(error));
        refused++;
        continue;
      }
      const { out, code } = await output(p);
      assert.equal(out.split(/\s/)[0], expected, `start ${i} ran another program: ${out}`);
      assert.equal(code, 0);
      started++;
    }
  } finally {
    swapper.kill("SIGTERM");
  }
  const swaps = Number((await new Response(swapper.stdout).text()).trim());
  await swapper.status;
  return { started, refused, swaps };
}

Deno.test("swap race: a binary swapped in between check and exec never runs (ELF)", async () => {
  const dir = await scripts({});
  try {
    // The program prints the digest of its own executable image; the other one is the same
    // binary with a byte appended, so it runs just as well but prints another digest.
    const pinned = join(dir, "pinned");
    const other = join(dir, "other");
    const binary = await Deno.readFile("/usr/bin/sha256sum");
    await Deno.writeFile(pinned, binary, { mode: 0o755 });
    await Deno.writeFile(other, new Uint8Array([...binary, 0x0a]), { mode: 0o755 });
    const r = await race(dir, pinned, other, (p) => [p, "/proc/self/exe"], 120);
    report(`ELF: ${r.started} started, ${r.refused} refused, ${r.swaps} swaps meanwhile`);
    assert.ok(r.started > 0 && r.refused > 0, `the race was not exercised: ${JSON.stringify(r)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("swap race: a script swapped in between check and exec never runs (#!)", async () => {
  // Each script prints the digest of the file its interpreter reads ($0).
  const dir = await scripts({
    pinned: 'sha256sum "$0"',
    other: 'sha256sum "$0" # another program',
  });
  try {
    const r = await race(dir, join(dir, "pinned"), join(dir, "other"), (p) => [p], 120);
    report(`script: ${r.started} started, ${r.refused} refused, ${r.swaps} swaps meanwhile`);
    assert.ok(r.started > 0 && r.refused > 0, `the race was not exercised: ${JSON.stringify(r)}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
