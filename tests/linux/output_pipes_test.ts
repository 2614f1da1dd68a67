/**
 * Wider output pipes on Linux: a workload's stdout and stderr pipes are 1 MiB once it is
 * launched (the workload itself reads their size), no other pipe of the launcher changes,
 * and the launcher's own stdout grows when it is a pipe. Also the backend's warm-up (done
 * once, and launches keep the parent-death signal after it).
 *
 * Needs root (launches through setns). Run: `deno test --allow-all tests/linux/output_pipes_test.ts`
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createLinuxBackend } from "../../src/platform/linux/mod.ts";
import { OUTPUT_PIPE_BYTES, widenChildOutputPipes } from "../../src/platform/linux/pipes.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const backend = createLinuxBackend();
const domain = await backend.openStatic({ netns: `/proc/${Deno.pid}/ns/net` });
const DEFAULT_PIPE_BYTES = 64 * 1024;

/** A shell command that prints the capacity of its fd 1 and fd 2 after `delay` seconds. */
function reportPipeSizes(delay: number): string[] {
  const script = "import fcntl, sys, time\n" +
    `time.sleep(${delay})\n` +
    "print(fcntl.fcntl(1, fcntl.F_GETPIPE_SZ), fcntl.fcntl(2, fcntl.F_GETPIPE_SZ), flush=True)\n";
  return ["python3", "-c", script];
}

Deno.test("a launched workload's stdout and stderr pipes are 1 MiB", async () => {
  const child = await backend.launch(domain, {
    name: "w",
    command: reportPipeSizes(0.2),
    env: { PATH: "/usr/bin:/bin" },
  });
  const [out] = await Promise.all([new Response(child.stdout).text(), child.stderr.cancel()]);
  assert.equal((await child.status).code, 0);
  assert.equal(out.trim(), `${OUTPUT_PIPE_BYTES} ${OUTPUT_PIPE_BYTES}`);
});

Deno.test("widening one child's pipes leaves the launcher's other pipes as they are", async () => {
  const spawn = () =>
    new Deno.Command(reportPipeSizes(0.3)[0], {
      args: reportPipeSizes(0.3).slice(1),
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  const [widened, other] = [spawn(), spawn()];
  assert.equal(widenChildOutputPipes(widened.pid), 2);
  const [a, b] = await Promise.all([widened.output(), other.output()]);
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
  assert.equal(decode(a.stdout), `${OUTPUT_PIPE_BYTES} ${OUTPUT_PIPE_BYTES}`);
  assert.equal(decode(b.stdout), `${DEFAULT_PIPE_BYTES} ${DEFAULT_PIPE_BYTES}`);
});

Deno.test("the launcher widens its own stdout when it is a pipe", async () => {
  const script = join(await Deno.makeTempDir({ prefix: "cplauncher-pipes-" }), "own.ts");
  try {
    await Deno.writeTextFile(
      script,
      `import { widenOwnOutput } from "${join(ROOT, "src/platform/mod.ts")}";\n` +
        `import { libc } from "${join(ROOT, "src/platform/linux/libc.ts")}";\n` +
        "const before = libc().fcntl(1, 1032, 0);\n" +
        "await widenOwnOutput();\n" +
        "console.log(before, libc().fcntl(1, 1032, 0));\n",
    );
    const { stdout, code } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--config", join(ROOT, "deno.json"), script],
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.equal(code, 0);
    assert.equal(
      new TextDecoder().decode(stdout).trim(),
      `${DEFAULT_PIPE_BYTES} ${OUTPUT_PIPE_BYTES}`,
    );
  } finally {
    await Deno.remove(join(script, ".."), { recursive: true });
  }
});

Deno.test("warm-up: one scan and the setpriv check, once; launches after it keep the parent-death signal", async () => {
  const fresh = createLinuxBackend();
  const first = fresh.warmUp!();
  assert.equal(fresh.warmUp!(), first, "a second call returns the first call's promise");
  await first;
  const child = await fresh.launch(domain, {
    name: "w",
    command: ["sh", "-c", "exit 3"],
    env: { PATH: "/usr/bin:/bin" },
  });
  await Promise.all([child.stdout.cancel(), child.stderr.cancel()]);
  assert.equal((await child.status).code, 3);
  assert.equal((child as unknown as { pdeathsig: boolean }).pdeathsig, true);
});
