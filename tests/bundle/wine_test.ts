/**
 * The same bundle under the real Windows deno (`@deno/win32-x64`, as for the Wine suite) in
 * Wine 10: the documented alternative to a compiled `cplauncher.exe` is `deno.exe run -A
 * cplauncher\main.js …`, so the bundle itself must load and answer on Windows.
 */
import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { CLI_ENTRY, ROOT } from "../../scripts/bundle.ts";
import { VERSION } from "../../src/version.ts";
import { ARTEFACTS_IN_ROOT, runInWine, wineSetup } from "../windows/_wine.ts";
import { bundle } from "./_support.ts";

/** Runs the bundle with the Windows deno under Wine (the repository is the working folder). */
async function runBundleInWine(args: string[]) {
  const env = await wineSetup();
  const { cli } = await bundle();
  // A DENO_DIR of its own: the bundle needs no npm packages, only a code cache.
  const denoDir = `Z:${ARTEFACTS_IN_ROOT.replaceAll("/", "\\")}\\bundle-deno-dir`;
  await Deno.mkdir(`${env.root}${ARTEFACTS_IN_ROOT}/bundle-deno-dir`, { recursive: true });
  const entry = relative(ROOT, join(cli, CLI_ENTRY)).replaceAll("/", "\\");
  return await runInWine(env, env.denoExe, ["run", "-A", "--no-config", entry, ...args], {
    env: { DENO_DIR: denoDir },
  });
}

Deno.test({
  name: "bundle under Wine: the Windows deno runs --version, validate and plan of the bundle",
  sanitizeResources: false,
  async fn() {
    const version = await runBundleInWine(["--version"]);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), VERSION);

    const valid = await runBundleInWine(["validate", "-c", "examples\\windows-static.yaml"]);
    assert.equal(valid.code, 0, valid.stderr);
    assert.match(valid.stdout, /windows-static\.yaml: ok \(1 anchor, 1 workload\)/);

    const invalid = await runBundleInWine(["validate", "-c", "examples\\multi.yaml"]);
    assert.equal(invalid.code, 2, invalid.stderr);
    assert.match(
      invalid.stderr,
      /anchors\.albums-a\.node: environment variable NODE_NAME is not set/,
    );
    assert.doesNotMatch(invalid.stderr, /^\s+at /m, "no stack trace");

    const plan = await runBundleInWine([
      "plan",
      "-c",
      "examples\\windows-static.yaml",
      "--output",
      "json",
    ]);
    assert.equal(plan.code, 0, plan.stderr);
    const parsed = JSON.parse(plan.stdout) as { platform: string; workloads: { launch: string }[] };
    assert.equal(parsed.platform, "windows", "plan defaults to the platform it runs on");
    assert.match(parsed.workloads[0].launch, /SetJobCompartmentId/);
  },
});
