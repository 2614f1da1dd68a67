// deno-lint-ignore-file require-await -- backend methods are async so that every failure rejects
/**
 * The Windows backend: resolves a pod IP to its network compartment by API and starts
 * unmodified processes inside it (see `resolve.ts` and `launch.ts` for the why).
 *
 * Importing this module loads no DLL; the bindings open on first use, so the module can be
 * type-checked and imported on Linux.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { PlatformError } from "../errors.ts";
import type {
  CompartmentDomain,
  IsolationDomain,
  LaunchedProcess,
  LaunchSpec,
  PlatformBackend,
  ResolveOptions,
} from "../types.ts";
import { tcpListeners, withThreadCompartment } from "./compartment.ts";
import { mergeEnv } from "./environment.ts";
import { asJobProcess, spawnInJob } from "./launch.ts";
import { inspectProgram, prepareProgram } from "./program.ts";
import { checkCompartmentExists, resolveCompartment, type ResolveTuning } from "./resolve.ts";
import { DEFAULT_COMPARTMENT_ID } from "./structs.ts";

export { buildCommandLine, CommandLineError, quoteArg, quoteProgram } from "./cmdline.ts";
export { type CodeKind, MissingExportError, WindowsError } from "./errors.ts";
export { type CompartmentInfo, listCompartments } from "./resolve.ts";
export { currentThreadCompartment } from "./compartment.ts";
export {
  type Answer,
  CHECK,
  type ProbeReport,
  runWindowsSelfTest,
  type SelfTestCheck,
  verdict,
  type WindowsSelfTest,
  type WindowsSelfTestOptions,
  type WindowsStrategy,
} from "./selftest.ts";
export {
  type ConsoleStopTarget,
  handleConsoleControl,
  SHUTDOWN_STOP_BUDGET_MS,
  shutdownBudget,
} from "./console.ts";
export type { JobProcess } from "./launch.ts";

const log = getLogger(["cplauncher", "windows"]);

/** Default name of the variable that carries the compartment id for strategy `self`. */
export const DEFAULT_COMPARTMENT_ENV = "COMPARTMENT_ID_ATTACH";

/** Options for {@linkcode createWindowsBackend}. */
export interface WindowsBackendOptions extends ResolveTuning {}

/** Create the Windows {@linkcode PlatformBackend}. */
export function createWindowsBackend(options: WindowsBackendOptions = {}): PlatformBackend {
  return {
    os: "windows",

    async resolveAddress(ip: string, opts?: ResolveOptions): Promise<IsolationDomain> {
      return await resolveCompartment(ip, opts?.signal, options);
    },

    async openStatic(
      anchor: { netns: string } | { compartment: number },
    ): Promise<IsolationDomain> {
      if ("netns" in anchor) {
        throw new PlatformError(
          "unsupported",
          `netns anchors are Linux-only; on Windows use compartment: <id>`,
        );
      }
      return checkCompartmentExists(anchor.compartment);
    },

    async launch(domain: IsolationDomain, spec: LaunchSpec): Promise<LaunchedProcess> {
      return await launchIn(compartmentOf(domain), spec);
    },

    inspectProgram,

    async listening(
      domain: IsolationDomain,
      child: LaunchedProcess,
      port: number,
    ): Promise<{ inside: boolean; outside: boolean }> {
      return listeningIn(compartmentOf(domain), child, port);
    },
  };
}

function compartmentOf(domain: IsolationDomain): CompartmentDomain {
  if (domain.kind !== "compartment") {
    throw new PlatformError(
      "unsupported",
      `the Windows backend cannot use a ${domain.kind} domain`,
    );
  }
  return domain;
}

async function launchIn(domain: CompartmentDomain, spec: LaunchSpec) {
  const strategy = spec.windowsStrategy ?? "job";
  const extra: Record<string, string> = { ...spec.env };
  if (strategy === "self") {
    extra[spec.compartmentEnvName ?? DEFAULT_COMPARTMENT_ENV] = String(domain.id);
  }
  const prepared = await prepareProgram(spec);
  try {
    return spawnInJob({
      name: spec.name,
      argv: spec.command,
      program: prepared.program,
      env: mergeEnv(Deno.env.toObject(), extra),
      cwd: spec.cwd,
      strategy,
      compartmentId: strategy === "job" ? domain.id : undefined,
      waitTree: spec.waitTree,
    });
  } finally {
    // A pinned file is held until CreateProcessW has returned; the image is mapped by then.
    prepared.release();
  }
}

/**
 * Whether a process of `child`'s job listens on `port` inside the compartment, and whether one
 * listens in the host's default compartment instead (the sign of a wrong placement).
 */
export function listeningIn(
  domain: CompartmentDomain,
  child: LaunchedProcess,
  port: number,
): { inside: boolean; outside: boolean } {
  const job = asJobProcess(child);
  const pids = new Set(job ? job.processIds() : [child.pid]);
  pids.add(child.pid);
  const ours = (rows: { port: number; pid: number }[]) =>
    rows.some((r) => r.port === port && pids.has(r.pid));
  const inside = ours(withThreadCompartment(domain.id, tcpListeners));
  const outside = domain.id === DEFAULT_COMPARTMENT_ID
    ? false
    : ours(withThreadCompartment(DEFAULT_COMPARTMENT_ID, tcpListeners));
  log.debug("listening check {port} in {id}: inside {inside}, outside {outside}", {
    port,
    id: domain.id,
    inside,
    outside,
  });
  return { inside, outside };
}
