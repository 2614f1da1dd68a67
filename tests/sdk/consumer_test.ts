/**
 * cplauncher used from another project, in the three supported ways, each from a fresh
 * project in a temporary folder outside the repository (root: the consumer's supervisor
 * starts its workload in a network namespace made here):
 *
 * 1. as a workspace member: the consumer's deno.json lists a checkout, the script imports
 *    `@cplauncher/cplauncher`;
 * 2. as the bundled library: `dist/cplauncher-lib/` copied next to a script with no
 *    deno.json, imported by path;
 * 3. from JSR: `deno publish` of the package (to a local stand-in for jsr.io) and a script
 *    with no deno.json importing `jsr:@cplauncher/cplauncher@<version>`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../../scripts/bundle.ts";
import { VERSION } from "../../src/version.ts";
import { bundle } from "../bundle/_support.ts";
import { createTestNetwork, type TestNetwork } from "../support/netns.ts";
import { checkAndRunConsumer, consumerScript, denoIn, outsideRepository } from "./_consumer.ts";
import { startLocalJsr } from "./_local_jsr.ts";

/** What a checkout (or git submodule) of cplauncher holds that a consumer's Deno reads. */
const CHECKOUT = ["mod.ts", "src", "config", "deno.json", "deno.lock", "README.md", "LICENSE"];

let network: Promise<TestNetwork> | undefined;
let hosts = 0;
async function freshNetns() {
  network ??= createTestNetwork("cplsdk").then((net) => {
    globalThis.addEventListener("unload", () => net.removeSync());
    return net;
  });
  const net = await network;
  hosts++;
  return { net, host: await net.addHost(`c${hosts}`, net.addr(10 + hosts)) };
}

async function copyInto(dir: string, paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    const result = await new Deno.Command("cp", {
      args: ["-R", join(ROOT, path), join(dir, path)],
      stderr: "piped",
    }).output();
    if (!result.success) throw new Error(new TextDecoder().decode(result.stderr));
  }
}

const SHARED = { sanitizeOps: false, sanitizeResources: false } as const;

Deno.test({
  name: "sdk: a workspace member (a checkout) imported by package name",
  ...SHARED,
  fn: async () => {
    const { net, host } = await freshNetns();
    const dir = await outsideRepository("cplauncher-consumer-ws-");
    try {
      await Deno.mkdir(join(dir, "cplauncher"));
      await copyInto(join(dir, "cplauncher"), CHECKOUT);
      await Deno.writeTextFile(
        join(dir, "deno.json"),
        JSON.stringify({ workspace: ["./cplauncher"] }, null, 2),
      );
      await Deno.writeTextFile(join(dir, "script.ts"), consumerScript("@cplauncher/cplauncher"));
      await checkAndRunConsumer(dir, net, host);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "sdk: the bundled library imported by path, with no deno.json",
  ...SHARED,
  fn: async () => {
    const { net, host } = await freshNetns();
    const { lib } = await bundle();
    const dir = await outsideRepository("cplauncher-consumer-lib-");
    try {
      const copied = await new Deno.Command("cp", {
        args: ["-R", lib, join(dir, "cplauncher-lib")],
      }).output();
      assert.ok(copied.success);
      await Deno.writeTextFile(join(dir, "script.ts"), consumerScript("./cplauncher-lib/mod.js"));
      const reports = await checkAndRunConsumer(dir, net, host);
      assert.ok(reports.length > 0);
      // The types are the library's own declarations: a wrong use fails `deno check`.
      await Deno.writeTextFile(
        join(dir, "wrong.ts"),
        'import { parseConfig } from "./cplauncher-lib/mod.js";\nconst n: number = parseConfig("", "x");\nvoid n;\n',
      );
      await assert.rejects(denoIn(dir, ["check", "wrong.ts"]), /TS2322/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "sdk: deno publish (to a local stand-in for JSR) and a script importing jsr:",
  ...SHARED,
  fn: async () => {
    const { net, host } = await freshNetns();
    const registry = startLocalJsr();
    const packageDir = await outsideRepository("cplauncher-package-");
    const dir = await outsideRepository("cplauncher-consumer-jsr-");
    try {
      await copyInto(packageDir, CHECKOUT);
      const env = { JSR_URL: registry.url };
      // Exactly the release command, no --allow-slow-types.
      const published = await denoIn(packageDir, ["publish", "--token", registry.token], env);
      assert.match(published.stderr + published.stdout, /Successfully published/);
      const stored = registry.stored("@cplauncher/cplauncher", VERSION);
      assert.ok(stored, "the registry received the package");
      const files = [...stored.files.keys()];
      assert.ok(files.includes("/mod.ts") && files.includes("/LICENSE"));
      assert.deepEqual(
        files.filter((f) => /^\/(tests|bench|scripts|examples|dist)\//.test(f)),
        [],
        "no tests, benchmarks or build output in the package",
      );
      await Deno.writeTextFile(
        join(dir, "script.ts"),
        consumerScript(`jsr:@cplauncher/cplauncher@${VERSION}`),
      );
      await checkAndRunConsumer(dir, net, host, env);
    } finally {
      await registry.stop();
      await Deno.remove(packageDir, { recursive: true });
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "sdk: clean up the test network",
  ...SHARED,
  fn: async () => {
    if (network) await (await network).remove();
    network = undefined;
  },
});
