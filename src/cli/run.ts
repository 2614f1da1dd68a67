/**
 * `cplauncher run` (supervise the workloads of a config) and `cplauncher exec` (the k2s
 * launcher's command line: one anchor by label, one command, its exit code).
 *
 * @module
 */
import { type Command, Option } from "@commander-js/extra-typings";
import { type Config, configSchema, loadConfig, parseDuration } from "../config/mod.ts";
import { createPlatform } from "../platform/mod.ts";
import { type OutputLine, serveHealth, Supervisor } from "../supervisor/mod.ts";
import { CliError, EXIT_USAGE } from "./exit_codes.ts";
import type { Io } from "./io.ts";
import { type CommandContext, configOption, resolveConfigPath } from "./options.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Writes relayed child output: `[name] line` (text), JSON records, or raw lines. */
function outputWriter(io: Io, format: "text" | "json" | "raw"): (line: OutputLine) => void {
  return ({ workload, stream, line, continued }) => {
    const write = stream === "stdout" ? io.outBytes : io.errBytes;
    if (format === "json") {
      const record = {
        time: new Date().toISOString(),
        workload,
        stream,
        line: decoder.decode(line),
        ...(continued ? { continued } : {}),
      };
      io.outBytes(encoder.encode(`${JSON.stringify(record)}\n`));
      return;
    }
    const prefix = format === "text" ? encoder.encode(`[${workload}] `) : new Uint8Array(0);
    const buffer = new Uint8Array(prefix.length + line.length + 1);
    buffer.set(prefix, 0);
    buffer.set(line, prefix.length);
    buffer[buffer.length - 1] = 0x0a;
    write(buffer);
  };
}

/** Runs a supervisor until its workloads end or a signal stops it. */
async function supervise(
  config: Config,
  context: CommandContext,
  workloads: readonly string[] | undefined,
  format: "text" | "json" | "raw",
): Promise<number> {
  if (Object.keys(config.workloads).length === 0) {
    throw new CliError("the config declares no workloads; nothing to run", EXIT_USAGE);
  }
  const platform = await createPlatform();
  let supervisor: Supervisor;
  try {
    supervisor = new Supervisor({
      config,
      platform,
      ...(workloads && workloads.length > 0 ? { workloads } : {}),
      output: outputWriter(context.io, format),
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
    return result.exitCode;
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

  program.command("exec")
    .description(
      "k2s-compatible: find the anchor pod by label, start one command in its network, exit with its code",
    )
    .requiredOption("--label <selector>", "label selector of the anchor pod (also -label)")
    .option("--namespace <ns>", "namespace of the anchor pod (also -namespace)", "default")
    .option("--timeout <duration>", "how long to wait for the anchor (also -label-timeout)", "120s")
    .option("--node <name>", "only anchors on this node")
    .addOption(
      new Option("--pick <mode>", "exactly-one, first-ready or claim").choices(
        ["exactly-one", "first-ready", "claim"] as const,
      ).default("first-ready" as const),
    )
    .option("--kubeconfig <path>", "auto, in-cluster or a kubeconfig path", "auto")
    .argument("<command...>", "the program and its arguments (after --)")
    .action(async (command, options) => {
      if (parseDuration(options.timeout) === undefined) {
        throw new CliError(
          `--timeout: "${options.timeout}" is not a duration (e.g. 30s, 2m)`,
          EXIT_USAGE,
        );
      }
      const parsed = configSchema.safeParse({
        apiVersion: "cplauncher/v1",
        kubernetes: { kubeconfig: options.kubeconfig },
        anchors: {
          anchor: {
            selector: options.label,
            namespace: options.namespace,
            timeout: options.timeout,
            pick: options.pick,
            ...(options.node ? { node: options.node } : {}),
          },
        },
        workloads: { workload: { anchor: "anchor", command, restart: { policy: "never" } } },
      });
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const field = String(issue.path[issue.path.length - 1] ?? "argument");
        throw new CliError(
          `--${field === "selector" ? "label" : field}: ${issue.message}`,
          EXIT_USAGE,
        );
      }
      const ctx = context();
      ctx.setExitCode(
        await supervise(
          parsed.data,
          ctx,
          undefined,
          ctx.global.logFormat === "json" ? "json" : "raw",
        ),
      );
    });
}
