/**
 * The shipped bundle (`deno task bundle`) as users run it, for the commands that need no
 * Kubernetes API: its layout keeps client-node out of their start, and `--version`,
 * `validate`, `schema` and `plan` answer exactly as the sources do.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { CLI_ENTRY, readBuildInfo, ROOT, sourceDigest } from "../../scripts/bundle.ts";
import { VERSION } from "../../src/version.ts";
import { bundle, runBundled } from "./_support.ts";

/** The relative modules `file` imports statically, and those it only loads with `import()`. */
function importsOf(code: string): { static: string[]; dynamic: string[] } {
  const dynamic = [...code.matchAll(/import\(\s*"(\.\/[^"]+)"\s*\)/g)].map((m) => m[1]);
  const statics = [...code.matchAll(/(?:from|import)\s*"(\.\/[^"]+)"/g)].map((m) => m[1]);
  return { static: statics, dynamic };
}

/** Every file reached from `entry` through static imports only. */
async function staticClosure(dir: string, entry: string): Promise<Set<string>> {
  const seen = new Set<string>();
  const visit = async (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const code = await Deno.readTextFile(join(dir, file));
    for (const next of importsOf(code).static) await visit(next.replace(/^\.\//, ""));
  };
  await visit(entry);
  return seen;
}

Deno.test("bundle: BUILD.json records the version and the digest of the current sources", async () => {
  const { cli, lib } = await bundle();
  const digest = await sourceDigest();
  for (const dir of [cli, lib]) {
    const info = await readBuildInfo(dir);
    assert.ok(info, `${dir}/BUILD.json exists`);
    assert.equal(info.version, VERSION);
    assert.equal(info.sourceDigest, digest);
    for (const [file, size] of Object.entries(info.files)) {
      assert.equal((await Deno.stat(join(dir, file))).size, size, `${file} as recorded`);
    }
  }
});

Deno.test("bundle: client-node (and the direct list's parser) load only through import()", async () => {
  const { cli } = await bundle();
  const files = [...Deno.readDirSync(cli)].map((e) => e.name);
  const clientNode = files.filter((f) => /^client_node_api-[A-Z0-9]+\.js$/.test(f));
  assert.equal(clientNode.length, 1, `one client-node chunk among ${files.join(", ")}`);
  const loaded = await staticClosure(cli, CLI_ENTRY);
  assert.ok(!loaded.has(clientNode[0]), "main.js does not import client-node statically");
  const main = await Deno.readTextFile(join(cli, CLI_ENTRY));
  assert.deepEqual(importsOf(main).dynamic.filter((f) => f.includes("client_node_api")), [
    `./${clientNode[0]}`,
  ]);
  // client-node's code (its ObjectSerializer's model names) is in that chunk, not elsewhere;
  // neither is the YAML parser of the first list without client-node (js-yaml) loaded at
  // start.
  for (const file of loaded) {
    const code = await Deno.readTextFile(join(cli, file));
    assert.ok(!code.includes("V1PodSpec"), `${file} holds no client-node models`);
    assert.ok(!code.includes("duplicated mapping key"), `${file} holds no js-yaml`);
  }
  const chunk = await Deno.readTextFile(join(cli, clientNode[0]));
  assert.ok(chunk.includes("V1PodSpec"));
  // The narrow entry keeps client-node's other tools out (port-forward, exec, metrics).
  assert.ok(!chunk.includes("PortForward"), "the port-forward helper was left out");
});

Deno.test("bundle: --version prints the version, without deno.json or node_modules", async () => {
  const run = await runBundled(["--version"]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), VERSION);
  assert.equal(run.stderr, "");
});

Deno.test("bundle: validate answers like the sources: one line when valid, positioned errors", async () => {
  const good = await runBundled(["validate", "-c", join(ROOT, "examples/static-netns.yaml")]);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /static-netns\.yaml: ok \(1 anchor, 1 workload\)/);

  const dir = await Deno.makeTempDir();
  try {
    const bad = join(dir, "bad.yaml");
    await Deno.writeTextFile(
      bad,
      "apiVersion: cplauncher/v1\nanchors:\n  a:\n    selector: app in (x\n" +
        "workloads:\n  w:\n    anchor: nope\n    command: [x]\n    stopTimeout: 5x\n",
    );
    const run = await runBundled(["validate", "-c", bad]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /bad\.yaml:4:15: anchors\.a\.selector: bad selector/);
    assert.match(run.stderr, /workloads\.w\.anchor: workload "w" names anchor "nope"/);
    assert.match(run.stderr, /workloads\.w\.stopTimeout: "5x" is not a duration/);
    assert.match(run.stderr, /^3 errors$/m);
    assert.doesNotMatch(run.stderr, /^\s+at /m, "no stack trace");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bundle: schema prints the committed JSON Schema byte for byte", async () => {
  const run = await runBundled(["schema"]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, await Deno.readTextFile(join(ROOT, "config/compartments.schema.json")));
});

Deno.test("bundle: plan prints what the sources print, for Linux and for Windows", async () => {
  for (
    const [config, platform] of [
      ["examples/windows-static.yaml", "windows"],
      ["examples/static-netns.yaml", "linux"],
      ["examples/albums-linux.yaml", "linux"],
    ]
  ) {
    const args = ["plan", "-c", join(ROOT, config), "--platform", platform, "--output", "json"];
    const bundled = await runBundled(args);
    assert.equal(bundled.code, 0, bundled.stderr);
    const source = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", join(ROOT, "src/main.ts"), ...args],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(source.code, 0, new TextDecoder().decode(source.stderr));
    assert.equal(bundled.stdout, new TextDecoder().decode(source.stdout), `${config} ${platform}`);
    assert.ok(JSON.parse(bundled.stdout).workloads.length > 0);
  }
});
