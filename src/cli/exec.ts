/**
 * `cplauncher exec`, also what `cplauncher` runs without a subcommand: the k2s launcher's
 * command line (see k2s_exec_args.ts), one anchor, one program, its exit code. The program is
 * supervised like a one-workload config with `restart: never`; this module adds what the k2s
 * launcher did around that: a log file per run, the `COMPARTMENT_ID_ATTACH` variable,
 * `-wait-tree`, `-dry-run`, and the excerpt of the log after a fatal error.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { getLogger } from "@logtape/logtape";
import { API_VERSION, type Config, configSchema, formatDuration } from "../config/mod.ts";
import { describeNamespace, loadKubeConfig } from "../kube/mod.ts";
import { setupLogging } from "../log/mod.ts";
import { createPlatform } from "../platform/mod.ts";
import type { IsolationDomain, PlatformBackend } from "../platform/types.ts";
import { resolveAnchor } from "../supervisor/mod.ts";
import { defaultLauncherLogDir, LauncherLogFile } from "../supervisor/launcher_log.ts";
import { VERSION } from "../version.ts";
import { CliError, EXIT_RESOLVE, EXIT_USAGE } from "./exit_codes.ts";
import type { Io } from "./io.ts";
import {
  EXEC_HELP,
  type ExecAnchor,
  type ExecRequest,
  ExecUsageError,
  parseExecArgs,
} from "./k2s_exec_args.ts";
import { supervise } from "./run.ts";

const log = getLogger(["cplauncher", "exec"]);

/** The variable the k2s launcher always gave its program (its DLL read it). */
export const ATTACH_ENV = "COMPARTMENT_ID_ATTACH";

/** The anchor's name in logs and messages, by how it is given. */
const ANCHOR = { selector: "label", netns: "netns", compartment: "compartment" } as const;

/** Error records shown from the log file after a fatal error (k2s shows 20). */
const EXCERPT_LINES = 20;

/**
 * The variables the program gets for its isolation domain: on Windows always
 * `COMPARTMENT_ID_ATTACH=<id>`, plus `<envName>=<id>` with `-self-env`; on Linux nothing,
 * or with `-self-env` both variables set to the network namespace's path.
 */
export function domainEnv(
  domain: IsolationDomain,
  selfEnv: boolean,
  envName: string,
): Record<string, string> {
  const value = domain.kind === "compartment" ? String(domain.id) : domain.path;
  if (domain.kind === "netns" && !selfEnv) return {};
  return selfEnv ? { [ATTACH_ENV]: value, [envName]: value } : { [ATTACH_ENV]: value };
}

/** A workload name for `command` (shown in logs): the program's file name, made valid. */
export function workloadName(command: readonly string[]): string {
  const base = command[0].split(/[\\/]/).pop() ?? "";
  const cleaned = base.replace(/[^A-Za-z0-9_.-]/g, "-").slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
  return cleaned || "program";
}

/** How the program gets into its network, for the log line that replaces DLL injection. */
export function placementDescription(request: ExecRequest, os: "linux" | "windows"): string {
  if (os === "linux") {
    return "started inside the anchor's network namespace (setns on the launcher's thread), " +
      "then verified there";
  }
  return request.selfEnv
    ? `started with ${request.envName}=<compartment id> and ${ATTACH_ENV}=<compartment id>; it ` +
      "switches its own threads (strategy self)"
    : "started inside the anchor's compartment by a job object (SetJobCompartmentId before it " +
      "runs), then verified (strategy job)";
}

/** The config `exec` runs: one anchor, one workload that is never restarted. */
export function execConfig(request: ExecRequest): Config {
  const parsed = configSchema.safeParse({
    apiVersion: API_VERSION,
    kubernetes: { kubeconfig: request.kubeconfig },
    anchors: { [ANCHOR[request.anchor.kind]]: anchorInput(request.anchor) },
    workloads: {
      [workloadName(request.command)]: {
        anchor: ANCHOR[request.anchor.kind],
        command: request.command,
        restart: { policy: "never" },
        windows: { strategy: request.selfEnv ? "self" : "job", compartmentEnv: request.envName },
      },
    },
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = String(issue.path[issue.path.length - 1] ?? "argument");
    const flag = field === "selector" ? "label" : field === "timeout" ? "label-timeout" : field;
    throw new CliError(`-${flag}: ${issue.message}`, EXIT_USAGE);
  }
  return parsed.data;
}

function anchorInput(anchor: ExecAnchor): Record<string, unknown> {
  if (anchor.kind === "netns") return { netns: anchor.netns };
  if (anchor.kind === "compartment") return { compartment: anchor.compartment };
  return {
    selector: anchor.selector,
    namespace: anchor.namespace,
    pick: anchor.pick,
    timeout: formatDuration(anchor.timeoutMs),
    ...(anchor.node ? { node: anchor.node } : {}),
  };
}

/** The backend, with what `exec` adds to every launch: the domain variables and wait-tree. */
function execPlatform(base: PlatformBackend, request: ExecRequest): PlatformBackend {
  return {
    os: base.os,
    resolveAddress: (ip, options) => base.resolveAddress(ip, options),
    openStatic: (anchor) => base.openStatic(anchor),
    listening: (domain, child, port) => base.listening(domain, child, port),
    inspectProgram: (spec) => base.inspectProgram(spec),
    launch: (domain, spec) => {
      const extra = domainEnv(domain, request.selfEnv, request.envName);
      for (const [name, value] of Object.entries(extra)) {
        log.info("set {name}={value} for the program", { name, value });
      }
      return base.launch(domain, {
        ...spec,
        env: { ...spec.env, ...extra },
        ...(request.waitTree ? { waitTree: true } : {}),
      });
    },
  };
}

/** Registers `exec` with commander, for the command list and `cplauncher help exec`. */
export function execCommand(program: Command): void {
  // main() hands every exec invocation to runExec before commander parses: commander cannot
  // keep Go flag syntax or the `--` that separates the program. This entry is what --help lists.
  program.command("exec")
    .description(
      "k2s launcher drop-in (also without the word exec): start one program in an anchor's network, exit with its code",
    )
    .configureHelp({ formatHelp: () => EXEC_HELP });
}

/**
 * Runs an `exec` command line (without the word `exec`) and returns the exit code.
 *
 * @param report turns a failure into its one-line message and exit code (the CLI's reporter)
 */
export async function runExec(
  args: readonly string[],
  io: Io,
  report: (error: unknown) => number,
): Promise<number> {
  const os = Deno.build.os === "windows" ? "windows" : "linux";
  let request: ExecRequest;
  try {
    const invocation = parseExecArgs(args, os);
    if (invocation.kind === "help") {
      io.out(EXEC_HELP);
      return 0;
    }
    if (invocation.kind === "version") {
      io.out(`${VERSION}\n`);
      return 0;
    }
    request = invocation.request;
  } catch (error) {
    return report(
      error instanceof ExecUsageError ? new CliError(error.message, EXIT_USAGE) : error,
    );
  }

  const dir = request.logFiles.dir ?? defaultLauncherLogDir(os, (name) => Deno.env.get(name));
  let logFile: LauncherLogFile | undefined;
  let logFileError: string | undefined;
  try {
    logFile = LauncherLogFile.open(dir);
  } catch (error) {
    logFileError = error instanceof Error ? error.message : String(error);
  }
  await setupLogging({
    format: request.logFormat,
    level: request.logLevel,
    write: (bytes) => {
      io.errBytes(bytes);
      logFile?.write(bytes);
    },
  });
  try {
    if (logFileError !== undefined) {
      log.warn("no launcher log file in {dir} ({message}); logging to stderr only", {
        dir,
        message: logFileError,
      });
    } else pruneLogs(logFile!, request);
    logStartup(request, os, logFile);
    const config = execConfig(request);
    const platform = execPlatform(await createPlatform(), request);
    if (request.dryRun) return await dryRun(request, config, platform, io, logFile);
    const code = await supervise(
      config,
      {
        io,
        global: { logFormat: request.logFormat, logLevel: request.logLevel },
        setExitCode() {},
      },
      undefined,
      request.logFormat === "json" ? "json" : "raw",
      { platform },
    );
    if (code !== 0) printExcerpt(io, logFile);
    return code;
  } catch (error) {
    // A failure the launcher reports itself: one error record (so the log file has it too)
    // and the excerpt, as for a workload that could not be resolved or started.
    if (!(error instanceof CliError) || error.exitCode === EXIT_USAGE) return report(error);
    log.error("{message}", { message: error.message });
    printExcerpt(io, logFile);
    return error.exitCode;
  } finally {
    logFile?.close();
  }
}

function pruneLogs(logFile: LauncherLogFile, request: ExecRequest): void {
  const pruned = logFile.prune(request.logFiles);
  for (const path of pruned.removed) log.debug("removed old launcher log {path}", { path });
  for (const { path, message } of pruned.failed) {
    log.warn("cannot remove old launcher log {path}: {message}", { path, message });
  }
}

function logStartup(
  request: ExecRequest,
  os: "linux" | "windows",
  logFile: LauncherLogFile | undefined,
): void {
  const anchor = request.anchor;
  log.info(
    "exec {version}: {anchor}; program {command}; wait-tree {waitTree}; dry-run {dryRun}; " +
      "log file {logFile}",
    {
      version: VERSION,
      anchor: anchor.kind === "selector"
        ? `pods matching ${anchor.selector} in ${
          describeNamespace(anchor.namespace)
        } (pick ${anchor.pick}, timeout ${formatDuration(anchor.timeoutMs)})`
        : anchor.kind === "netns"
        ? `netns ${anchor.netns}`
        : `compartment ${anchor.compartment}`,
      command: JSON.stringify(request.command),
      waitTree: request.waitTree,
      dryRun: request.dryRun,
      logFile: logFile?.path ?? "(none)",
    },
  );
  const flags = request.injectionFlags.length > 0
    ? ` (${request.injectionFlags.join(", ")} accepted for compatibility and ignored)`
    : "";
  log.info("no DLL is injected{flags}: the program is {placement}", {
    flags,
    placement: placementDescription(request, os),
  });
}

/** The plan `-dry-run` prints. */
export interface ExecPlan {
  /** Always true: nothing was started. */
  readonly dryRun: true;
  /** The anchor pod, for `-label`. */
  readonly pod?: { readonly namespace: string; readonly name: string; readonly ip: string };
  /** The resolved domain, as text (`netns /proc/1/ns/net (inode 4026531840)`). */
  readonly domain: string;
  /** How the program would be placed there. */
  readonly launch: string;
  /** The program and its arguments. */
  readonly command: readonly string[];
  /** The variables the program would get for its domain. */
  readonly env: Readonly<Record<string, string>>;
  /** Whether the launcher would wait for the whole process tree. */
  readonly waitTree: boolean;
  /** This run's launcher log file, if one could be written. */
  readonly logFile?: string;
}

/** Renders a dry-run plan for people. */
export function formatExecPlan(plan: ExecPlan): string {
  const env = Object.entries(plan.env).map(([k, v]) => `${k}=${v}`).join(" ") || "(none)";
  const lines = [
    "dry run: nothing was started",
    ...(plan.pod ? [`pod:       ${plan.pod.namespace}/${plan.pod.name} (IP ${plan.pod.ip})`] : []),
    `domain:    ${plan.domain}`,
    `launch:    ${plan.launch}`,
    `program:   ${JSON.stringify(plan.command)}`,
    `env:       ${env}`,
    `wait-tree: ${
      plan.waitTree
        ? "yes: wait for every process the program starts; kill them if the launcher dies"
        : "no"
    }`,
    ...(plan.logFile ? [`log:       ${plan.logFile}`] : []),
  ];
  return `${lines.join("\n")}\n`;
}

async function dryRun(
  request: ExecRequest,
  config: Config,
  platform: PlatformBackend,
  io: Io,
  logFile: LauncherLogFile | undefined,
): Promise<number> {
  let kube: ReturnType<typeof loadKubeConfig> | undefined;
  let resolved;
  try {
    const name = ANCHOR[request.anchor.kind];
    resolved = await resolveAnchor(name, config.anchors[name], {
      platform,
      kube: () => kube ??= loadKubeConfig(config.kubernetes.kubeconfig),
    });
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error), EXIT_RESOLVE);
  }
  await resolved.pod?.claim?.release();
  const domain = resolved.domain;
  const plan: ExecPlan = {
    dryRun: true,
    ...(resolved.pod
      ? { pod: { namespace: resolved.pod.namespace, name: resolved.pod.pod, ip: resolved.pod.ip } }
      : {}),
    domain: domain.kind === "netns"
      ? `netns ${domain.path} (inode ${domain.inode})`
      : `compartment ${domain.id} (${domain.source})`,
    launch: placementDescription(request, platform.os),
    command: request.command,
    env: domainEnv(domain, request.selfEnv, request.envName),
    waitTree: request.waitTree,
    ...(logFile ? { logFile: logFile.path } : {}),
  };
  log.info("dry run complete; nothing was started");
  io.out(request.output === "json" ? `${JSON.stringify(plan, null, 2)}\n` : formatExecPlan(plan));
  return 0;
}

/** After a fatal error, the log file's recent error lines (k2s printed them the same way). */
function printExcerpt(io: Io, logFile: LauncherLogFile | undefined): void {
  if (!logFile) return;
  const lines = logFile.excerpt(EXCERPT_LINES);
  if (lines.length === 0) return;
  io.err(
    `\n---- recent log lines (${logFile.path}) ----\n${
      lines.join("\n")
    }\n---- end log excerpt ----\n`,
  );
}
