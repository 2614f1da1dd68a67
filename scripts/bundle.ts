/**
 * `deno task bundle`: builds what cplauncher ships, from `src/main.ts` and `mod.ts`.
 *
 *   deno task bundle [--out DIR]     # default DIR: dist/
 *
 * - `DIR/cplauncher/`: the CLI. `main.js` and its chunks; run it with
 *   `deno run -A DIR/cplauncher/main.js …`, or compile it (`deno task compile`).
 * - `DIR/cplauncher-lib/`: the library. `mod.js` and its chunks, with the declarations of
 *   `mod.ts` under `types/` (named by `mod.js`'s `@ts-self-types` comment); scripts import
 *   it by path and need no `deno.json`.
 *
 * Both are `deno bundle --minify --code-splitting` builds: one file per entry instead of the
 * ~1,100 modules of `@kubernetes/client-node` and its dependencies, and client-node (through
 * the narrow `src/kube/client_node_api.ts`) in a chunk that only the first Kubernetes API
 * request loads. Each folder gets a `BUILD.json` with the version and a digest of the
 * sources it was built from ({@linkcode sourceDigest}), so tests can tell a stale build.
 * The folders are replaced only when the whole build succeeded.
 *
 * @module
 */
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** Repository root. */
export const ROOT: string = fileURLToPath(new URL("../", import.meta.url));
/** Default output folder. */
export const DIST: string = join(ROOT, "dist");
/** The CLI bundle's folder under the output folder. */
export const CLI_DIR = "cplauncher";
/** The library bundle's folder under the output folder. */
export const LIB_DIR = "cplauncher-lib";
/** The CLI entry, relative to its folder. */
export const CLI_ENTRY = "main.js";
/** The library entry, relative to its folder. */
export const LIB_ENTRY = "mod.js";

/** What `BUILD.json` records. */
export interface BuildInfo {
  /** cplauncher's version (deno.json). */
  readonly version: string;
  /** {@linkcode sourceDigest} of the sources the build was made from. */
  readonly sourceDigest: string;
  /** The Deno that bundled it. */
  readonly deno: string;
  /** The entry module, relative to the folder. */
  readonly entry: string;
  /** Every file of the folder, relative to it, with its size in bytes. */
  readonly files: Readonly<Record<string, number>>;
}

/** The inputs of a build: everything under `src/`, `mod.ts`, `deno.json`, `deno.lock`, this script. */
async function sourceFiles(): Promise<string[]> {
  const files = ["mod.ts", "deno.json", "deno.lock", "scripts/bundle.ts"];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(join(ROOT, dir))) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile) files.push(path);
    }
  };
  await walk("src");
  return files.sort();
}

/** sha256 (first 16 hex digits) over the build inputs' paths and contents. */
export async function sourceDigest(): Promise<string> {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const file of await sourceFiles()) {
    parts.push(encoder.encode(`${file}\0`), await Deno.readFile(join(ROOT, file)));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Reads a folder's `BUILD.json`, or `undefined` when there is none. */
export async function readBuildInfo(dir: string): Promise<BuildInfo | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(join(dir, "BUILD.json"))) as BuildInfo;
  } catch {
    return undefined;
  }
}

/** Whether `out` holds both bundles, built from the sources as they are now. */
export async function isCurrent(out: string = DIST): Promise<boolean> {
  const digest = await sourceDigest();
  for (const dir of [CLI_DIR, LIB_DIR]) {
    if ((await readBuildInfo(join(out, dir)))?.sourceDigest !== digest) return false;
  }
  return true;
}

/** A failed build step, with the tool's own output. */
export class BundleError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "BundleError";
  }
}

async function deno(args: string[]): Promise<void> {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  if (!output.success) {
    const text = new TextDecoder().decode(output.stderr).trim();
    throw new BundleError(`deno ${args.join(" ")} failed:\n${text}`);
  }
}

function bundleArgs(entry: string, outdir: string): string[] {
  return [
    "bundle",
    "--quiet",
    "--platform",
    "deno",
    "--minify",
    "--code-splitting",
    "--outdir",
    outdir,
    entry,
  ];
}

/**
 * The npm packages of deno.json's import map as pinned `npm:` specifiers, for the
 * declarations: a script that imports the library has no import map, and the few
 * declarations that mention a dependency's type (zod's, client-node's) must still resolve.
 */
async function pinnedImports(): Promise<Map<string, string>> {
  const manifest = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))) as {
    imports?: Record<string, string>;
  };
  return new Map(Object.entries(manifest.imports ?? {}));
}

/** Rewrites one emitted declaration file so that it resolves where it is shipped. */
export function rewriteDeclaration(text: string, imports: ReadonlyMap<string, string>): string {
  // The emitter names each file by its absolute path on the build machine.
  const lines = text.replace(/^\/\/\/ <amd-module [^\n]*\n/gm, "").split("\n");
  // Documentation comments keep their examples as written (they import the package by name).
  return lines.map((line) => /^\s*(\*|\/\/|\/\*)/.test(line) ? line : rewriteImports(line, imports))
    .join("\n");
}

function rewriteImports(text: string, imports: ReadonlyMap<string, string>): string {
  return text
    .replace(
      /((?:from|import)\s*\(?\s*)"([^"]+)"/g,
      (match, lead: string, specifier: string) => {
        if (specifier.startsWith(".")) {
          return specifier.endsWith(".ts") && !specifier.endsWith(".d.ts")
            ? `${lead}"${specifier.slice(0, -3)}.d.ts"`
            : match;
        }
        if (/^(npm|node|jsr|https?|file):/.test(specifier)) return match;
        const name = specifier.startsWith("@")
          ? specifier.split("/").slice(0, 2).join("/")
          : specifier.split("/")[0];
        const pinned = imports.get(name);
        if (!pinned) {
          throw new BundleError(`declaration imports "${specifier}", which deno.json does not map`);
        }
        return `${lead}"${pinned}${specifier.slice(name.length)}"`;
      },
    );
}

async function copyDeclarations(from: string, to: string): Promise<void> {
  const imports = await pinnedImports();
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.name.endsWith(".d.ts")) {
        const target = join(to, relative(from, path));
        await Deno.mkdir(dirname(target), { recursive: true });
        await Deno.writeTextFile(
          target,
          rewriteDeclaration(await Deno.readTextFile(path), imports),
        );
      }
    }
  };
  await walk(from);
  try {
    await Deno.stat(join(to, "mod.d.ts"));
  } catch {
    throw new BundleError("the declaration emit produced no mod.d.ts");
  }
}

async function writeBuildInfo(
  dir: string,
  entry: string,
  version: string,
  digest: string,
): Promise<void> {
  const files: Record<string, number> = {};
  const walk = async (sub: string) => {
    for await (const e of Deno.readDir(join(dir, sub))) {
      const path = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory) await walk(path);
      else files[path] = (await Deno.stat(join(dir, path))).size;
    }
  };
  await walk("");
  const sorted = Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)));
  const info: BuildInfo = {
    version,
    sourceDigest: digest,
    deno: Deno.version.deno,
    entry,
    files: sorted,
  };
  await Deno.writeTextFile(join(dir, "BUILD.json"), `${JSON.stringify(info, null, 2)}\n`);
}

/** Moves `from` to `to`, replacing whatever `to` was. */
async function replaceDir(from: string, to: string): Promise<void> {
  const old = `${to}.old-${crypto.randomUUID().slice(0, 8)}`;
  let moved = false;
  try {
    await Deno.rename(to, old);
    moved = true;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.rename(from, to);
  if (moved) await Deno.remove(old, { recursive: true });
}

/** What {@linkcode build} made. */
export interface BuildResult {
  /** The CLI bundle's folder. */
  readonly cli: string;
  /** The library bundle's folder. */
  readonly lib: string;
  /** The digest recorded in both `BUILD.json`s. */
  readonly sourceDigest: string;
}

/** Builds both bundles into `out` (default `dist/`). */
export async function build(out: string = DIST): Promise<BuildResult> {
  const digest = await sourceDigest();
  const { version } = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))) as {
    version: string;
  };
  await Deno.mkdir(out, { recursive: true });
  const work = await Deno.makeTempDir({ dir: out, prefix: ".build-" });
  try {
    const cli = join(work, CLI_DIR);
    const lib = join(work, LIB_DIR);
    await deno(bundleArgs("src/main.ts", cli));
    await deno(bundleArgs("mod.ts", lib));
    const emitted = join(work, "emit");
    // Declarations are per module (mod.ts's re-exports keep the public surface exactly as
    // the source has it); emitting them type-checks mod.ts.
    await deno(["transpile", "--quiet", "--declaration", "--outdir", emitted, "mod.ts"]);
    await copyDeclarations(emitted, join(lib, "types"));
    const libEntry = join(lib, LIB_ENTRY);
    await Deno.writeTextFile(
      libEntry,
      `// @ts-self-types="./types/mod.d.ts"\n${await Deno.readTextFile(libEntry)}`,
    );
    await writeBuildInfo(cli, CLI_ENTRY, version, digest);
    await writeBuildInfo(lib, LIB_ENTRY, version, digest);
    if (digest !== await sourceDigest()) {
      throw new BundleError("the sources changed during the build; run it again");
    }
    await replaceDir(cli, join(out, CLI_DIR));
    await replaceDir(lib, join(out, LIB_DIR));
    return { cli: join(out, CLI_DIR), lib: join(out, LIB_DIR), sourceDigest: digest };
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

/**
 * Builds the bundles unless `out` already holds a build of the current sources (what the
 * tests and benchmarks call before they run the bundle).
 */
export async function ensureBuilt(out: string = DIST): Promise<BuildResult> {
  if (await isCurrent(out)) {
    return {
      cli: join(out, CLI_DIR),
      lib: join(out, LIB_DIR),
      sourceDigest: await sourceDigest(),
    };
  }
  return await build(out);
}

function writeLine(stream: { writeSync(p: Uint8Array): number }, line: string): void {
  let bytes = new TextEncoder().encode(`${line}\n`);
  while (bytes.length > 0) bytes = bytes.subarray(stream.writeSync(bytes));
}

/** Runs the script with `args`; returns the exit code. */
export async function run(args: readonly string[]): Promise<number> {
  let out = DIST;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--out" && args[i + 1]) out = args[++i];
    else if (a.startsWith("--out=")) out = a.slice("--out=".length);
    else if (a === "--help" || a === "-h") {
      writeLine(Deno.stdout, "usage: deno task bundle [--out DIR]");
      return 0;
    } else {
      writeLine(Deno.stderr, `bundle: unknown argument '${a}' (see --help)`);
      return 2;
    }
  }
  try {
    const result = await build(out);
    const info = await readBuildInfo(result.cli);
    const size = (dir: string, files: Readonly<Record<string, number>>) =>
      `${dir} (${Object.keys(files).length} files, ${
        (Object.values(files).reduce((a, b) => a + b, 0) / 1e6).toFixed(2)
      } MB)`;
    writeLine(Deno.stdout, size(result.cli, info?.files ?? {}));
    writeLine(Deno.stdout, size(result.lib, (await readBuildInfo(result.lib))?.files ?? {}));
    return 0;
  } catch (error) {
    writeLine(
      Deno.stderr,
      `bundle: ${error instanceof BundleError ? error.message : String(error)}`,
    );
    return 1;
  }
}

if (import.meta.main) Deno.exit(await run(Deno.args));
