/**
 * `cplauncher run`: supervise the workloads of a config (`exec` shares {@linkcode supervise}).
 *
 * @module
 */
import { type Command, Option } from "@commander-js/extra-typings";
import { type Config, loadConfig } from "../config/mod.ts";
import { createPlatform, type PlatformBackend } from "../platform/mod.ts";
import { createOutputWriter, serveHealth, Supervisor } from "../supervisor/mod.ts";
import { CliError, EXIT_USAGE, exitCodeFor } from "./exit_codes.ts";
import { type CommandContext, configOption, resolveConfigPath } from "./options.ts";

/**
 * Runs a supervisor until its workloads end or a signal stops it, and returns the exit code.
 * `options.platform` replaces the running OS's backend.
 */
export async function supervise(
  config: Config,
  context: CommandContext,
  workloads: readonly string[] | undefined,
  format: "text" | "json" | "raw",
  options: { readonly platform?: PlatformBackend } = {},
): Promise<number> {
  if (Object.keys(config.workloads).length === 0) {
    throw new CliError("the config declares no workloads; nothing to run", EXIT_USAGE);
  }
  const platform = options.platform ?? await createPlatform();
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
      output: writer.write,
    });
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error), EXIT_USAGE);
  }
  const health = config.health
    ? serveHealth(config.health.address, config.health.port, () => supervisor.status())
    : undefined;
  const signals: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT", "SIGBREAK"]
    : ["SIGINT", "SIGTERM"];
  const onSignal = () => void supervisor.stop();
  for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  try {
    const result = await supervisor.start();
    await writer.drain();
    return exitCodeFor(result);
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
    await health?.shutdown();
  }
}

/** Installs the command(s) of this module. */
export function runCommands(program: Command, context: () => CommandContext): void {
  program.command("run")
    .description("start the workloads of a config in their anchors and supervise them")
    .addOption(configOption())
    .addOption(new Option("-w, --workload <name...>", "only these workloads (repeatable)"))
    .action(async (options) => {
      const config = await loadConfig(resolveConfigPath(options.config));
      const ctx = context();
      ctx.setExitCode(await supervise(config, ctx, options.workload, ctx.global.logFormat));
    });
}
