/**
 * Runs `cplauncher render …` in-process with captured output. Goes through the real
 * `main()` once `render` is wired into src/cli/program.ts; until then through a program
 * built the same way (commander with exitOverride, errors reported as one line).
 *
 * @module
 */
import { Command, CommanderError } from "@commander-js/extra-typings";
import { ConfigError, formatIssue } from "../../src/config/mod.ts";
import { CliError, EXIT_USAGE } from "../../src/cli/exit_codes.ts";
import type { Io } from "../../src/cli/io.ts";
import { main } from "../../src/cli/program.ts";
import { renderCommand } from "../../src/cli/render.ts";

/** Whether program.ts installs `render` (the lead wires it). */
export const RENDER_WIRED = (await Deno.readTextFile(
  new URL("../../src/cli/program.ts", import.meta.url),
)).includes("renderCommand(");

/** Captured result of one CLI run. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function captureIo(): { io: Io; out: () => string; err: () => string } {
  let out = "";
  let err = "";
  const decoder = new TextDecoder();
  return {
    io: {
      out: (text) => out += text,
      err: (text) => err += text,
      errBytes: (bytes) => err += decoder.decode(bytes),
      outBytes: (bytes) => out += decoder.decode(bytes),
    },
    out: () => out,
    err: () => err,
  };
}

async function localMain(args: readonly string[], io: Io): Promise<number> {
  let exitCode = 0;
  const program = new Command().name("cplauncher").exitOverride().configureOutput({
    writeOut: (text) => io.out(text),
    writeErr: (text) => io.err(text),
    outputError: () => {},
  });
  renderCommand(program, () => ({
    io,
    global: { logFormat: "text", logLevel: "info" },
    setExitCode: (code) => exitCode = code,
  }));
  for (const command of program.commands) {
    command.exitOverride().configureOutput({
      writeOut: (text) => io.out(text),
      writeErr: (text) => io.err(text),
      outputError: () => {},
    });
  }
  try {
    await program.parseAsync([...args], { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0;
      io.err(`cplauncher: ${error.message.replace(/^error: /, "")}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof ConfigError) {
      for (const issue of error.issues) io.err(`${formatIssue(issue)}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof CliError) {
      io.err(`cplauncher: ${error.message}\n`);
      return error.exitCode;
    }
    throw error;
  }
}

/** Runs `cplauncher render <args>` and captures stdout, stderr and the exit code. */
export async function runRender(args: readonly string[]): Promise<CliRun> {
  const { io, out, err } = captureIo();
  const code = RENDER_WIRED
    ? await main(["render", ...args], io)
    : await localMain(["render", ...args], io);
  return { code, stdout: out(), stderr: err() };
}
