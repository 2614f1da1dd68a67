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

/**
 * Collects whole lines and writes them in batches: the relay hands over every line of a
 * pipe chunk synchronously, and one write per chunk instead of per line is what keeps the
 * launcher close to `cat` speed. A batch is written when it is full or, at the latest, in the
 * microtask after the chunk. Writes are asynchronous and chained in order; once more than
 * {@linkcode MAX_QUEUED} bytes wait to be written, `add` returns a promise the relay awaits
 * before reading on, so a slow reader of the launcher's output slows the child down (pipe
 * backpressure) instead of growing memory or blocking the event loop.
 */
class LineBatch {
  static readonly MAX_QUEUED = 256 * 1024;
  #buffer = new Uint8Array(64 * 1024);
  #length = 0;
  #scheduled = false;
  #queued = 0;
  #tail: Promise<void> = Promise.resolve();
  readonly #write: (bytes: Uint8Array) => void | Promise<void>;

  constructor(write: (bytes: Uint8Array) => void | Promise<void>) {
    this.#write = write;
  }

  add(...parts: Uint8Array[]): Promise<void> | undefined {
    const size = parts.reduce((n, p) => n + p.length, 0);
    if (this.#length + size > this.#buffer.length) {
      this.flush();
      if (size > this.#buffer.length) this.#buffer = new Uint8Array(size);
    }
    for (const part of parts) {
      this.#buffer.set(part, this.#length);
      this.#length += part.length;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.flush());
    }
    return this.#queued > LineBatch.MAX_QUEUED ? this.#tail : undefined;
  }

  flush(): void {
    this.#scheduled = false;
    if (this.#length === 0) return;
    const bytes = this.#buffer.slice(0, this.#length);
    this.#length = 0;
    this.#queued += bytes.length;
    this.#tail = this.#tail.then(async () => {
      try {
        await this.#write(bytes);
      } catch {
        // Nobody reads our output any more (closed pipe): drop it rather than fail the
        // workload; the launcher's own logs say what happens.
      } finally {
        this.#queued -= bytes.length;
      }
    });
  }

  /** Resolves when everything added so far is written. */
  drain(): Promise<void> {
    this.flush();
    return this.#tail;
  }
}

const NEWLINE = new Uint8Array([0x0a]);

/** Relayed child output: `[name] line` (text), JSON records, or raw lines. */
interface OutputWriter {
  readonly write: (line: OutputLine) => Promise<void> | undefined;
  /** Waits until everything relayed so far is written. */
  readonly drain: () => Promise<void>;
}

function outputWriter(io: Io, format: "text" | "json" | "raw"): OutputWriter {
  const relay = io.relay;
  const stdout = new LineBatch(relay ? (b) => relay("stdout", b) : io.outBytes);
  const stderr = new LineBatch(relay ? (b) => relay("stderr", b) : io.errBytes);
  const prefixes = new Map<string, Uint8Array>();
  const write = ({ workload, stream, line, continued }: OutputLine) => {
    if (format === "json") {
      const record = {
        time: new Date().toISOString(),
        workload,
        stream,
        line: decoder.decode(line),
        ...(continued ? { continued } : {}),
      };
      return stdout.add(encoder.encode(`${JSON.stringify(record)}\n`));
    }
    const target = stream === "stdout" ? stdout : stderr;
    if (format === "raw") return target.add(line, NEWLINE);
    let prefix = prefixes.get(workload);
    if (!prefix) prefixes.set(workload, prefix = encoder.encode(`[${workload}] `));
    return target.add(prefix, line, NEWLINE);
  };
  return { write, drain: () => Promise.all([stdout.drain(), stderr.drain()]).then(() => {}) };
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
  const writer = outputWriter(context.io, format);
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
