/**
 * Logging setup. Library modules only call `getLogger(["cplauncher", …])`; the CLI (or a
 * script using the library) decides where records go by calling {@linkcode setupLogging}.
 *
 * @module
 */
import { configure, type LogRecord, reset, type Sink } from "@logtape/logtape";

/**
 * Output format of the launcher's own log records.
 *
 * See the {@linkcode setupLogging} example.
 */
export type LogFormat = "text" | "json";

/**
 * Log levels accepted on the command line.
 *
 * See the {@linkcode setupLogging} example, which checks a level given by the user.
 */
export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error", "fatal"] as const;

/**
 * One of {@linkcode LOG_LEVELS} (the same names as logtape's levels).
 *
 * See the {@linkcode setupLogging} example.
 */
export type LogLevelName = (typeof LOG_LEVELS)[number];

/** Options for {@linkcode setupLogging}. */
export interface LoggingOptions {
  /** `text` (human) or `json` (one object per line). */
  readonly format?: LogFormat;
  /** Lowest level written. */
  readonly level?: LogLevelName;
  /** Where bytes go; standard error by default. */
  readonly write?: (bytes: Uint8Array) => void;
}

const encoder = new TextEncoder();

function renderMessage(record: LogRecord): string {
  return record.message.map((part) => typeof part === "string" ? part : renderValue(part))
    .join("");
}

function renderValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return value.message;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** `12:00:01.123 INFO  kube: resolved anchor albums → pod …`. */
function textLine(record: LogRecord): string {
  const time = new Date(record.timestamp).toISOString().slice(11, 23);
  const level = record.level.toUpperCase().padEnd(5);
  const category = record.category.slice(1).join(".") || record.category.join(".");
  return `${time} ${level} ${category}: ${renderMessage(record)}\n`;
}

/** One JSON object per record: time, level, logger, rendered message, then properties. */
function jsonLine(record: LogRecord): string {
  const entry: Record<string, unknown> = {
    time: new Date(record.timestamp).toISOString(),
    level: record.level,
    logger: record.category.join("."),
    message: renderMessage(record),
  };
  for (const [key, value] of Object.entries(record.properties)) {
    if (!(key in entry)) entry[key] = value instanceof Error ? value.message : value;
  }
  try {
    return `${JSON.stringify(entry)}\n`;
  } catch {
    return `${JSON.stringify({ ...entry, properties: "unserializable" })}\n`;
  }
}

/**
 * Sends all `cplauncher` log records to standard error (synchronously, so nothing is lost
 * when the process exits right after logging).
 *
 * @example Log as JSON at a level given on the command line
 * ```ts
 * import { LOG_LEVELS, setupLogging, teardownLogging } from "@cplauncher/cplauncher";
 *
 * const wanted = Deno.args[0] ?? "info";
 * const level = LOG_LEVELS.find((name) => name === wanted) ?? "info";
 * await setupLogging({ level, format: "json" });
 * try {
 *   // ... use the library; its records go to standard error ...
 * } finally {
 *   await teardownLogging();
 * }
 * ```
 */
export async function setupLogging(options: LoggingOptions = {}): Promise<void> {
  const write = options.write ?? ((bytes: Uint8Array) => writeAll(Deno.stderr, bytes));
  const format = options.format === "json" ? jsonLine : textLine;
  const sink: Sink = (record) => write(encoder.encode(format(record)));
  await configure({
    reset: true,
    sinks: { stderr: sink },
    loggers: [
      { category: ["cplauncher"], lowestLevel: options.level ?? "info", sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** Undoes {@linkcode setupLogging}. */
export async function teardownLogging(): Promise<void> {
  await reset();
}

/** Writes every byte, looping over short writes. */
export function writeAll(target: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  let offset = 0;
  while (offset < bytes.length) offset += target.writeSync(bytes.subarray(offset));
}
