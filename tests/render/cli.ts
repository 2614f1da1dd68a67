/**
 * Runs `cplauncher render …` in-process, through the real `main()`, with captured output.
 *
 * @module
 */
import type { Io } from "../../src/cli/io.ts";
import { main } from "../../src/cli/program.ts";

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

/** Runs `cplauncher render <args>` and captures stdout, stderr and the exit code. */
export async function runRender(args: readonly string[]): Promise<CliRun> {
  const { io, out, err } = captureIo();
  const code = await main(["render", ...args], io);
  return { code, stdout: out(), stderr: err() };
}
