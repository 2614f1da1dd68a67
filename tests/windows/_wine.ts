/**
 * Linux-side plumbing for running Windows programs (the real Windows deno.exe, the helper)
 * under Wine 10 inside the Debian trixie root that `scripts/wine_setup.sh` prepares.
 *
 * Every run happens in a private mount namespace (`unshare --mount`): /proc, /dev and the
 * repository are bind-mounted into the root for that one command and vanish with it, even if
 * the test is killed, so nothing leaks onto the host's mount table.
 *
 * Also runnable by hand: `deno run -A tests/windows/_wine.ts [deno args…]` runs the Windows
 * deno under Wine (default: `test --allow-all tests/windows/wine/*.wine.ts`) and prints its
 * output, e.g. `deno run -A tests/windows/_wine.ts test -A --filter Ctrl
 * tests/windows/wine/launch.wine.ts`.
 *
 * @module
 */

/** Paths printed by `scripts/wine_setup.sh`. */
export interface WineEnv {
  /** Host path of the trixie root. */
  readonly root: string;
  /** Wine launcher inside the root. */
  readonly wine: string;
  /** WINEPREFIX inside the root. */
  readonly prefix: string;
  /** Path of deno.exe inside the root. */
  readonly denoExe: string;
  /** Host path of x86_64-w64-mingw32-gcc. */
  readonly mingwGcc: string;
}

const REPO = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** Run `scripts/wine_setup.sh` (idempotent; minutes when cold, ~1 s when warm). */
export async function wineSetup(): Promise<WineEnv> {
  const out = await new Deno.Command("bash", {
    args: [`${REPO}/scripts/wine_setup.sh`],
    // The Windows deno must match this one, whether or not `deno` is on PATH.
    env: { DENO_WIN_VERSION: Deno.version.deno },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `wine_setup.sh failed (${out.code}):\n${text}\n${new TextDecoder().decode(out.stderr)}`,
    );
  }
  const kv = Object.fromEntries(
    text.split("\n").filter((l) => l.includes("=")).map((l) => {
      const i = l.indexOf("=");
      return [l.slice(0, i), l.slice(i + 1)];
    }),
  );
  return {
    root: kv.WINE_ROOT,
    wine: kv.WINE_BIN,
    prefix: kv.WINEPREFIX_IN_ROOT,
    denoExe: kv.DENO_EXE_IN_ROOT,
    mingwGcc: kv.MINGW_GCC,
  };
}

/** Directory inside the root for test artefacts (helper.exe, the Windows DENO_DIR). */
export const ARTEFACTS_IN_ROOT = "/opt/cplauncher-test";

/** Compile tests/windows/wine/helper.c into the root; returns its Windows path. */
export async function buildHelper(env: WineEnv): Promise<string> {
  const dir = `${env.root}${ARTEFACTS_IN_ROOT}`;
  await Deno.mkdir(dir, { recursive: true });
  const out = await new Deno.Command(env.mingwGcc, {
    args: [
      "-municode",
      "-O1",
      "-Wall",
      "-Werror",
      "-o",
      `${dir}/helper.exe`,
      `${REPO}/tests/windows/wine/helper.c`,
      "-lws2_32",
    ],
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`helper.c: ${new TextDecoder().decode(out.stderr)}`);
  return `Z:${ARTEFACTS_IN_ROOT.replaceAll("/", "\\")}\\helper.exe`;
}

/**
 * The programs the Windows deno runs besides the suite: the launcher's entry point and the
 * example HTTP service it supervises in the CLI test.
 */
export const WINE_ENTRY_POINTS = ["src/main.ts", "examples/albums/main.ts"];

/**
 * Fill a DENO_DIR for the Windows deno from Linux (npm packages are platform-neutral here),
 * so the Wine run needs no network and can use `--cached-only`: every `.ts` file in the
 * folder `entry`, and the files `extra`.
 */
export async function prepareDenoDir(
  env: WineEnv,
  entry: string,
  extra: readonly string[] = WINE_ENTRY_POINTS,
): Promise<string> {
  const dir = `${env.root}${ARTEFACTS_IN_ROOT}/deno-dir`;
  const files: string[] = [...extra];
  for await (const e of Deno.readDir(`${REPO}/${entry}`)) {
    if (e.isFile && e.name.endsWith(".ts")) files.push(`${entry}/${e.name}`.replace("//", "/"));
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["cache", "--node-modules-dir=none", ...files.sort()],
    env: { DENO_DIR: dir, NO_COLOR: "1" },
    cwd: REPO,
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`deno cache: ${new TextDecoder().decode(out.stderr)}`);
  return `Z:${ARTEFACTS_IN_ROOT.replaceAll("/", "\\")}\\deno-dir`;
}

/**
 * A WINEPREFIX of its own for `name` (a copy of the suite's, made once): its own wineserver,
 * so `wineserver -w` after a run waits for that run's processes only — and returning at all
 * proves none was left behind — whatever else runs under Wine on this machine.
 */
export async function privatePrefix(env: WineEnv, name: string): Promise<string> {
  const prefix = `${env.prefix}-${name}`;
  const onHost = `${env.root}${prefix}`;
  try {
    await Deno.stat(`${onHost}/system.reg`);
    return prefix;
  } catch { /* not made yet */ }
  const tmp = `${onHost}.tmp`;
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  const cp = await new Deno.Command("cp", {
    args: ["-a", `${env.root}${env.prefix}`, tmp],
    stderr: "piped",
  }).output();
  if (!cp.success) {
    throw new Error(`copying the WINEPREFIX: ${new TextDecoder().decode(cp.stderr)}`);
  }
  await Deno.rename(tmp, onHost);
  return prefix;
}

/** Result of a Wine run. */
export interface WineRun {
  /** Exit code of the Windows program (as Wine reports it). */
  readonly code: number;
  /** Its stdout. */
  readonly stdout: string;
  /** Its stderr (Wine's own noise is suppressed with WINEDEBUG=-all). */
  readonly stderr: string;
  /** Wall time in ms, including Wine start-up. */
  readonly ms: number;
}

/** Options for {@linkcode runInWine}. */
export interface WineRunOptions {
  /** Extra environment variables for the Windows program. */
  readonly env?: Record<string, string>;
  /**
   * Give the program a console by running it on a pseudo-terminal (`script`). Without one,
   * Wine starts console programs with no console at all, and console control events
   * (Ctrl-Break) cannot be delivered. stdout and stderr then arrive merged in `stdout`.
   */
  readonly console?: boolean;
}

/**
 * The command that runs a Windows program (path inside the root, or a Windows path) with
 * `args` under Wine, with the repository bind-mounted at its own path and as the working
 * directory. `stdin` is piped when `options.stdin` is set (to type into the console).
 */
export function wineCommand(
  env: WineEnv,
  program: string,
  args: string[],
  options: WineRunOptions & { readonly stdin?: boolean } = {},
): Deno.Command {
  const vars: Record<string, string> = {
    PATH: "/usr/bin:/bin",
    HOME: "/root",
    WINEPREFIX: env.prefix,
    WINEDEBUG: "-all",
    // Gecko/Mono installers would otherwise be offered on first start.
    WINEDLLOVERRIDES: "mscoree,mshtml=",
    XDG_RUNTIME_DIR: "/tmp",
    NO_COLOR: "1",
    TERM: "dumb",
    ...options.env,
  };
  let command = [env.wine, program, ...args].map(shellQuote).join(" ");
  // A wide terminal so that nothing is wrapped at 80 columns before we parse it. `exec`: a
  // Ctrl-C typed into the terminal then reaches Wine alone, not a shell that would die of it.
  if (options.console) {
    command = `script -qec ${shellQuote(`stty cols 1000; exec ${command}`)} /dev/null`;
  }
  // Inside the namespace: mount, chroot, run, then wait for wineserver so that it does not
  // outlive the namespace's mounts.
  const script = `
set -e
R="$1"; REPO="$2"; CMD="$3"; shift 3
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mkdir -p "$R$REPO"
mount --bind "$REPO" "$R$REPO"
set +e
chroot "$R" /usr/bin/env -i ${
    Object.entries(vars).map(([k, v]) => `${k}=${shellQuote(v)}`).join(" ")
  } sh -c 'cd "$1" && eval "$2"; rc=$?; wineserver -w; exit $rc' _ "$REPO" "$CMD"
`;
  return new Deno.Command("unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      "--",
      "sh",
      "-c",
      script,
      "_",
      env.root,
      REPO,
      command,
    ],
    stdout: "piped",
    stderr: "piped",
    stdin: options.stdin ? "piped" : "null",
  });
}

/** Output of a Wine run, cleaned of the pseudo-terminal's CRs and escape sequences. */
export function wineText(bytes: Uint8Array, console: boolean | undefined): string {
  const s = new TextDecoder().decode(bytes);
  // deno-lint-ignore no-control-regex -- ESC is exactly what has to be matched here
  return console ? s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").replace(/\r+\n/g, "\n") : s;
}

/** Run a Windows program under Wine (see {@linkcode wineCommand}) and collect its output. */
export async function runInWine(
  env: WineEnv,
  program: string,
  args: string[],
  options: WineRunOptions = {},
): Promise<WineRun> {
  const t0 = performance.now();
  const out = await wineCommand(env, program, args, options).output();
  return {
    code: out.code,
    stdout: wineText(out.stdout, options.console),
    stderr: wineText(out.stderr, options.console),
    ms: performance.now() - t0,
  };
}

function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Summary of a `deno test` run, parsed from its closing line. */
export interface DenoTestSummary {
  /** Whether the closing line says `ok`. */
  readonly ok: boolean;
  /** Tests passed. */
  readonly passed: number;
  /** Tests failed. */
  readonly failed: number;
  /** Tests ignored (not counted as passed). */
  readonly ignored: number;
}

/** Parse deno test's `ok | 3 passed | 0 failed | 1 ignored (2s)` line. */
export function parseDenoTestSummary(output: string): DenoTestSummary | null {
  const m =
    /^(ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed(?: \(\d+ steps?\))?(?: \| (\d+) ignored)?/m
      .exec(output);
  if (!m) return null;
  return {
    ok: m[1] === "ok",
    passed: Number(m[2]),
    failed: Number(m[3]),
    ignored: Number(m[4] ?? 0),
  };
}

/**
 * The Wine suite's files. They are named `*.wine.ts`, not `*_test.ts`, so that a Linux
 * `deno test` does not collect them (they need Win32); the Windows deno is given them by name.
 */
export async function wineSuiteFiles(): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(`${REPO}/tests/windows/wine`)) {
    if (e.isFile && e.name.endsWith(".wine.ts")) files.push(`tests/windows/wine/${e.name}`);
  }
  return files.sort();
}

/** Prepare everything and run the Windows deno with `denoArgs` (the suite by default). */
export async function runWineSuite(
  denoArgs?: string[],
  options: { readonly prefixName?: string } = {},
): Promise<WineRun & { setupMs: number }> {
  denoArgs ??= ["test", "--allow-all", ...(await wineSuiteFiles())];
  const t0 = performance.now();
  const env = await wineSetup();
  const helper = await buildHelper(env);
  const denoDir = await prepareDenoDir(env, "tests/windows/wine/");
  const prefix = options.prefixName ? await privatePrefix(env, options.prefixName) : env.prefix;
  const setupMs = performance.now() - t0;
  const [cmd, ...rest] = denoArgs;
  const run = await runInWine(
    env,
    env.denoExe,
    [cmd, "--node-modules-dir=none", "--cached-only", ...rest],
    {
      env: { DENO_DIR: denoDir, CPLAUNCHER_WINE_HELPER: helper, WINEPREFIX: prefix },
      console: true,
    },
  );
  return { ...run, setupMs };
}

if (import.meta.main) {
  // WINE_PREFIX_NAME=x: run in a WINEPREFIX of its own (see privatePrefix).
  const prefixName = Deno.env.get("WINE_PREFIX_NAME");
  const r = await runWineSuite(
    Deno.args.length ? Deno.args : undefined,
    prefixName ? { prefixName } : {},
  );
  await Deno.stdout.write(new TextEncoder().encode(r.stdout));
  await Deno.stderr.write(new TextEncoder().encode(r.stderr));
  await Deno.stderr.write(
    new TextEncoder().encode(
      `\n[wine] setup ${Math.round(r.setupMs)} ms, run ${Math.round(r.ms)} ms, exit ${r.code}\n`,
    ),
  );
  Deno.exit(r.code);
}
