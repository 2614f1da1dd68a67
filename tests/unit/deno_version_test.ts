/** The minimum Deno version: parsing, comparison, and the one-line refusal. */
import assert from "node:assert/strict";
import {
  atLeast,
  denoVersionProblem,
  MINIMUM_DENO_VERSION,
  parseVersion,
} from "../../src/cli/deno_version.ts";
import manifest from "../../deno.json" with { type: "json" };

Deno.test("deno version: the minimum comes from deno.json and this Deno meets it", () => {
  assert.equal(MINIMUM_DENO_VERSION, manifest.minimumDenoVersion);
  assert.ok(parseVersion(MINIMUM_DENO_VERSION), "deno.json minimumDenoVersion is x.y.z");
  assert.equal(denoVersionProblem(), undefined);
});

Deno.test("deno version: comparison is numeric, per component", () => {
  assert.deepEqual(parseVersion("2.10.0+abc123"), [2, 10, 0]);
  assert.equal(parseVersion("canary"), null);
  assert.equal(atLeast("2.7.6", "2.7.6"), true);
  assert.equal(atLeast("2.10.0", "2.7.6"), true);
  assert.equal(atLeast("3.0.0", "2.7.6"), true);
  assert.equal(atLeast("2.7.5", "2.7.6"), false);
  assert.equal(atLeast("2.6.99", "2.7.6"), false);
  assert.equal(atLeast("1.46.3", "2.7.6"), false);
  assert.equal(atLeast("garbage", "2.7.6"), false);
});

Deno.test("deno version: an older Deno gets one line naming both versions", () => {
  const problem = denoVersionProblem("2.7.5");
  assert.ok(problem);
  assert.match(
    problem,
    new RegExp(`needs Deno ${MINIMUM_DENO_VERSION} or newer, this is Deno 2\\.7\\.5`),
  );
  assert.ok(!problem.includes("\n"));
});
