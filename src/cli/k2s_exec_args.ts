/**
 * The command line of `cplauncher exec`, which is the k2s launcher's: its sixteen flags in Go
 * syntax, their defaults (`-namespace` empty = all namespaces, `-label-timeout 20s`), plus a
 * few of our own. Pure: turns arguments into an {@linkcode ExecRequest} or a usage error.
 *
 * @module
 */
import { parseSelector, PICK_MODES, type PickMode } from "../config/mod.ts";
import { ALL_NAMESPACES } from "../kube/mod.ts";
import { LOG_LEVELS, type LogLevelName } from "../log/mod.ts";
import { parseGoDuration } from "./k2s_duration.ts";
import { type FlagSpec, parseGoFlags, parseGoInt } from "./k2s_flags.ts";

/** Where the program's network comes from. */
export type ExecAnchor =
  | {
    /** `-label`: a pod found by label selector. */
    readonly kind: "selector";
    /** The label selector. */
    readonly selector: string;
    /** A namespace, or `*` for all namespaces (k2s: `-namespace` omitted or empty). */
    readonly namespace: string;
    /** Only pods on this node. */
    readonly node?: string;
    /** How to choose among matching pods. */
    readonly pick: PickMode;
    /** `-label-timeout` in milliseconds. */
    readonly timeoutMs: number;
  }
  /** `--netns`: a static network namespace (Linux). */
  | { readonly kind: "netns"; readonly netns: string }
  /** `-compartment`: a static compartment id (Windows). */
  | { readonly kind: "compartment"; readonly compartment: number };

/** Launcher log file settings (k2s: one file per run, pruned). */
export interface ExecLogFiles {
  /** Older files kept besides the current one. */
  readonly keep: number;
  /** Also delete files older than this. */
  readonly maxAgeMs?: number;
  /** Directory instead of the platform default. */
  readonly dir?: string;
}

/** A parsed `exec` invocation. */
export interface ExecRequest {
  /** Where the program's network comes from. */
  readonly anchor: ExecAnchor;
  /** The program and its arguments (everything after `--`). */
  readonly command: readonly string[];
  /** `auto`, `in-cluster` or a kubeconfig path. */
  readonly kubeconfig: string;
  /** The program switches its own threads: it gets `envName=<id>` (strategy `self`). */
  readonly selfEnv: boolean;
  /** Variable carrying the id for `selfEnv` (k2s default `COMPARTMENT_ID`). */
  readonly envName: string;
  /** The k2s DLL-injection flags that were given, as spelled (they change nothing here). */
  readonly injectionFlags: readonly string[];
  /** Resolve and print the plan only. */
  readonly dryRun: boolean;
  /** Format of the `-dry-run` plan. */
  readonly output: "text" | "json";
  /** Wait for the whole process tree; kill what remains if the launcher dies. */
  readonly waitTree: boolean;
  /** The launcher's log file per run. */
  readonly logFiles: ExecLogFiles;
  /** Lowest level of the launcher's log records (`-verbosity`). */
  readonly logLevel: LogLevelName;
  /** Format of log records and relayed output. */
  readonly logFormat: "text" | "json";
}

/** What an `exec` command line asks for. */
export type ExecInvocation =
  /** Run (or dry-run) `request`. */
  | { readonly kind: "run"; readonly request: ExecRequest }
  /** Print the help. */
  | { readonly kind: "help" }
  /** Print the version. */
  | { readonly kind: "version" };

/** A bad `exec` command line; the message is one line. */
export class ExecUsageError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ExecUsageError";
  }
}

/** The k2s launcher's default for `-label-timeout`. */
export const DEFAULT_LABEL_TIMEOUT_MS = 20_000;
/** The k2s launcher's default for `-logs-keep`. */
export const DEFAULT_LOGS_KEEP = 30;
/** The k2s launcher's default for `-env-name`. */
export const DEFAULT_SELF_ENV_NAME = "COMPARTMENT_ID";

/** Every flag `exec` understands; k2s's spellings first, then ours. */
export const EXEC_FLAGS: readonly FlagSpec[] = [
  { name: "label", kind: "value" },
  { name: "namespace", kind: "value" },
  { name: "label-timeout", kind: "value", aliases: ["timeout"] },
  { name: "compartment", kind: "value" },
  { name: "self-env", kind: "bool" },
  { name: "env-name", kind: "value" },
  { name: "no-inject", kind: "bool" },
  { name: "dll", kind: "value" },
  { name: "export", kind: "value" },
  { name: "legacy-inject", kind: "bool" },
  { name: "dry-run", kind: "bool" },
  { name: "wait-tree", kind: "bool" },
  { name: "logs-keep", kind: "value" },
  { name: "log-max-age", kind: "value" },
  { name: "verbosity", kind: "value", aliases: ["v", "log-level"] },
  { name: "version", kind: "bool", aliases: ["V"] },
  { name: "netns", kind: "value" },
  { name: "node", kind: "value" },
  { name: "pick", kind: "value" },
  { name: "kubeconfig", kind: "value" },
  { name: "output", kind: "value" },
  { name: "log-dir", kind: "value" },
  { name: "log-format", kind: "value" },
];

const INJECTION_FLAGS = ["no-inject", "dll", "export", "legacy-inject"] as const;

/** slog's named levels; k2s's `-verbosity` also takes `NAME+N`, `NAME-N` and plain numbers. */
const SLOG_LEVELS: Record<string, number> = { debug: -4, info: 0, warn: 4, error: 8 };

/**
 * Maps a k2s `-verbosity` (slog level: `debug`, `info`, `warn`, `error`, `warn+2`, `-4`…) or
 * one of our level names onto our log levels.
 */
export function verbosityToLevel(text: string): LogLevelName | undefined {
  const lower = text.toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(lower)) return lower as LogLevelName;
  let level: number;
  const named = /^(debug|info|warn|error)([+-]\d+)?$/.exec(lower);
  if (named) level = SLOG_LEVELS[named[1]] + Number(named[2] ?? 0);
  else if (/^[+-]?\d+$/.test(text)) level = Number(text);
  else return undefined;
  if (level < SLOG_LEVELS.debug) return "trace";
  if (level < SLOG_LEVELS.info) return "debug";
  if (level < SLOG_LEVELS.warn) return "info";
  if (level < SLOG_LEVELS.error) return "warning";
  return "error";
}

/**
 * Which arguments go to `exec` when `cplauncher` is called with `args`, or undefined when
 * commander should handle them. `exec` is chosen by its name, or — the k2s form, without a
 * subcommand — when the first argument after the global options is a single-dash flag
 * (`-label`), or when the arguments contain `--` and no subcommand comes first.
 *
 * @param subcommands names of the other subcommands (and aliases)
 * @returns the arguments for `exec`, global options included, subcommand name removed.
 */
export function execArguments(
  args: readonly string[],
  subcommands: readonly string[],
): string[] | undefined {
  let i = 0;
  // Global options of the program may precede the subcommand (`--log-level debug exec …`).
  while (i < args.length && /^--log-(format|level)(=|$)/.test(args[i])) {
    i += args[i].includes("=") ? 1 : 2;
  }
  const first = args[i];
  if (first === undefined) return undefined;
  if (first === "exec") return [...args.slice(0, i), ...args.slice(i + 1)];
  if (subcommands.includes(first) || ["-h", "--help", "-V", "--version"].includes(first)) {
    return undefined;
  }
  const singleDash = /^-[^-]/.test(first);
  return singleDash || args.includes("--") ? [...args] : undefined;
}

/**
 * Interprets an `exec` command line.
 *
 * @param os the platform the request is for: `-compartment` is Windows-only, `-netns` Linux-only
 * @throws {ExecUsageError} for anything k2s or we would refuse, with a one-line message.
 */
export function parseExecArgs(args: readonly string[], os: "linux" | "windows"): ExecInvocation {
  const parsed = parseGoFlags(args, EXEC_FLAGS);
  if (parsed.kind === "help") return { kind: "help" };
  if (parsed.kind === "error") throw new ExecUsageError(parsed.message);
  const { values, spellings } = parsed;
  const flag = (name: string) => spellings.get(name) ?? `-${name}`;
  const text = (name: string): string | undefined => {
    const v = values.get(name);
    return typeof v === "string" ? v : undefined;
  };
  const bool = (name: string) => values.get(name) === true;
  if (bool("version")) return { kind: "version" };

  const command = parsed.rest ?? [];
  if (command.length === 0) {
    throw new ExecUsageError(
      parsed.rest === undefined
        ? "no program given: put it after --, e.g. cplauncher -label app=x -- app.exe"
        : "no program given after --",
    );
  }
  if (command[0] === "") throw new ExecUsageError("the program after -- is an empty string");

  const anchor = parseAnchor(text, flag, os);
  const envName = text("env-name") ?? DEFAULT_SELF_ENV_NAME;
  if (envName === "" || envName.includes("=") || envName.includes("\0")) {
    throw new ExecUsageError(
      `${flag("env-name")}: ${JSON.stringify(envName)} is not a variable name`,
    );
  }
  const output = text("output") ?? "text";
  if (output !== "text" && output !== "json") {
    throw new ExecUsageError(
      `${flag("output")}: expected text or json, got ${JSON.stringify(output)}`,
    );
  }
  const logFormat = text("log-format") ?? "text";
  if (logFormat !== "text" && logFormat !== "json") {
    throw new ExecUsageError(
      `${flag("log-format")}: expected text or json, got ${JSON.stringify(logFormat)}`,
    );
  }
  const verbosity = text("verbosity");
  const logLevel = verbosity === undefined ? "info" : verbosityToLevel(verbosity);
  if (logLevel === undefined) {
    throw new ExecUsageError(
      `${flag("verbosity")}: ${
        JSON.stringify(verbosity)
      } is not a level (debug, info, warn, error, or a number such as -4 or 8)`,
    );
  }

  return {
    kind: "run",
    request: {
      anchor,
      command,
      kubeconfig: text("kubeconfig") || "auto",
      selfEnv: bool("self-env"),
      envName,
      injectionFlags: INJECTION_FLAGS.filter((name) => values.has(name)).map(flag),
      dryRun: bool("dry-run"),
      output,
      waitTree: bool("wait-tree"),
      logFiles: parseLogFiles(text, flag),
      logLevel,
      logFormat,
    },
  };
}

type Text = (name: string) => string | undefined;
type Spelling = (name: string) => string;

function parseAnchor(text: Text, flag: Spelling, os: "linux" | "windows"): ExecAnchor {
  const label = text("label");
  const compartment = text("compartment");
  const netns = text("netns");
  // k2s treats -compartment 0 (its default) as "not given".
  const given = [
    label ? "label" : undefined,
    compartment !== undefined && parseGoInt(compartment) !== 0 ? "compartment" : undefined,
    netns ? "netns" : undefined,
  ].filter((x) => x !== undefined);
  if (given.length > 1) {
    throw new ExecUsageError(
      `specify either ${given.map(flag).join(" or ")}, not both`,
    );
  }
  // k2s refuses -namespace without -label (and ignores -label-timeout there).
  const selectorOnly = ["namespace", "node", "pick"].filter((n) => text(n) !== undefined);
  if (given[0] !== "label" && selectorOnly.length > 0) {
    throw new ExecUsageError(`${flag(selectorOnly[0])} provided without ${flag("label")}`);
  }
  switch (given[0]) {
    case "compartment": {
      if (os !== "windows") {
        throw new ExecUsageError(
          `${
            flag("compartment")
          } is Windows-only; on Linux name the network namespace with --netns PATH`,
        );
      }
      const id = parseGoInt(compartment!);
      if (id === undefined || id < 0 || id > 0xffffffff) {
        throw new ExecUsageError(
          `${flag("compartment")}: ${JSON.stringify(compartment)} is not a compartment id`,
        );
      }
      return { kind: "compartment", compartment: id };
    }
    case "netns":
      if (os !== "linux") {
        throw new ExecUsageError(
          `${flag("netns")} is Linux-only; on Windows use -compartment ID or -label SELECTOR`,
        );
      }
      return { kind: "netns", netns: netns! };
    case "label":
      return parseSelectorAnchor(label!, text, flag);
    default:
      throw new ExecUsageError(
        `say where to run: -label SELECTOR, or ${
          os === "windows" ? "-compartment ID" : "--netns PATH"
        } (see cplauncher exec --help)`,
      );
  }
}

function parseSelectorAnchor(label: string, text: Text, flag: Spelling): ExecAnchor {
  const selector = parseSelector(label);
  if (!selector.ok) throw new ExecUsageError(`${flag("label")}: bad selector: ${selector.message}`);
  const timeoutText = text("label-timeout");
  let timeoutMs = DEFAULT_LABEL_TIMEOUT_MS;
  if (timeoutText !== undefined) {
    const parsed = parseGoDuration(timeoutText);
    if (!parsed.ok) throw new ExecUsageError(`${flag("label-timeout")}: ${parsed.message}`);
    if (parsed.ms <= 0) throw new ExecUsageError(`${flag("label-timeout")} must be > 0`);
    // Whole milliseconds, at least one: timers have no finer resolution.
    timeoutMs = Math.max(1, Math.ceil(parsed.ms));
  }
  const pick = text("pick") ?? "exactly-one";
  if (!(PICK_MODES as readonly string[]).includes(pick)) {
    throw new ExecUsageError(
      `${flag("pick")}: expected ${PICK_MODES.join(", ")}, got ${JSON.stringify(pick)}`,
    );
  }
  const node = text("node");
  return {
    kind: "selector",
    selector: label,
    namespace: text("namespace") || ALL_NAMESPACES,
    ...(node ? { node } : {}),
    pick: pick as PickMode,
    timeoutMs,
  };
}

function parseLogFiles(text: Text, flag: Spelling): ExecLogFiles {
  const keepText = text("logs-keep");
  let keep = DEFAULT_LOGS_KEEP;
  if (keepText !== undefined) {
    const parsed = parseGoInt(keepText);
    if (parsed === undefined) {
      throw new ExecUsageError(`${flag("logs-keep")}: ${JSON.stringify(keepText)} is not a number`);
    }
    keep = Math.max(0, parsed); // k2s clamps negative values to 0
  }
  const maxAgeText = text("log-max-age");
  let maxAgeMs: number | undefined;
  if (maxAgeText) {
    const parsed = parseGoDuration(maxAgeText, { days: true });
    if (!parsed.ok) throw new ExecUsageError(`${flag("log-max-age")}: ${parsed.message}`);
    if (parsed.ms <= 0) throw new ExecUsageError(`${flag("log-max-age")} must be > 0`);
    maxAgeMs = parsed.ms;
  }
  const dir = text("log-dir");
  return {
    keep,
    ...(maxAgeMs !== undefined ? { maxAgeMs } : {}),
    ...(dir ? { dir } : {}),
  };
}

/** `cplauncher exec --help`: the k2s spellings, our additions, defaults. */
export const EXEC_HELP =
  `Usage: cplauncher [exec] (-label SELECTOR | -compartment ID | --netns PATH) [flags] -- PROGRAM [ARGS...]

Start one program inside an anchor pod's network compartment (Windows) or network namespace
(Linux) and exit with its exit code. A drop-in for the k2s cplauncher: the same flags in Go
syntax (-flag value, -flag=value, --flag value, --flag=value; booleans -flag or -flag=false).
The word "exec" may be left out.

Anchor:
  -label SELECTOR        label selector of the anchor pod; more than one match is an error
  -namespace NS          namespace of the anchor pod (default: all namespaces)
  -label-timeout DUR     how long to wait for the anchor (default 20s; 500ms, 1m30s, 1.5h)
  -compartment ID        Windows: a static compartment id instead of -label
  -netns PATH            Linux: a static network namespace (/var/run/netns/NAME, /proc/PID/ns/net)
  -node NAME             only anchor pods on this node
  -pick MODE             exactly-one (default), first-ready or claim
  -kubeconfig PATH       auto (default: in-cluster, $KUBECONFIG, ~/.kube/config), in-cluster, or a path

Program:
  -self-env              the program switches itself: it gets ENV_NAME=<id> and is not placed
                         by the launcher on Windows (Linux: both variables carry the netns path)
  -env-name NAME         the variable for -self-env (default COMPARTMENT_ID)
  -wait-tree             wait until everything the program started has ended too; if the
                         launcher dies, what remains is killed
  -dry-run               resolve the anchor, print the plan, start nothing
  -output FORMAT         text (default) or json, for -dry-run
  -no-inject, -dll PATH, -export NAME, -legacy-inject
                         accepted for compatibility; cplauncher never injects a DLL (the log
                         says how the program is placed instead)

Logging:
  -verbosity LEVEL, -v LEVEL
                         debug, info (default), warn, error, NAME+N, or a number (-4 debug,
                         0 info, 4 warn, 8 error); also --log-level
  -log-format FORMAT     text (default) or json, for log records and relayed output
  -log-dir DIR           launcher log files (default %SystemDrive%\\var\\log\\cplauncher on
                         Windows, /var/log/cplauncher on Linux), one per run:
                         cplauncher-<pid>-<unix time>.log
  -logs-keep N           older launcher log files to keep (default 30)
  -log-max-age DUR       also delete launcher log files older than this (e.g. 24h, 7d)

  -version               print the version
  -h, -help              this help

The program's environment: on Windows always COMPARTMENT_ID_ATTACH=<compartment id>, and with
-self-env also ENV_NAME=<id>. On Linux, only with -self-env, both set to the netns path.

Exit code: the program's own; 2 bad command line, 3 anchor not resolved, 4 program not
started. With -wait-tree, the program's code once its whole process tree has ended.
`;
