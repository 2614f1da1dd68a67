/**
 * The committed JSON Schema (config/compartments.schema.json) must be exactly what
 * `deno task schema` generates from the zod schema, so editors never complete a stale
 * language.
 */
import assert from "node:assert/strict";
import { renderSchema, SCHEMA_PATH, SCHEMA_URL } from "../../scripts/gen_schema.ts";

Deno.test("schema file: committed config/compartments.schema.json is up to date", async () => {
  let committed: string;
  try {
    committed = await Deno.readTextFile(SCHEMA_URL);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      assert.fail(`${SCHEMA_PATH} is missing: run \`deno task schema\` and commit it`);
    }
    throw error;
  }
  const expected = renderSchema();
  if (committed !== expected) {
    const a = committed.split("\n");
    const b = expected.split("\n");
    const line = a.findIndex((text, i) => text !== b[i]);
    assert.fail(
      `${SCHEMA_PATH} is stale (first difference at line ${line + 1}: ` +
        `committed ${JSON.stringify(a[line])}, generated ${JSON.stringify(b[line])}); ` +
        "run `deno task schema` and commit it",
    );
  }
});

Deno.test("schema file: describes the fixed field names of the language", () => {
  const schema = JSON.parse(renderSchema());
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  assert.equal(schema.type, "object");
  assert.deepEqual(
    Object.keys(schema.properties).sort(),
    ["anchors", "apiVersion", "health", "kubernetes", "workloads"],
  );
  assert.equal(schema.properties.apiVersion.const, "cplauncher/v1");
  assert.equal(schema.additionalProperties, false);

  const anchor = schema.properties.anchors.additionalProperties;
  for (
    const field of ["selector", "namespace", "node", "pick", "timeout", "netns", "compartment"]
  ) {
    assert.ok(anchor.properties[field], `anchor field ${field} is in the schema`);
  }
  assert.deepEqual(anchor.properties.pick.enum, ["exactly-one", "first-ready", "claim"]);
  // Editors must agree with the loader: "*" (all namespaces) or a namespace name.
  const namespace = new RegExp(anchor.properties.namespace.pattern);
  for (const good of ["*", "default", "kube-system", "k2s"]) assert.match(good, namespace);
  for (const bad of ["**", "a*", "*x", "Prod", ""]) assert.doesNotMatch(bad, namespace);

  const workload = schema.properties.workloads.additionalProperties;
  for (
    const field of [
      "anchor",
      "command",
      "env",
      "cwd",
      "sha256",
      "port",
      "restart",
      "stopTimeout",
      "startupTimeout",
      "probes",
      "logs",
      "windows",
    ]
  ) {
    assert.ok(workload.properties[field], `workload field ${field} is in the schema`);
  }
  assert.deepEqual(workload.required, ["anchor", "command"]);
});

Deno.test("schema file: the generator is deterministic", () => {
  assert.equal(renderSchema(), renderSchema());
  assert.ok(renderSchema().endsWith("}\n"));
});
