/**
 * Writes `config/compartments.schema.json`, the JSON Schema editors use to complete
 * compartments.yaml, from the zod schema in `src/config/schema.ts`.
 *
 *   deno task schema           # (re)write the file
 *   deno task schema --check   # exit 1 with one line when the committed file is stale
 *
 * @module
 */
import { configJsonSchema } from "../src/config/mod.ts";

/** The committed schema file, relative to the repository root. */
export const SCHEMA_PATH = "config/compartments.schema.json";

/** Absolute URL of the committed schema file. */
export const SCHEMA_URL: URL = new URL(`../${SCHEMA_PATH}`, import.meta.url);

/** The exact text the schema file must have: pretty JSON with a trailing newline. */
export function renderSchema(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

const encoder = new TextEncoder();

function writeLine(stream: { writeSync(p: Uint8Array): number }, line: string): void {
  let bytes = encoder.encode(`${line}\n`);
  while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
}

async function readCommitted(): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(SCHEMA_URL);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Runs the script with `args`; returns the exit code. */
export async function run(args: readonly string[]): Promise<number> {
  const unknown = args.filter((a) => a !== "--check");
  if (unknown.length > 0) {
    writeLine(Deno.stderr, `gen_schema: unknown argument ${unknown[0]} (usage: [--check])`);
    return 2;
  }
  const expected = renderSchema();
  const committed = await readCommitted();
  if (args.includes("--check")) {
    if (committed === expected) return 0;
    writeLine(
      Deno.stderr,
      `${SCHEMA_PATH} is ${
        committed === undefined ? "missing" : "stale"
      }: run \`deno task schema\` and commit the result`,
    );
    return 1;
  }
  if (committed === expected) {
    writeLine(Deno.stderr, `${SCHEMA_PATH} is up to date`);
    return 0;
  }
  await Deno.writeTextFile(SCHEMA_URL, expected);
  writeLine(Deno.stderr, `wrote ${SCHEMA_PATH}`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await run(Deno.args));
}
