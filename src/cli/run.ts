/**
 * `cplauncher run`: supervise the workloads of a config (`exec` shares {@linkcode supervise}).
 *
 * @module
 */
import { type Command, Option } from "@commander-js/extra-typings";
import { getLogger } from "@logtape/logtape";
import { type Config, loadConfig, type ProgramLock } from "../config/mod.ts";
import { createPlatform, type PlatformBackend, widenOwnOutput } from "../platform/mod.ts";
import { createOutputWriter, serveHealth, Supervisor } from "../supervisor/mod.ts";
import { CliError, EXIT_USAGE, exitCodeFor } from "./exit_codes.ts";
import { lockForRun } from "./lock.ts";
import { type CommandContext, configOption, resolveConfigPath } from "./options.ts";

const log = getLogger(["cplauncher", "cli"]);

/**
 * Runs a supervisor until its workloads end or a signal stops it, and returns the exit code.
 * `options.platform` replaces the running OS's backend; `options.lock` pins programs.
 */
export async function supervise(
  config: Config,
  context: CommandContext,
  workloads: readonly string[] | undefined,
  format: "text" | "json" | "raw",
  options: { readonly platform?: PlatformBackend; readonly lock?: ProgramLock } = {},
): Promise<number> {
  if (Object.keys(config.workloads).length === 0) {
    throw new CliError("the config declares no workloads; nothing to run", EXIT_USAGE);
  }
  const platform = options.platform ?? await createPlatform();
  await widenOwnOutput();
  const io = context.io;
  const relay = io.relay;
  const writer = createOutputWriter(
    relay ? (bytes) => relay("stdout", bytes) : io.outBytes,
    relay ? (bytes) => relay("stderr", bytes) : io.errBytes,
    format,
  );
  let supervisor: Supervisor;
  try {
    supervisor = new Supervisor({
      config,
      platform,
      ...(workloads && workloads.length > 0 ? { workloads } : {}),
      output: writer,
      ...(options.lock ? { lock: options.lock } : {}),
    });
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error), EXIT_USAGE);
  }
  const health = config.health
    ? serveHealth(config.health.address, config.health.port, () => supervisor.status())
    : undefined;
  const stopTimeouts = Object.entries(config.workloads)
    .filter(([name]) => !workloads || workloads.length === 0 || workloads.includes(name))
    .map(([, workload]) => workload.stopTimeout);
  const unwatch = await watchStopRequests(() => void supervisor.stop(), stopTimeouts);
  try {
    const result = await supervisor.start();
    await writer.drain();
    return exitCodeFor(result);
  } finally {
    unwatch();
    await health?.shutdown();
  }
}

/**
 * Calls `stop` when the launcher is asked to stop: SIGINT/SIGTERM on Linux; on Windows every
 * console control event, through a handler that also stops the workloads itself before a
 * CTRL_CLOSE/CTRL_SHUTDOWN handler returns and Windows ends the process (see
 * src/platform/windows/console.ts). Returns the function that stops listening.
 */
async function watchStopRequests(
  stop: () => void,
  stopTimeoutsMs: readonly number[],
): Promise<() => void> {
  if (Deno.build.os === "windows") {
    const { handleConsoleControl, shutdownBudget } = await import("../platform/windows/mod.ts");
    try {
      return handleConsoleControl({ stop, budgetMs: shutdownBudget(stopTimeoutsMs) });
    } catch (error) {
      log.warn(
        "no console control handler ({error}); stopping on Ctrl-C/Ctrl-Break only, and a " +
          "CTRL_SHUTDOWN_EVENT ends the launcher without stopping its workloads gracefully",
        { error: error instanceof Error ? error.message : String(error) },
      );
    }
  }
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  for (const signal of signals) Deno.addSignalListener(signal, stop);
  return () => {
    for (const signal of signals) Deno.removeSignalListener(signal, stop);
  };
}

/** Installs the command(s) of this module. */
export function runCommands(program: Command, context: () => CommandContext): void {
  program.command("run")
    .description("start the workloads of a config in their anchors and supervise them")
    .addOption(configOption())
    .addOption(new Option("-w, --workload <name...>", "only these workloads (repeatable)"))
    .action(async (options) => {
      const path = resolveConfigPath(options.config);
      const config = await loadConfig(path);
      const os = Deno.build.os === "windows" ? "windows" : "linux";
      const lock = await lockForRun(config, path, options.workload, os);
      const ctx = context();
      ctx.setExitCode(
        await supervise(config, ctx, options.workload, ctx.global.logFormat, lock ? { lock } : {}),
      );
    });
}
