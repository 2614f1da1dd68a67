/**
 * Golden files: `cplauncher render` output for every example config on both platforms and
 * for the fixtures, byte for byte. A case renders to `<id>.yaml` (stdout, exit 0) and/or
 * `<id>.stderr.txt` (warnings, or the one-line error with exit 2).
 *
 * Regenerate after an intended change, then review the diff:
 *
 *   UPDATE_GOLDEN=1 deno test --allow-all tests/render/golden_test.ts
 *   deno test --allow-all tests/render/golden_test.ts -- --update-golden
 *
 * An updating run still compares: a case whose golden file it had to write or remove fails
 * (naming the file), so it passes only once the files on disk already match.
 */
import assert from "node:assert/strict";
import { allCases, type RenderCase, REQUIRED_CONFIGS, ROOT } from "./cases.ts";
import { runRender } from "./cli.ts";

const GOLDEN = `${ROOT}tests/render/golden/`;
const UPDATE = Deno.env.get("UPDATE_GOLDEN") === "1" || Deno.args.includes("--update-golden");

async function readOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/**
 * Makes the golden file at `path` hold `text` (none for empty or undefined text).
 *
 * @returns whether the file had to change.
 */
async function writeOrRemove(path: string, text: string | undefined): Promise<boolean> {
  const current = await readOrUndefined(path);
  const wanted = text === "" ? undefined : text;
  if (current === wanted) return false;
  if (wanted === undefined) {
    await Deno.remove(path);
    return true;
  }
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeTextFile(path, wanted);
  return true;
}

/** Renders a case with the config given by absolute path, reported relative to the root. */
async function renderCase(c: RenderCase) {
  const run = await runRender(["-c", `${ROOT}${c.config}`, ...c.args]);
  const relative = (text: string) => text.replaceAll(ROOT, "");
  return { code: run.code, stdout: relative(run.stdout), stderr: relative(run.stderr) };
}

async function goldenFiles(dir = GOLDEN, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) {
      out.push(...await goldenFiles(`${dir}${entry.name}/`, `${prefix}${entry.name}/`));
    } else out.push(`${prefix}${entry.name}`);
  }
  return out.sort();
}

const cases = await allCases();

Deno.test("render golden: every required example config is covered on both platforms", () => {
  for (const config of REQUIRED_CONFIGS) {
    for (const platform of ["linux", "windows"]) {
      assert.ok(
        cases.some((c) => c.config === config && c.args.includes(platform)),
        `${config} on ${platform}`,
      );
    }
  }
});

for (const c of cases) {
  Deno.test(`render golden: ${c.id}`, async () => {
    const run = await renderCase(c);
    const yamlPath = `${GOLDEN}${c.id}.yaml`;
    const stderrPath = `${GOLDEN}${c.id}.stderr.txt`;
    assert.ok(run.code === 0 || run.code === 2, `exit ${run.code}: ${run.stderr}`);
    if (UPDATE) {
      const changed = [
        await writeOrRemove(yamlPath, run.code === 0 ? run.stdout : undefined) && yamlPath,
        await writeOrRemove(stderrPath, run.stderr) && stderrPath,
      ].filter(Boolean);
      assert.deepEqual(changed, [], "golden files updated: review the diff, then run again");
    }
    const yaml = await readOrUndefined(yamlPath);
    const stderr = (await readOrUndefined(stderrPath)) ?? "";
    const hint = "(intended? regenerate with UPDATE_GOLDEN=1 and review the diff)";
    if (yaml === undefined) {
      assert.equal(
        run.code,
        2,
        `expected the error in ${stderrPath}, got exit ${run.code} ${hint}`,
      );
      assert.equal(run.stdout, "");
      assert.ok(stderr !== "", `golden ${stderrPath} is missing ${hint}`);
      assert.equal(run.stderr.trimEnd().split("\n").length, 1, "an error is one line");
    } else {
      assert.equal(run.code, 0, `${run.stderr} ${hint}`);
      assert.equal(run.stdout, yaml, `stdout differs from ${yamlPath} ${hint}`);
    }
    assert.equal(run.stderr, stderr, `stderr differs from ${stderrPath} ${hint}`);
  });
}

Deno.test("render golden: no golden file without a case", async () => {
  const expected = new Set(cases.flatMap((c) => [`${c.id}.yaml`, `${c.id}.stderr.txt`]));
  const stale = (await goldenFiles()).filter((f) => !expected.has(f));
  if (UPDATE) { for (const file of stale) await Deno.remove(`${GOLDEN}${file}`); }
  assert.deepEqual(stale, [], "remove golden files of cases that no longer exist");
});

Deno.test("render golden: the same input renders byte-identical output", async () => {
  for (const c of cases.slice(0, 4)) {
    const first = await renderCase(c);
    const second = await renderCase(c);
    assert.equal(second.stdout, first.stdout, c.id);
    assert.equal(second.stderr, first.stderr, c.id);
  }
});
