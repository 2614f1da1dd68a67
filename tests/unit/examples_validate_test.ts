/**
 * Every cplauncher config shipped in examples/ and config/ validates with nothing but
 * NODE_NAME in the environment: the configs people copy from must never be broken.
 *
 * A file counts as a cplauncher config when a line at its top level reads
 * `apiVersion: cplauncher/v1`. Configs embedded in Kubernetes ConfigMaps (the `data` of a
 * `kind: ConfigMap` document) are checked too.
 */
import assert from "node:assert/strict";
import { parseAllDocuments } from "yaml";
import {
  type ConfigIssue,
  formatIssue,
  parseConfig,
  readConfigText,
} from "../../src/config/mod.ts";

const ROOT = new URL("../../", import.meta.url);
const ROOT_PATH = decodeURIComponent(ROOT.pathname);
const ONLY_ENV = { NODE_NAME: "node-1" } as const;
const MARKER = /^apiVersion:[ \t]*["']?cplauncher\/v1["']?[ \t]*(#.*)?$/m;

/** Configs that must exist: the test is not allowed to pass by finding nothing. */
const REQUIRED = [
  "config/compartments.yaml",
  "examples/albums-linux.yaml",
  "examples/static-netns.yaml",
  "examples/windows-static.yaml",
  "examples/multi.yaml",
];

async function* yamlFiles(dir: string): AsyncGenerator<string> {
  const entries: Deno.DirEntry[] = [];
  for await (const entry of Deno.readDir(new URL(dir, ROOT))) entries.push(entry);
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory && entry.name !== "node_modules") yield* yamlFiles(`${path}/`);
    else if (entry.isFile && /\.ya?ml$/.test(entry.name)) yield path;
  }
}

interface Found {
  /** Name used in messages: the file, plus `#ConfigMap/name/key` for embedded configs. */
  readonly name: string;
  /** Path relative to the repository root. */
  readonly file: string;
  readonly text: string;
}

/** Config texts held in the `data` of ConfigMaps in a Kubernetes manifest. */
function embeddedConfigs(file: string, text: string): Found[] {
  const found: Found[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) continue; // not our language; other tools check manifests
    const object: unknown = doc.toJS();
    if (!isRecord(object) || object.kind !== "ConfigMap" || !isRecord(object.data)) continue;
    const cmName = isRecord(object.metadata) ? String(object.metadata.name) : "?";
    for (const [key, value] of Object.entries(object.data)) {
      if (typeof value !== "string" || !MARKER.test(value)) continue;
      found.push({ name: `${file}#ConfigMap/${cmName}/${key}`, file, text: value });
    }
  }
  return found;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

async function findConfigs(): Promise<Found[]> {
  const found: Found[] = [];
  for (const dir of ["config/", "examples/"]) {
    for await (const file of yamlFiles(dir)) {
      const text = await Deno.readTextFile(new URL(file, ROOT));
      if (!text.includes("cplauncher/v1")) continue;
      if (MARKER.test(text)) found.push({ name: file, file, text });
      else found.push(...embeddedConfigs(file, text));
    }
  }
  return found;
}

function describe(issues: readonly ConfigIssue[]): string {
  return issues.map(formatIssue).join("\n");
}

Deno.test("examples: every cplauncher config in examples/ and config/ validates", async (t) => {
  const configs = await findConfigs();
  const names = configs.map((c) => c.name);
  for (const required of REQUIRED) {
    assert.ok(names.includes(required), `${required} is found and checked (found: ${names})`);
  }
  for (const config of configs) {
    await t.step(config.name, async () => {
      // Files go through the same reader as `cplauncher validate` (size, UTF-8 checks).
      const text = config.name === config.file
        ? await readConfigText(`${ROOT_PATH}${config.file}`)
        : config.text;
      const result = parseConfig(text, config.name, { env: ONLY_ENV });
      assert.ok(result.ok, result.ok ? "" : `\n${describe(result.issues)}`);
    });
  }
});

Deno.test("examples: a config needing more than NODE_NAME is caught", () => {
  // Guards the test above: the env lookup really is limited to NODE_NAME.
  const result = parseConfig(
    [
      "apiVersion: cplauncher/v1",
      "anchors: { a: { selector: app=x, node: '${NODE_NAME}' } }",
      "workloads: { w: { anchor: a, command: ['${HOME}/bin/x'] } }",
    ].join("\n"),
    "inline.yaml",
    { env: ONLY_ENV },
  );
  assert.equal(result.ok, false);
  assert.match(result.ok ? "" : describe(result.issues), /HOME is not set/);
});

Deno.test("examples: `cplauncher validate` exits 0 for each with only NODE_NAME set", async () => {
  const files = (await findConfigs()).filter((c) => c.name === c.file).map((c) => c.file);
  const results = await Promise.all(files.map(async (file) => {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "src/main.ts", "validate", "-c", file],
      cwd: ROOT_PATH,
      clearEnv: true,
      env: ONLY_ENV,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
    return { file, code: output.code, out: decode(output.stdout), err: decode(output.stderr) };
  }));
  for (const r of results) {
    assert.equal(r.code, 0, `${r.file}: exit ${r.code}\n${r.err}`);
    assert.match(r.out, new RegExp(`^${r.file.replaceAll(".", "\\.")}: ok \\(`));
  }
});
