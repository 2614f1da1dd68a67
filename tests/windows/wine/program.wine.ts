/**
 * Pinned programs on Windows, run by the real Windows deno (under Wine in CI): the file is held
 * with `FILE_SHARE_READ` only from the digest check until `CreateProcessW` has returned, so it
 * cannot be written, deleted or replaced meanwhile; the process is created from exactly that
 * path; and with another program renamed over the pinned one as fast as possible while it is
 * started again and again, the other program never runs.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { isPlatformError } from "../../../src/platform/errors.ts";
import { kernel32 } from "../../../src/platform/windows/kernel32.ts";
import { createWindowsBackend } from "../../../src/platform/windows/mod.ts";
import { holdProgram } from "../../../src/platform/windows/program.ts";
import type { LaunchSpec } from "../../../src/platform/types.ts";
import { HELPER, ON_WINDOWS, readText, within } from "./_util.ts";

const T = { ignore: !ON_WINDOWS, sanitizeResources: false, sanitizeOps: false } as const;
if (ON_WINDOWS) kernel32();

/** Strategy `self` leaves the job's compartment alone, which Wine cannot set. */
const DOMAIN = { kind: "compartment", id: 1, source: "static" } as const;
/** Another program that behaves nothing like the helper. */
const OTHER = `${Deno.env.get("SystemRoot") ?? "C:\\windows"}\\system32\\hostname.exe`;

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A directory with `pinned.exe` (the helper) and `other.exe` (hostname.exe). */
function programs(): { dir: string; pinned: string; other: string; digest: string } {
  const dir = Deno.makeTempDirSync({ prefix: "cplauncher-pin-" });
  const pinned = `${dir}\\pinned.exe`;
  const other = `${dir}\\other.exe`;
  Deno.copyFileSync(HELPER, pinned);
  Deno.copyFileSync(OTHER, other);
  return { dir, pinned, other, digest: sha256(Deno.readFileSync(pinned)) };
}

function spec(dir: string, digest: string): LaunchSpec {
  // A bare name, found on the workload's PATH with PATHEXT: one lookup, in the backend.
  return {
    name: "pinned",
    command: ["pinned", "print", "PINNED", "", "7"],
    env: { PATH: dir },
    windowsStrategy: "self",
    sha256: digest,
  };
}

async function run(s: LaunchSpec): Promise<{ out: string; code: number }> {
  const p = await createWindowsBackend().launch(DOMAIN, s);
  const [out, , status] = await within(
    Promise.all([readText(p.stdout), readText(p.stderr), p.status]),
    30_000,
    "pinned program",
  );
  return { out, code: status.code };
}

Deno.test({
  ...T,
  name: "program: a held program can be read, but not written, deleted, renamed or replaced",
  async fn() {
    const { dir, pinned, other, digest } = programs();
    try {
      const held = await holdProgram(pinned);
      assert.equal(held.sha256, digest);
      assert.equal(sha256(Deno.readFileSync(pinned)), digest, "reading is shared");
      assert.throws(() => Deno.writeFileSync(pinned, new Uint8Array([0x4d])), "write");
      assert.throws(() => Deno.removeSync(pinned), "delete");
      assert.throws(() => Deno.renameSync(pinned, `${dir}\\moved.exe`), "rename");
      assert.throws(() => Deno.renameSync(other, pinned), "replace");
      held.release();
      held.release(); // idempotent
      Deno.renameSync(other, pinned);
      assert.notEqual(sha256(Deno.readFileSync(pinned)), digest, "replaceable once released");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  ...T,
  name: "program: a program another process holds open for writing is refused",
  async fn() {
    const { dir, pinned } = programs();
    try {
      const writer = Deno.openSync(pinned, { write: true });
      try {
        const error = await holdProgram(pinned).then(() => undefined, (e) => e);
        assert.ok(isPlatformError(error, "spawn"), String(error));
        assert.match(error.message, /another process has it open for writing or deleting/);
      } finally {
        writer.close();
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test({
  ...T,
  name: "program: the pinned file is started by its resolved path; a mismatch starts nothing",
  async fn() {
    const { dir, pinned, digest } = programs();
    try {
      const p = await createWindowsBackend().launch(DOMAIN, spec(dir, digest));
      assert.deepEqual(p.program, { path: pinned, sha256: digest });
      const [out, , status] = await within(
        Promise.all([readText(p.stdout), readText(p.stderr), p.status]),
        30_000,
        "pinned program",
      );
      assert.deepEqual({ out, code: status.code }, { out: "PINNED", code: 7 });
      // The handle was released once the process existed: the file can be replaced again.
      Deno.renameSync(`${dir}\\other.exe`, pinned);
      const refused = await run(spec(dir, digest)).then(() => undefined, (e) => e);
      assert.ok(isPlatformError(refused, "digest-mismatch"), String(refused));
      assert.match(
        refused.message,
        /^refusing to start .*pinned\.exe: sha256 is [0-9a-f]{64}, the config expects/,
      );
      // A batch file cannot be pinned: cmd.exe reads it after the hold has ended.
      Deno.writeTextFileSync(`${dir}\\job.cmd`, "@echo job\r\n");
      const batch = await run({ ...spec(dir, digest), command: ["job"] }).then(
        () => undefined,
        (e) => e,
      );
      assert.ok(isPlatformError(batch, "unsafe-program"), String(batch));
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

const SWAPPER = `
self.onmessage = (event) => {
  const [pinned, other, target, temporary, shared] = event.data;
  const counters = new Int32Array(shared);
  while (Atomics.load(counters, 0) === 0) {
    for (const source of [other, pinned]) {
      try {
        Deno.copyFileSync(source, temporary);
        Deno.renameSync(temporary, target);
        Atomics.add(counters, 1, 1);
      } catch {
        Atomics.add(counters, 2, 1);
      }
    }
  }
  self.postMessage("stopped");
};`;

/** Starts in the swap race: at least, and at most while waiting for both outcomes. */
const MIN_STARTS = 40;
const MAX_STARTS = 400;

Deno.test({
  ...T,
  name: "program: swap race: another program renamed over the pinned one never runs",
  async fn() {
    const { dir, pinned, other, digest } = programs();
    const target = `${dir}\\target.exe`;
    Deno.copyFileSync(pinned, target);
    const counters = new Int32Array(new SharedArrayBuffer(12));
    const url = URL.createObjectURL(new Blob([SWAPPER], { type: "application/javascript" }));
    const worker = new Worker(url, { type: "module" });
    const stopped = new Promise((resolve) => worker.onmessage = resolve);
    let started = 0;
    let refused = 0;
    try {
      worker.postMessage([pinned, other, target, `${dir}\\swap.tmp`, counters.buffer]);
      while (Atomics.load(counters, 1) < 4) await new Promise((r) => setTimeout(r, 10));
      // At least MIN_STARTS starts, and on until the race has gone both ways: how often the
      // swapper gets through depends on Wine's timing, and a run where it did not is no proof.
      for (let i = 0; i < MAX_STARTS && (i < MIN_STARTS || !started || !refused); i++) {
        // A moment between starts, when nothing holds the file, so the swapper can get in.
        await new Promise((r) => setTimeout(r, 5));
        let result: { out: string; code: number };
        try {
          result = await run({
            ...spec(dir, digest),
            command: [target, "print", "PINNED", "", "7"],
          });
        } catch (error) {
          // Refused: the other program was there when it was opened, or the swapper was
          // replacing the file at that very moment.
          assert.ok(
            isPlatformError(error, "digest-mismatch") ||
              (isPlatformError(error, "spawn") &&
                /open for writing or deleting/.test(error.message)),
            String(error),
          );
          refused++;
          continue;
        }
        assert.deepEqual(result, { out: "PINNED", code: 7 }, `start ${i} ran another program`);
        started++;
      }
    } finally {
      Atomics.store(counters, 0, 1);
      await within(stopped, 10_000, "swapper stop");
      worker.terminate();
      URL.revokeObjectURL(url);
    }
    const swaps = Atomics.load(counters, 1);
    const blocked = Atomics.load(counters, 2);
    Deno.stderr.writeSync(
      new TextEncoder().encode(
        `program swap race: ${started} started, ${refused} refused, ${swaps} swaps, ` +
          `${blocked} swaps blocked by the hold\n`,
      ),
    );
    Deno.removeSync(dir, { recursive: true });
    assert.ok(
      started > 0 && refused > 0,
      `the race was not exercised in ${MAX_STARTS} starts (${started} started, ${refused} refused)`,
    );
    assert.ok(blocked > 0, "no swap was ever blocked by the held handle");
  },
});
