/**
 * The benchmarks must not rot: `bench/run.ts --smoke` (1 trial of each benchmark, small
 * sizes, real apiserver and namespaces) runs as a subprocess and writes its three files
 * into a temp dir. Checked: the results JSON has the fixed shape with a number for every
 * goal, the Markdown and SVG are generated, and nothing the run made is left behind.
 * No timing is asserted here: speed targets live in the benchmark results, not in tests.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { leftovers } from "./support/netns.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const IDS = ["P1", "P2", "P3-time", "P3-rss", "P4"];

Deno.test({
  name: "bench --smoke writes results of the fixed shape, a table and a chart, and cleans up",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "cplauncher-bench-test-" });
    const before = new Set(await leftovers("cplb"));
    try {
      const run = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", join(ROOT, "bench/run.ts"), "--smoke", "--out", out],
        cwd: ROOT,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(run.stderr);
      assert.equal(run.code, 0, `bench --smoke failed:\n${stderr.slice(-4000)}`);

      const results = JSON.parse(await Deno.readTextFile(join(out, "latest.json")));
      assert.deepEqual(Object.keys(results), ["machine", "versions", "goals", "runs"]);
      assert.equal(typeof results.machine, "object");
      assert.equal(typeof results.versions, "object");
      assert.equal(typeof results.runs, "object");
      assert.deepEqual(results.goals.map((g: { id: string }) => g.id), IDS);
      for (const g of results.goals) {
        assert.deepEqual(
          Object.keys(g),
          ["id", "ours", "baseline", "unit", "ratio", "goal", "met"],
          `keys of ${g.id}`,
        );
        assert.ok(Number.isFinite(g.ours), `${g.id}: ours is a number (${g.ours})`);
        assert.equal(typeof g.unit, "string");
        assert.match(g.goal, /^(<=|>=) \d+(\.\d+)?$/, `${g.id}: goal`);
        assert.equal(typeof g.met, "boolean");
        if (g.id === "P1" || g.id === "P2" || g.id === "P4") {
          assert.ok(Number.isFinite(g.baseline), `${g.id}: baseline is a number (${g.baseline})`);
          assert.ok(Number.isFinite(g.ratio), `${g.id}: ratio is a number (${g.ratio})`);
        } else {
          assert.equal(g.baseline, null);
          assert.equal(g.ratio, null);
        }
      }
      assert.equal(results.runs.settings.smoke, true);
      assert.deepEqual(results.runs.P4.bytesLost, [0], "the relay lost no byte");

      const md = await Deno.readTextFile(join(out, "benchmarks.md"));
      for (const id of IDS) assert.match(md, new RegExp(`^\\| ${id}\\s+\\|`, "m"), `row ${id}`);
      assert.match(md, /\(benchmarks\.svg\)/);
      const svg = await Deno.readTextFile(join(out, "benchmarks.svg"));
      assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      assert.match(svg, /<\/svg>\s*$/);
      assert.match(svg, /<circle /, "measured trials are drawn");

      const after = (await leftovers("cplb")).filter((x) => !before.has(x));
      assert.deepEqual(after, [], "the run removed its namespaces and links");
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
});
