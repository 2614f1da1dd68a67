/**
 * The Windows CLI as shipped — `src/main.ts` with the launcher's permission set, run by the
 * real Windows deno.exe under Wine 10 — from the outside: `--version`, `validate`,
 * `plan --platform windows`, `doctor`, `doctor --selftest`, and `run` with a static
 * compartment-1 anchor whose workload (the albums service, started with the Windows deno.exe)
 * is reached over HTTP from Linux, then stopped by Ctrl-C typed into the launcher's console.
 *
 * Runs in a WINEPREFIX of its own, so that `wineserver -w` returning after each command proves
 * that no Windows process of it was left behind.
 *
 * What Wine cannot show: real compartments (its compartment calls are stubs, so every anchor
 * here is compartment 1 with strategy `self`), HCN, Ctrl-Break reaching a workload's own
 * handler, and Windows ending a process once its CTRL_SHUTDOWN handler returns.
 */
import assert from "node:assert/strict";
import { VERSION } from "../../src/version.ts";
import {
  prepareDenoDir,
  privatePrefix,
  runInWine,
  wineCommand,
  type WineEnv,
  type WineRunOptions,
  wineSetup,
  wineText,
} from "./_wine.ts";

const REPO = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const CLI = ["--node-modules-dir=none", "--cached-only", "-P=launcher", "src/main.ts"];

/** A path inside the Wine root as Windows sees it (drive Z: is the root). */
function windowsPath(pathInRoot: string): string {
  return `Z:${pathInRoot.replaceAll("/", "\\")}`;
}

const enc = new TextEncoder();
function report(line: string): void {
  Deno.stderr.writeSync(enc.encode(`${line}\n`));
}

interface Cli {
  readonly env: WineEnv;
  readonly vars: Record<string, string>;
  run(args: string[], options?: WineRunOptions): ReturnType<typeof runInWine>;
}

async function prepare(): Promise<Cli> {
  const env = await wineSetup();
  const denoDir = await prepareDenoDir(env, "tests/windows/wine/");
  const vars = { DENO_DIR: denoDir, WINEPREFIX: await privatePrefix(env, "cli") };
  return {
    env,
    vars,
    run: (args, options = {}) =>
      runInWine(env, env.denoExe, ["run", ...CLI, ...args], {
        ...options,
        env: { ...vars, ...options.env },
      }),
  };
}

/** Windows processes of this prefix still alive on the Linux side, by a marker in argv. */
async function linuxProcessesWith(marker: string): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmdline = (await Deno.readTextFile(`/proc/${e.name}/cmdline`)).replaceAll("\0", " ");
      if (cmdline.includes(marker)) found.push(`${e.name}: ${cmdline}`);
    } catch { /* gone */ }
  }
  return found;
}

async function httpStatus(url: string): Promise<number | string> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await r.body?.cancel();
    return r.status;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

Deno.test({
  name: "wine cli: the Windows CLI as shipped, from --version to a run stopped with Ctrl-C",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const cli = await prepare();

    await t.step("--version prints the version", async () => {
      const r = await cli.run(["--version"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), VERSION);
    });

    await t.step("validate accepts the Windows examples", async () => {
      for (const file of ["examples/windows-static.yaml", "examples/windows/compartments.yaml"]) {
        const r = await cli.run(["validate", "-c", file], { env: { NODE_NAME: "winnode" } });
        assert.equal(r.code, 0, `${file}: ${r.stderr}`);
        assert.match(r.stdout + r.stderr, /ok \(1 anchor, 1 workload\)/);
      }
    });

    await t.step("plan --platform windows describes the job strategy", async () => {
      const r = await cli.run([
        "plan",
        "--platform",
        "windows",
        "-c",
        "examples/windows-static.yaml",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /platform: windows/);
      assert.match(r.stdout, /use compartment 2 \(Windows\), checked to exist/);
      assert.match(r.stdout, /SetJobCompartmentId/);
    });

    await t.step("doctor lists the host compartment", async () => {
      const r = await cli.run(["doctor", "--no-pods"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^compartment:1 .*\(launcher's own\)/m);
      assert.match(r.stdout, /^ {4}127\.0\.0\.1 if\d+ Preferred$/m);
    });

    await t.step("doctor --selftest reports the stubbed calls as unknown and exits 4", async () => {
      const r = await cli.run(["doctor", "--selftest", "--output", "json"]);
      assert.equal(r.code, 4, `${r.stdout}\n${r.stderr}`);
      const selftest = JSON.parse(r.stdout);
      const answer = (id: string) =>
        selftest.checks.find((c: { id: string }) => c.id === id)?.answer;
      assert.equal(selftest.platform, "windows");
      assert.equal(selftest.sound, false);
      assert.equal(selftest.recommended, null);
      assert.ok(selftest.environment.some((e: string) => e.startsWith("Wine ")));
      for (
        const id of [
          "compartment-api",
          "compartments",
          "hcn-maps-pod-ips",
          "new-thread-inherits",
          "child-inherits-thread-compartment",
          "restore-clears-override",
          "job-listens-in-compartment",
          "job-compartment-cleared",
          "dns-in-compartment",
        ]
      ) {
        assert.equal(answer(id), "unknown", `${id}: ${JSON.stringify(selftest.checks)}`);
      }
      const api = selftest.checks.find((c: { id: string }) => c.id === "compartment-api");
      assert.ok(
        api.evidence.some((e: string) => /success for an id no compartment has/.test(e)),
        JSON.stringify(api),
      );
      assert.equal(answer("deno-version"), "yes");
      // Not stubs: answered from what happened. No console here, so no Ctrl-Break; the
      // hcsshim-style CTRL_SHUTDOWN needs none and reaches a re-executed launcher's handler.
      assert.equal(answer("ctrl-break-reaches-child"), "no");
      assert.match(r.stderr, /Ctrl-Break cannot reach workloads here/);
      assert.equal(
        r.stderr.match(/Ctrl-Break cannot reach workloads here/g)?.length,
        1,
        "the fallback is logged once",
      );
      assert.equal(answer("ctrl-shutdown-reaches-handler"), "yes", JSON.stringify(selftest));
      for (const c of selftest.checks) report(`wine cli: selftest ${c.answer} ${c.id}`);
    });

    await t.step(
      "run: the workload answers over HTTP; Ctrl-C stops it and leaves nothing",
      async () => {
        const port = 20000 + Math.floor(Math.random() * 20000);
        const dir = "/opt/cplauncher-test/cli";
        await Deno.mkdir(`${cli.env.root}${dir}`, { recursive: true });
        const marker = `cli-run-${port}`;
        const config = `${dir}/${marker}.yaml`;
        await Deno.writeTextFile(
          `${cli.env.root}${config}`,
          JSON.stringify({
            apiVersion: "cplauncher/v1",
            anchors: { host: { compartment: 1 } },
            workloads: {
              albums: {
                anchor: "host",
                command: [
                  windowsPath(cli.env.denoExe),
                  "run",
                  "--node-modules-dir=none",
                  "--cached-only",
                  "--allow-net",
                  "--allow-env",
                  "examples/albums/main.ts",
                ],
                cwd: windowsPath(REPO),
                env: { PORT: String(port) },
                port,
                stopTimeout: "10s",
                restart: { policy: "always" },
                // Wine has no SetJobCompartmentId; `self` keeps the kill-on-close job.
                windows: { strategy: "self" },
              },
            },
          }),
        );
        const child = wineCommand(
          cli.env,
          cli.env.denoExe,
          ["run", ...CLI, "run", "-c", windowsPath(config)],
          { env: cli.vars, console: true, stdin: true },
        ).spawn();
        let output = "";
        const reading = (async () => {
          for await (const chunk of child.stdout) output += wineText(chunk, true);
        })();
        const errors = (async () => {
          for await (const chunk of child.stderr) output += wineText(chunk, true);
        })();
        const stdin = child.stdin.getWriter();
        const kill = setTimeout(() => child.kill("SIGKILL"), 240_000);
        try {
          const url = `http://127.0.0.1:${port}/albums`;
          let status: number | string = "not tried";
          const deadline = performance.now() + 120_000;
          while (status !== 200 && performance.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 500));
            status = await httpStatus(url);
          }
          assert.equal(status, 200, `no HTTP 200 from ${url}:\n${output}`);
          const albums = await (await fetch(url)).json();
          assert.equal(albums[0].title, "Blue Train");
          const listens = performance.now() + 30_000;
          while (!output.includes(`listens on port ${port} inside the anchor`)) {
            assert.ok(performance.now() < listens, `listener not verified:\n${output}`);
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
          // A console control event, as an operator's Ctrl-C in the launcher's console.
          await stdin.write(new Uint8Array([3]));
          const exit = await child.status;
          await Promise.all([reading, errors]);
          assert.match(output, /CTRL_C_EVENT: stopping the workloads/, output);
          assert.match(output, /stopping workload albums \(pid \d+\): launcher stopping/, output);
          assert.equal(exit.code, 0, `launcher exit:\n${output}`);
          assert.equal(output.match(/workload albums started: pid/g)?.length, 1, output);
          assert.notEqual(await httpStatus(url), 200, "the workload still answers");
          // `wineserver -w` returned (the command ended), and no process of the run remains.
          assert.deepEqual(await linuxProcessesWith(marker), []);
          assert.deepEqual(await linuxProcessesWith("examples/albums/main.ts"), []);
        } finally {
          clearTimeout(kill);
          await stdin.close().catch(() => {});
          await Deno.remove(`${cli.env.root}${config}`).catch(() => {});
        }
      },
    );
  },
});
