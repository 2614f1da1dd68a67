/**
 * `cplauncher plan`: what `run` would do, without touching anything — except, with `--pin`,
 * the lock file that records each workload's program digest.
 *
 * @module
 */
import { type Command, Option } from "@commander-js/extra-typings";
import {
  type Anchor,
  type Config,
  formatDuration,
  loadConfig,
  lockName,
  lockPathFor,
  type ProgramLock,
  readLock,
  SHA256_AUTO,
  writeLock,
} from "../config/mod.ts";
import { type LoadedKubeConfig, loadKubeConfig } from "../kube/mod.ts";
import { createPlatform } from "../platform/mod.ts";
import { resolveAnchor } from "../supervisor/mod.ts";
import { CliError, EXIT_LAUNCH, EXIT_RESOLVE, EXIT_USAGE } from "./exit_codes.ts";
import { recordPins } from "./lock.ts";
import { type CommandContext, configOption, resolveConfigPath } from "./options.ts";

/** Target operating system of a plan. */
export type PlanPlatform = "linux" | "windows";

/** One anchor in a plan. */
export interface AnchorPlan {
  readonly name: string;
  readonly kind: Anchor["kind"];
  /** Human-readable steps `run` takes to resolve the anchor. */
  readonly steps: readonly string[];
  readonly anchor: Anchor;
}

/** One workload in a plan. */
export interface WorkloadPlan {
  readonly name: string;
  readonly anchor: string;
  readonly command: readonly string[];
  readonly cwd?: string;
  readonly envKeys: readonly string[];
  readonly launch: string;
  readonly restart: string;
  readonly probes: readonly string[];
  readonly port?: number;
  /** The digest `run` enforces and where it comes from; `sha256` absent: `auto`, unrecorded. */
  readonly pin?: { readonly sha256?: string; readonly from: string };
}

/** What `run` would do with a config. */
export interface RunPlan {
  readonly platform: PlanPlatform;
  readonly anchors: readonly AnchorPlan[];
  readonly workloads: readonly WorkloadPlan[];
}

function anchorSteps(anchor: Anchor, platform: PlanPlatform): string[] {
  switch (anchor.kind) {
    case "selector": {
      const node = anchor.node ? ` on node ${anchor.node}` : "";
      const domain = platform === "windows"
        ? "map the pod IP to its compartment (HCN endpoint → namespace id; fallback: scan compartments)"
        : "find the network namespace that owns the pod IP";
      return [
        `watch pods in namespace ${anchor.namespace} matching ${anchor.selector}${node}`,
        `pick ${anchor.pick} among Ready pods with an IP, for up to ${
          formatDuration(anchor.timeoutMs)
        }`,
        domain,
        "wait until the IP is configured and up there",
      ];
    }
    case "netns":
      return [`open network namespace ${anchor.netns} (Linux)`];
    case "compartment":
      return [`use compartment ${anchor.compartment} (Windows), checked to exist`];
  }
}

function launchStep(config: Config, name: string, platform: PlanPlatform): string {
  const workload = config.workloads[name];
  if (platform === "linux") {
    return "setns(CLONE_NEWNET) on the main thread, spawn, restore; verify child netns inode";
  }
  return workload.windows.strategy === "job"
    ? "job object with the anchor's compartment (SetJobCompartmentId), CreateProcessW into the job; verify"
    : `plain CreateProcessW with ${workload.windows.compartmentEnv}=<id> (workload switches its own threads)`;
}

/** The `pin` field of a workload's plan: the config's digest, else the lock file's. */
function pinOf(
  name: string,
  sha256: string | undefined,
  lock: ProgramLock | undefined,
): Pick<WorkloadPlan, "pin"> {
  if (sha256 !== undefined && sha256 !== SHA256_AUTO) {
    return { pin: { sha256, from: "the config" } };
  }
  const entry = lock && Object.hasOwn(lock.workloads, name) ? lock.workloads[name] : undefined;
  if (entry) return { pin: { sha256: entry.sha256, from: lockName(lock!) } };
  return sha256 === SHA256_AUTO ? { pin: { from: "auto" } } : {};
}

/**
 * Builds the plan for `config` on `platform`, with the digests of `lock` if given. Pure: reads
 * nothing, contacts nothing.
 */
export function buildPlan(
  config: Config,
  platform: PlanPlatform,
  lock?: ProgramLock,
): RunPlan {
  return {
    platform,
    anchors: Object.entries(config.anchors).map(([name, anchor]) => ({
      name,
      kind: anchor.kind,
      steps: anchorSteps(anchor, platform),
      anchor,
    })),
    workloads: Object.entries(config.workloads).map(([name, w]) => ({
      name,
      anchor: w.anchor,
      command: w.command,
      ...(w.cwd ? { cwd: w.cwd } : {}),
      envKeys: Object.keys(w.env),
      launch: launchStep(config, name, platform),
      restart: w.restart.policy === "never"
        ? "never"
        : `${w.restart.policy}, backoff ${formatDuration(w.restart.backoff.initial)}..${
          formatDuration(w.restart.backoff.max)
        }`,
      probes: Object.entries(w.probes).filter(([, p]) => p).map(([kind, p]) =>
        `${kind}: ${
          p!.http ? `http :${p!.http.port}${p!.http.path}` : `tcp :${p!.tcp!.port}`
        } every ${formatDuration(p!.period)}`
      ),
      ...(w.port !== undefined ? { port: w.port } : {}),
      ...pinOf(name, w.sha256, lock),
    })),
  };
}

/** Renders a plan for people. */
export function formatPlan(plan: RunPlan): string {
  const lines = [`platform: ${plan.platform}`, "anchors:"];
  for (const anchor of plan.anchors) {
    lines.push(`  ${anchor.name} (${anchor.kind})`);
    anchor.steps.forEach((step, i) => lines.push(`    ${i + 1}. ${step}`));
  }
  lines.push("workloads:");
  for (const w of plan.workloads) {
    lines.push(`  ${w.name} → anchor ${w.anchor}`);
    lines.push(`    command: ${JSON.stringify(w.command)}${w.cwd ? ` in ${w.cwd}` : ""}`);
    if (w.envKeys.length > 0) lines.push(`    env: ${w.envKeys.join(", ")}`);
    lines.push(`    launch: ${w.launch}`);
    if (w.pin) {
      lines.push(
        w.pin.sha256
          ? `    sha256: ${w.pin.sha256} (from ${w.pin.from})`
          : "    sha256: auto, not recorded yet (record it with plan --pin)",
      );
    }
    if (w.port !== undefined) lines.push(`    verify: listening on :${w.port} inside the anchor`);
    lines.push(`    restart: ${w.restart}`);
    for (const probe of w.probes) lines.push(`    probe ${probe}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Installs `plan`. */
export function planCommand(program: Command, context: () => CommandContext): void {
  program.command("plan")
    .description("show what run would do (anchors, resolution, workloads, launch strategy)")
    .addOption(configOption())
    .addOption(
      new Option("--output <format>", "output format").choices(["text", "json"] as const).default(
        "text" as const,
      ),
    )
    .addOption(
      new Option("--platform <os>", "plan for this OS").choices(["linux", "windows"] as const),
    )
    .option("--resolve", "also resolve every anchor now (Kubernetes + network), launching nothing")
    .option(
      "--pin",
      "record the SHA-256 of every workload's program in the lock file next to the config " +
        "(run then refuses any other); needs to run on the node itself",
    )
    .action(async (options) => {
      const path = resolveConfigPath(options.config);
      const config = await loadConfig(path);
      const platform = options.platform ?? (Deno.build.os === "windows" ? "windows" : "linux");
      const { io, setExitCode } = context();
      if (options.pin) {
        if (options.platform && options.platform !== Deno.build.os) {
          throw new CliError(
            `--pin needs to run on the ${options.platform} node itself`,
            EXIT_USAGE,
          );
        }
        const pinned = await recordPins(config, path, await createPlatform());
        if (!pinned.lock) {
          for (const problem of pinned.problems) io.err(`cplauncher: ${problem}\n`);
          throw new CliError(
            `nothing recorded in ${lockPathFor(path)}: ${pinned.problems.length} program(s) ` +
              "could not be pinned",
            EXIT_LAUNCH,
          );
        }
        await writeLock(pinned.lock);
        io.err(
          `cplauncher: recorded ${Object.keys(pinned.lock.workloads).length} program ` +
            `digest(s) in ${pinned.lock.path}\n`,
        );
      }
      const plan = buildPlan(config, platform, await readLock(lockPathFor(path)));
      if (!options.resolve) {
        io.out(options.output === "json" ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan));
        return;
      }
      if (options.platform && options.platform !== Deno.build.os) {
        throw new CliError(
          `--resolve needs to run on the ${options.platform} node itself`,
          EXIT_USAGE,
        );
      }
      const resolved = await resolveAll(config);
      if (resolved.some((r) => "error" in r)) setExitCode(EXIT_RESOLVE);
      if (options.output === "json") {
        io.out(`${JSON.stringify({ ...plan, resolved }, null, 2)}\n`);
        return;
      }
      const lines = resolved.map((r) =>
        "error" in r
          ? `  ${r.anchor}: NOT RESOLVED: ${r.error}`
          : `  ${r.anchor}: ${r.pod ? `pod ${r.pod} ` : ""}${
            r.ip ? `IP ${r.ip} ` : ""
          }→ ${r.domain} (${r.seconds.toFixed(3)} s)`
      );
      io.out(`${formatPlan(plan)}resolved:\n${lines.join("\n")}\n`);
    });
}

/** The outcome of resolving one anchor for `plan --resolve`. */
export type AnchorResolution =
  | { anchor: string; pod?: string; ip?: string; domain: string; seconds: number }
  | { anchor: string; error: string };

async function resolveAll(config: Config): Promise<AnchorResolution[]> {
  const platform = await createPlatform();
  let kube: Promise<LoadedKubeConfig> | undefined;
  const context = {
    platform,
    kube: () => kube ??= loadKubeConfig(config.kubernetes.kubeconfig),
  };
  return await Promise.all(
    Object.entries(config.anchors).map(async ([name, anchor]) => {
      try {
        const r = await resolveAnchor(name, anchor, context);
        await r.pod?.claim?.release();
        return {
          anchor: name,
          ...(r.pod ? { pod: `${r.pod.namespace}/${r.pod.pod}` } : {}),
          ...(r.ip ? { ip: r.ip } : {}),
          domain: r.domain.kind === "netns"
            ? `netns ${r.domain.path} (inode ${r.domain.inode})`
            : `compartment ${r.domain.id}`,
          seconds: r.resolutionSeconds,
        };
      } catch (error) {
        return { anchor: name, error: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
}
