/**
 * Running the shipped bundle the way users run it: `deno run -A --no-config
 * dist/cplauncher/main.js …` from a folder outside the repository, so neither deno.json, its
 * import map nor node_modules can help it. The bundle is (re)built first when `dist/` does not
 * hold a build of the current sources.
 *
 * @module
 */
import { join } from "node:path";
import { type BuildResult, CLI_ENTRY, ensureBuilt } from "../../scripts/bundle.ts";
import { collectOutput, type LauncherProcess } from "../support/process_output.ts";

let built: Promise<BuildResult> | undefined;

/** The bundles of the current sources (built once per test process when stale). */
export function bundle(): Promise<BuildResult> {
  built ??= ensureBuilt();
  return built;
}

let outside: Promise<string> | undefined;

/** A working directory outside the repository, shared by the file's launcher runs. */
function outsideDir(): Promise<string> {
  outside ??= Deno.makeTempDir({ prefix: "cplauncher-bundle-cwd-" }).then((dir) => {
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* already gone */ }
    });
    return dir;
  });
  return outside;
}

/**
 * Where the bundled `exec` runs keep their launcher log files: the scratch directory, not the
 * machine's /var/log/cplauncher.
 */
export async function launcherLogDir(): Promise<string> {
  return join(await outsideDir(), "launcher-logs");
}

/** The command line that runs the bundled CLI (before its own arguments). */
export async function bundledArgv(): Promise<string[]> {
  const { cli } = await bundle();
  return [Deno.execPath(), "run", "--allow-all", "--no-config", join(cli, CLI_ENTRY)];
}

/** Output of a finished bundled run. */
export interface BundledRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The bundled CLI with `args`, run from outside the repository with its output piped. */
async function bundledCommand(
  args: readonly string[],
  env: Record<string, string>,
): Promise<Deno.Command> {
  const [program, ...rest] = await bundledArgv();
  return new Deno.Command(program, {
    args: [...rest, ...args],
    cwd: await outsideDir(),
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Runs the bundled CLI with `args` to its end. */
export async function runBundled(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<BundledRun> {
  const output = await (await bundledCommand(args, env)).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: text(output.stdout), stderr: text(output.stderr) };
}

/** A running bundled launcher with its output collected. */
export interface BundledLauncher extends LauncherProcess {
  /** SIGKILLs it if it still runs and waits for it. */
  kill(): Promise<void>;
}

/** Starts the bundled CLI with `args` in the background. */
export async function startBundled(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<BundledLauncher> {
  const launcher = collectOutput((await bundledCommand(args, env)).spawn());
  return {
    ...launcher,
    async kill() {
      try {
        launcher.process.kill("SIGKILL");
      } catch { /* already ended */ }
      await launcher.status;
    },
  };
}
