/**
 * Every export of mod.ts shows how it is used: its JSDoc has an `@example`, or links to one
 * (`{@link X}` / `{@linkcode X}` naming an export of mod.ts that has an `@example`, or a path
 * under examples/ that exists). `deno doc mod.ts` is the SDK's reference, so a symbol added
 * without an example fails here.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

/** The parts of a `deno doc --json` JSDoc that this test reads. */
interface JsDoc {
  readonly doc?: string;
  readonly tags?: readonly { readonly kind: string; readonly doc?: string }[];
}

interface DocSymbol {
  readonly name: string;
  readonly declarations: readonly {
    readonly jsDoc?: JsDoc;
    readonly location?: { readonly filename: string };
  }[];
}

const LINK = /\{@link(?:code|plain)?\s+([^\s}|]+)[^}]*\}/g;
const EXAMPLE_PATH = /\bexamples\/[\w./-]+\.(?:ts|yaml)\b/g;

/** All the text of a JSDoc: its description and the text of every tag. */
function docText(jsDoc: JsDoc | undefined): string {
  return [jsDoc?.doc ?? "", ...(jsDoc?.tags ?? []).map((tag) => tag.doc ?? "")].join("\n");
}

function hasExampleTag(symbol: DocSymbol): boolean {
  return symbol.declarations.some((d) => d.jsDoc?.tags?.some((tag) => tag.kind === "example"));
}

function fileExists(path: string): boolean {
  try {
    return Deno.statSync(new URL(path, ROOT)).isFile;
  } catch {
    return false;
  }
}

/**
 * Why `symbol` shows no usage, or undefined when it does: an `@example` of its own, a link to
 * an export that has one (`Name` or `Name.member`), or an existing path under examples/.
 */
export function missingExample(
  symbol: DocSymbol,
  withExamples: ReadonlySet<string>,
  exists: (path: string) => boolean = fileExists,
): string | undefined {
  if (hasExampleTag(symbol)) return undefined;
  const text = symbol.declarations.map((d) => docText(d.jsDoc)).join("\n");
  const links = [...text.matchAll(LINK)].map((m) => m[1]);
  const paths = [...text.matchAll(EXAMPLE_PATH)].map((m) => m[0]);
  if (links.some((target) => withExamples.has(target.split(".")[0]))) return undefined;
  if (paths.some(exists)) return undefined;
  if (links.length === 0 && paths.length === 0) return "no @example and no link to one";
  return `no @example, and none of its links leads to one (${[...links, ...paths].join(", ")})`;
}

async function modExports(): Promise<DocSymbol[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", "mod.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const doc = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    nodes: Record<string, { symbols: DocSymbol[] }>;
  };
  const mod = doc.nodes[new URL("mod.ts", ROOT).href];
  assert.ok(mod, "deno doc reported no node for mod.ts");
  return mod.symbols;
}

Deno.test("every export of mod.ts has an @example or a link to one", async () => {
  const symbols = await modExports();
  // mod.ts exports the config, kube, platform, supervisor and logging APIs: far more than this.
  assert.ok(symbols.length >= 50, `only ${symbols.length} exports found in mod.ts`);
  const withExamples = new Set(symbols.filter(hasExampleTag).map((s) => s.name));
  const missing = symbols.flatMap((symbol) => {
    const why = missingExample(symbol, withExamples);
    return why ? [`${symbol.name}: ${why}`] : [];
  });
  assert.deepEqual(missing, [], `exports of mod.ts without an example:\n${missing.join("\n")}`);
});

Deno.test("the examples of mod.ts's exports type-check", async () => {
  const files = new Set(
    (await modExports()).flatMap((s) => s.declarations.map((d) => d.location?.filename ?? ""))
      .filter((file) => file.startsWith(ROOT.href)),
  );
  assert.ok(files.size > 5, `declarations of mod.ts found in only ${files.size} files`);
  // `deno check --doc` type-checks the code blocks in the JSDoc of the files it is given.
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", "--doc", ...files],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const errors = new TextDecoder().decode(output.stderr).split("\n")
    .filter((line) => !/Warning|^\s+at /.test(line)).join("\n");
  assert.ok(output.success, errors);
});

Deno.test("the example check refuses what shows no usage", () => {
  const withExamples = new Set(["Supervisor"]);
  const exists = (path: string) => path === "examples/scripts/stream_logs.ts";
  const symbol = (doc: string, tags: JsDoc["tags"] = []): DocSymbol => ({
    name: "Thing",
    declarations: [{ jsDoc: { doc, tags } }],
  });
  const example = [{ kind: "example", doc: "```ts\nnew Thing();\n```" }];
  assert.equal(missingExample(symbol("A thing.", example), withExamples, exists), undefined);
  assert.equal(
    missingExample(symbol("See the {@linkcode Supervisor} example."), withExamples, exists),
    undefined,
  );
  assert.equal(
    missingExample(symbol("See {@link Supervisor.start}."), withExamples, exists),
    undefined,
  );
  assert.equal(
    missingExample(symbol("See examples/scripts/stream_logs.ts."), withExamples, exists),
    undefined,
  );
  assert.match(missingExample(symbol("A thing."), withExamples, exists) ?? "", /no @example/);
  assert.match(missingExample(symbol(""), withExamples, exists) ?? "", /no @example/);
  assert.match(
    missingExample(symbol("Like {@linkcode Other}."), withExamples, exists) ?? "",
    /none of its links/,
  );
  assert.match(
    missingExample(symbol("See examples/scripts/gone.ts."), withExamples, exists) ?? "",
    /none of its links/,
  );
});
