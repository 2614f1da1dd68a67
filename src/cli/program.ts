/**
 * The `cplauncher` command line: argument parsing and dispatch. Each command lives in its
 * own module; this one wires them to commander and turns failures into exit codes.
 *
 * @module
 */
import { Command, CommanderError, Option } from "@commander-js/extra-typings";
import { ConfigError, formatIssue } from "../config/mod.ts";
import { LOG_LEVELS, setupLogging } from "../log/mod.ts";
import { VERSION } from "../version.ts";
import { compartmentsCommand } from "./compartments.ts";
import { denoVersionProblem } from "./deno_version.ts";
import { doctorCommand } from "./doctor.ts";
import { execCommand, runExec } from "./exec.ts";
import { CliError, EXIT_INTERNAL, EXIT_USAGE } from "./exit_codes.ts";
import { type Io, stdio } from "./io.ts";
import { execArguments } from "./k2s_exec_args.ts";
import type { CommandContext, GlobalOptions } from "./options.ts";
import { planCommand } from "./plan.ts";
import { renderCommand } from "./render.ts";
import { runCommands } from "./run.ts";
import { schemaCommand } from "./schema.ts";
import { validateCommand } from "./validate.ts";

/**
 * Runs the CLI with `args` and returns the exit code. Never throws: every failure becomes a
 * one-line message on stderr and an exit code.
 */
export async function main(args: readonly string[], io: Io = stdio()): Promise<number> {
  // `doctor` still runs, so that its self-test can report the version among its findings.
  const tooOld = denoVersionProblem();
  if (tooOld && args[0] !== "doctor") {
    io.err(`cplauncher: ${tooOld}\n`);
    return EXIT_INTERNAL;
  }
  let exitCode = 0;
  let context: CommandContext | undefined;
  const program = new Command()
    .name("cplauncher")
    .description(
      "Start unmodified native processes inside a Kubernetes anchor pod's network compartment (Windows) or network namespace (Linux).",
    )
    .version(VERSION, "-V, --version")
    .addOption(
      new Option("--log-format <format>", "format of the launcher's own logs").choices(
        ["text", "json"] as const,
      ).default("text" as const),
    )
    .addOption(
      new Option("--log-level <level>", "lowest log level written").choices(LOG_LEVELS).default(
        "info" as const,
      ),
    )
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.out(text),
      writeErr: (text) => io.err(text),
      outputError: () => {}, // reported below as one line
    })
    .hook("preAction", async (thisCommand) => {
      const opts = thisCommand.opts();
      const global: GlobalOptions = { logFormat: opts.logFormat, logLevel: opts.logLevel };
      context = { io, global, setExitCode: (code) => exitCode = code };
      await setupLogging({ format: global.logFormat, level: global.logLevel, write: io.errBytes });
    });
  const ctx = () => {
    if (!context) throw new Error("command context used before the preAction hook");
    return context;
  };

  validateCommand(program, ctx);
  schemaCommand(program, ctx);
  planCommand(program, ctx);
  runCommands(program, ctx);
  execCommand(program);
  compartmentsCommand(program, ctx);
  doctorCommand(program, ctx);
  renderCommand(program, ctx);
  for (const command of program.commands) {
    command.exitOverride().configureOutput({
      writeOut: (text) => io.out(text),
      writeErr: (text) => io.err(text),
      outputError: () => {},
    });
  }

  const subcommands = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
  const execArgs = execArguments(args, [...subcommands, "help"]);
  if (execArgs) {
    try {
      return await runExec(execArgs, io, (error) => report(error, io));
    } catch (error) {
      return report(error, io);
    }
  }

  try {
    await program.parseAsync(args, { from: "user" });
    return exitCode;
  } catch (error) {
    return report(error, io);
  }
}

function report(error: unknown, io: Io): number {
  if (error instanceof CommanderError) {
    if (error.exitCode === 0) return 0; // --help, --version
    // No command given: commander has already printed the usage; that is the message.
    if (error.code === "commander.help" || error.code === "commander.helpDisplayed") {
      return EXIT_USAGE;
    }
    io.err(`cplauncher: ${error.message.replace(/^error: /, "")}\n`);
    return EXIT_USAGE;
  }
  if (error instanceof ConfigError) {
    for (const issue of error.issues) io.err(`${formatIssue(issue)}\n`);
    const n = error.issues.length;
    if (n > 1) io.err(`${n} errors\n`);
    return EXIT_USAGE;
  }
  if (error instanceof CliError) {
    io.err(`cplauncher: ${error.message}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.err(`cplauncher: internal error: ${message.split("\n")[0]}\n`);
  return EXIT_INTERNAL;
}
