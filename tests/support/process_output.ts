/**
 * A child process (the launcher, from source or bundled) whose stdout and stderr are
 * collected as text, with a wait for a pattern in them.
 *
 * @module
 */

/** A running process with its output collected. */
export interface LauncherProcess {
  readonly process: Deno.ChildProcess;
  /** Everything written to stdout / stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Waits until `pattern` appears in stderr+stdout (throws after `ms` or once it exited). */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpMatchArray>;
  /** Settles once the process ended and its output was read. */
  readonly status: Promise<Deno.CommandStatus>;
}

/** Collects the output of `process`, spawned with stdout and stderr piped. */
export function collectOutput(process: Deno.ChildProcess): LauncherProcess {
  let out = "";
  let err = "";
  const pump = async (stream: ReadableStream<Uint8Array>, add: (s: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) add(decoder.decode(chunk, { stream: true }));
  };
  const status = Promise.all([
    pump(process.stdout, (s) => out += s),
    pump(process.stderr, (s) => err += s),
  ]).then(() => process.status);
  let ended = false;
  status.then(() => ended = true);
  return {
    process,
    stdout: () => out,
    stderr: () => err,
    status,
    async waitFor(pattern, ms = 30_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        // Checked before `ended`: output read up to the exit still counts.
        const match = (err + out).match(pattern);
        if (match) return match;
        if (ended || Date.now() > deadline) {
          throw new Error(
            `launcher output never matched ${pattern}${
              ended ? " (it exited)" : ""
            }:\n${err}\n${out}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}
