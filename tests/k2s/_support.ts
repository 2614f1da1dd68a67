/**
 * Shared by the k2s compatibility tests: a stand-in for the k2s README's `myapp.exe` that
 * reports where it ran, and helpers around the launcher process.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type LauncherProcess, startLauncher } from "../support/albums_scenario.ts";

/**
 * `myapp.exe`: prints its network namespace, arguments and the compartment variables, touches
 * `$MYAPP_MARKER` when set, and exits with `$MYAPP_EXIT` (default 0).
 */
const MYAPP = `#!/bin/sh
echo "netns=$(readlink /proc/self/ns/net)"
echo "args=$*"
echo "COMPARTMENT_ID=\${COMPARTMENT_ID-unset}"
echo "COMPARTMENT_ID_ATTACH=\${COMPARTMENT_ID_ATTACH-unset}"
if [ -n "$MYAPP_MARKER" ]; then touch "$MYAPP_MARKER"; fi
exit "\${MYAPP_EXIT:-0}"
`;

/** A scratch folder with `myapp.exe` (and anything else a test puts there) on PATH. */
export interface Workbench {
  readonly dir: string;
  /** Directory holding `myapp.exe`; prepend it to PATH. */
  readonly bin: string;
  /** Directory for launcher log files (`-log-dir`). */
  readonly logs: string;
  /** Environment for the launcher: PATH with `bin` first. */
  readonly env: Record<string, string>;
  /** Writes an executable script into `bin` and returns its path. */
  script(name: string, text: string): Promise<string>;
  /** A fresh path for a marker file (not created). */
  marker(name: string): string;
  remove(): Promise<void>;
}

/** Creates a {@linkcode Workbench}. */
export async function workbench(): Promise<Workbench> {
  const dir = await Deno.makeTempDir({ prefix: "cplauncher-k2s-" });
  const bin = join(dir, "bin");
  const logs = join(dir, "logs");
  await Deno.mkdir(bin);
  const bench: Workbench = {
    dir,
    bin,
    logs,
    env: { PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}` },
    async script(name, text) {
      const path = join(bin, name);
      await Deno.writeTextFile(path, text);
      await Deno.chmod(path, 0o755);
      return path;
    },
    marker: (name) => join(dir, `${name}.marker`),
    remove: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
  await bench.script("myapp.exe", MYAPP);
  return bench;
}

/** What `myapp.exe` reported. */
export interface MyappReport {
  /** `net:[inode]` of the namespace it ran in. */
  readonly netns: string;
  readonly args: string;
  readonly compartmentId: string;
  readonly attach: string;
}

/** Parses `myapp.exe`'s output out of the launcher's stdout. */
export function myappReport(stdout: string): MyappReport {
  const value = (key: string) => {
    const match = new RegExp(`^${key}=(.*)$`, "m").exec(stdout);
    assert.ok(match, `myapp.exe printed no ${key}= line; stdout:\n${stdout}`);
    return match[1];
  };
  return {
    netns: value("netns"),
    args: value("args"),
    compartmentId: value("COMPARTMENT_ID"),
    attach: value("COMPARTMENT_ID_ATTACH"),
  };
}

/** `net:[inode]` of a namespace file, as `readlink /proc/self/ns/net` prints it. */
export function netnsLink(path: string): string {
  return `net:[${Deno.statSync(path).ino}]`;
}

/** A finished launcher run. */
export interface LauncherRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly pid: number;
}

/** Runs `cplauncher ARGS` to the end (killing it after `ms`). */
export async function runLauncher(
  args: string[],
  env: Record<string, string>,
  ms = 60_000,
): Promise<LauncherRun> {
  const launcher = startLauncher(args, env);
  const timer = setTimeout(() => {
    try {
      launcher.process.kill("SIGKILL");
    } catch { /* ended */ }
  }, ms);
  try {
    const status = await launcher.status;
    return {
      code: status.code,
      stdout: launcher.stdout(),
      stderr: launcher.stderr(),
      pid: launcher.process.pid,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Starts a launcher and leaves it running. */
export function spawnLauncher(args: string[], env: Record<string, string>): LauncherProcess {
  return startLauncher(args, env);
}

/** The whole run, for assertion messages. */
export function show(run: LauncherRun): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`;
}

/** Whether a file exists. */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether `pid` is a live process (not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Polls `check` every 50 ms until it is true or `ms` pass; returns its last answer. */
export async function eventually(check: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}
