/**
 * The benchmarks must not rot: `bench/run.ts --smoke` (1 trial of each benchmark, small
 * sizes, real apiserver and namespaces) runs as a subprocess and writes its three files
 * into a temp dir. Checked: the results JSON has the fixed shape with a number for every
 * goal, the Markdown and SVG are generated, and nothing the run made is left behind (the run
 * records the names of the networks it makes, so other namespaces on the host do not matter).
 * No timing is asserted here: speed targets live in the benchmark results, not in tests.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { leftovers, recordedStems, STEM_RECORD_ENV } from "./support/netns.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const IDS = ["P1", "P2", "P3-time", "P3-rss", "P4", "P5-time", "P5-rss", "P5-churn"];
/** Goals measured against a baseline (P5: against the same command in an empty namespace). */
const WITH_BASELINE = ["P1", "P2", "P4", "P5-time", "P5-rss"];

Deno.test({
  name: "bench --smoke writes results of the fixed shape, a table and a chart, and cleans up",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "cplauncher-bench-test-" });
    const stems = join(out, "network-stems.txt");
    try {
      const run = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--allow-all", join(ROOT, "bench/run.ts"), "--smoke", "--out", out],
        cwd: ROOT,
        env: { [STEM_RECORD_ENV]: stems },
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
        if (WITH_BASELINE.includes(g.id)) {
          assert.ok(Number.isFinite(g.baseline), `${g.id}: baseline is a number (${g.baseline})`);
          assert.ok(Number.isFinite(g.ratio), `${g.id}: ratio is a number (${g.ratio})`);
        } else {
          assert.equal(g.baseline, null);
          assert.equal(g.ratio, null);
        }
      }
      assert.equal(results.runs.settings.smoke, true);
      assert.deepEqual(results.runs.P4.bytesLost, [0], "the relay lost no byte");
      const p5 = results.runs.P5;
      assert.equal(p5.failures, 0, "every P5 trial reached its workload");
      assert.equal(p5.churn.launcherUnrelatedEvents, 0, "no unrelated pod event reached exec");
      assert.ok(p5.churn.namespaceWatchEvents > 0, "the churn happened (a namespace watch saw it)");
      assert.ok(p5.churn.launcherAnchorEvents > 0, "the launcher's own event was counted");
      assert.ok(
        p5.listBytes.anchorOnNode < p5.listBytes.namespace,
        "the anchor's query is answered with less than the namespace's list",
      );

      const md = await Deno.readTextFile(join(out, "benchmarks.md"));
      for (const id of IDS) assert.match(md, new RegExp(`^\\| ${id}\\s+\\|`, "m"), `row ${id}`);
      assert.match(md, /\(benchmarks\.svg\)/);
      const svg = await Deno.readTextFile(join(out, "benchmarks.svg"));
      assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      assert.match(svg, /<\/svg>\s*$/);
      assert.match(svg, /<circle /, "measured trials are drawn");

      const made = await recordedStems(stems);
      assert.ok(made.length >= 2, `the run made its networks (${made.join(", ")})`);
      for (const stem of made) {
        assert.deepEqual(await leftovers(stem), [], "the run removed its namespaces and links");
      }
    } finally {
      await Deno.remove(out, { recursive: true }).catch(() => {});
    }
  },
});
