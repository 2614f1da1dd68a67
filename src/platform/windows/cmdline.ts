/**
 * Building a Windows command line from an argv array.
 *
 * Windows passes a process one string, and each program splits it itself; almost every
 * program uses the Microsoft C runtime rules, which `CommandLineToArgvW` also implements:
 *
 * - arguments are separated by spaces or tabs; a `"` toggles "inside quotes";
 * - `2n` backslashes followed by `"` produce `n` backslashes and the quote toggles;
 * - `2n+1` backslashes followed by `"` produce `n` backslashes and a literal `"`;
 * - backslashes not followed by `"` are literal;
 * - the program name (argv[0]) is special: it ends at the first space/tab, or, when it starts
 *   with `"`, at the next `"`, with no backslash processing at all.
 *
 * The encoder below quotes only when needed and escapes quotes as `\"` (never `""`, which the
 * CRT and `CommandLineToArgvW` treat differently), so both parsers read back the same argv.
 * `cmd.exe` is never involved: its `^`/`%` rules are a different language, which is why the
 * launcher never runs a workload through a shell.
 *
 * @module
 */
import { PlatformError } from "../errors.ts";

/** Raised for an argv that no Windows command line can represent. */
export class CommandLineError extends PlatformError {
  /** Build the error. */
  constructor(message: string) {
    super("invalid-command", message);
    this.name = "CommandLineError";
  }
}

// Space, tab, newline, vertical tab: the CRT splits on the first two; quoting the others too
// costs nothing and protects programs with hand-written parsers.
const NEEDS_QUOTES = /[ \t\n\v"]/;

/** Quote one non-program argument by the CRT rules. */
export function quoteArg(arg: string): string {
  if (arg.includes("\0")) throw new CommandLineError("argument contains a NUL character");
  if (arg.length > 0 && !NEEDS_QUOTES.test(arg)) return arg;
  let out = '"';
  let backslashes = 0;
  for (const ch of arg) {
    if (ch === "\\") {
      backslashes++;
      continue;
    }
    if (ch === '"') {
      // Double the run so it stays literal, then one more to escape the quote itself.
      out += "\\".repeat(backslashes * 2 + 1) + '"';
    } else {
      out += "\\".repeat(backslashes) + ch;
    }
    backslashes = 0;
  }
  // A trailing run precedes our closing quote, so it must be doubled too.
  out += "\\".repeat(backslashes * 2) + '"';
  return out;
}

/** Quote the program name (argv[0]), which is parsed without backslash escapes. */
export function quoteProgram(program: string): string {
  if (program.length === 0) throw new CommandLineError("program name is empty");
  if (program.includes("\0")) throw new CommandLineError("program name contains a NUL");
  if (program.includes('"')) {
    // No escape exists for a quote in argv[0]; Windows paths cannot contain one anyway.
    throw new CommandLineError(`program name contains a double quote: ${program}`);
  }
  return /[ \t\n\v]/.test(program) ? `"${program}"` : program;
}

/** Build the full command line for `argv` (argv[0] is the program). */
export function buildCommandLine(argv: readonly string[]): string {
  if (argv.length === 0) throw new CommandLineError("empty argv");
  const [program, ...args] = argv;
  return [quoteProgram(program), ...args.map(quoteArg)].join(" ");
}

/**
 * Windows limits a command line to 32,767 UTF-16 units including the terminating NUL;
 * `CreateProcessW` fails with ERROR_FILENAME_EXCED_RANGE past it, so check early and say why.
 */
export const MAX_COMMAND_LINE = 32766;
