/**
 * `cplauncher doctor`: without options the node's namespaces or compartments (as
 * `compartments`); with `--selftest` the node self-test, which answers — on this node, now —
 * whether the configured way of placing workloads works here, each answer `yes`, `no` or
 * `unknown` with the evidence it rests on. Exit 0 when the configured strategy is sound on
 * this node, 4 when it is not (the report names the strategy to use instead).
 *
 * The self-test starts the launcher itself in a hidden probe mode (`doctor --probe`): it
 * reports its thread's compartment, listens on a TCP port, resolves a name if asked, and
 * prints every console control event (Windows) or signal (Linux) it receives.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { type Command, Option } from "@commander-js/extra-typings";
import { loadConfig } from "../config/mod.ts";
import { isPlatformError } from "../platform/errors.ts";
import type { Answer, ProbeReport, SelfTestCheck } from "../platform/windows/mod.ts";
import { showDomains } from "./compartments.ts";
import { denoVersionProblem, MINIMUM_DENO_VERSION } from "./deno_version.ts";
import { CliError, EXIT_LAUNCH, EXIT_OK, EXIT_USAGE } from "./exit_codes.ts";
import type { Io } from "./io.ts";
import { type CommandContext, resolveConfigPath } from "./options.ts";

/** The self-test's report, as `--output json` prints it. */
export interface SelfTestReport {
  /** `windows` or `linux`. */
  readonly platform: "windows" | "linux";
  /** What the machine is (OS build, Wine, Deno). */
  readonly environment: readonly string[];
  /** The strategy the config (or `--strategy`) asks for. */
  readonly strategy: string;
  /** Whether that strategy is shown to work on this node. */
  readonly sound: boolean;
  /** The strategy to use here, or null when none is shown to work. */
  readonly recommended: string | null;
  /** Why `sound` is what it is. */
  readonly why: string;
  /** Every question asked, in order. */
  readonly checks: readonly SelfTestCheck[];
}

/** How long a probe may take to start and report (Deno itself needs a few seconds). */
const PROBE_TIMEOUT_MS = 30_000;

/** Installs the command(s) of this module. */
export function doctorCommand(program: Command, context: () => CommandContext): void {
  program.command("doctor")
    .description(
      "show this node's compartments/namespaces; with --selftest, test on this node whether " +
        "workloads can be placed in them (exit 0: the configured strategy works, 4: it does not)",
    )
    .option("--selftest", "run the node self-test")
    .option("-c, --config <file>", "the config whose strategy and kubeconfig to use")
    .addOption(
      new Option("--strategy <strategy>", "Windows strategy to judge (default: the config's)")
        .choices(["job", "self"] as const),
    )
    .option("--compartment <id>", "Windows: the compartment to test in (default: the first pod's)")
    .option("--netns <path>", "Linux: the network namespace to test in (default: the first pod's)")
    .option("--dns-name <name>", "a name to resolve from inside the compartment/namespace")
    .addOption(
      new Option("--output <format>", "output format").choices(["text", "json"] as const).default(
        "text" as const,
      ),
    )
    .option("--no-pods", "listing: do not ask the Kubernetes API which pods own the addresses")
    .addOption(new Option("--probe", "internal: run as the self-test's probe").hideHelp())
    .action(async (options) => {
      const ctx = context();
      if (options.probe) return await runProbe(options.dnsName, ctx.io);
      if (!options.selftest) return await showDomains(options, ctx);
      const strategy = options.strategy ?? await configuredStrategy(options.config);
      let report: SelfTestReport;
      try {
        report = Deno.build.os === "windows"
          ? await windowsSelfTest(strategy, options)
          : await linuxSelfTest(options);
      } catch (error) {
        // The launcher's own thread was left in a pod's compartment: no report can be trusted.
        if (isPlatformError(error, "stranded")) throw new CliError(error.message, EXIT_LAUNCH);
        throw error;
      }
      ctx.io.out(options.output === "json" ? `${JSON.stringify(report, null, 2)}\n` : text(report));
      ctx.setExitCode(report.sound ? EXIT_OK : EXIT_LAUNCH);
    });
}

/**
 * The strategy the config's workloads use (`job` unless every one says `self`); `job` when no
 * config is given or found.
 */
async function configuredStrategy(flag: string | undefined): Promise<"job" | "self"> {
  if (!flag && !Deno.env.get("CPLAUNCHER_CONFIG")) return "job";
  const config = await loadConfig(resolveConfigPath(flag));
  const strategies = Object.values(config.workloads).map((w) => w.windows.strategy);
  return strategies.length > 0 && strategies.every((s) => s === "self") ? "self" : "job";
}

/**
 * argv that starts this launcher in probe mode: the compiled binary itself; deno on the source
 * (`src/main.ts`, with the launcher's permission set); or deno on the bundle (`main.js`, run
 * with `-A` as documented for it).
 */
export function probeCommand(extra: readonly string[]): string[] {
  const args = ["doctor", "--probe", ...extra];
  if (Deno.build.standalone) return [Deno.execPath(), ...args];
  const main = fileURLToPath(Deno.mainModule);
  if (!/[\\/]src[\\/]main\.ts$/.test(main)) {
    return [Deno.execPath(), "run", "-A", "--no-config", main, ...args];
  }
  return [
    Deno.execPath(),
    "run",
    "-P=launcher",
    "--config",
    fileURLToPath(new URL("../deno.json", Deno.mainModule)),
    // The global npm cache: a node_modules folder next to the source may belong to another OS.
    "--node-modules-dir=none",
    main,
    ...args,
  ];
}

function versionCheck(): SelfTestCheck {
  const problem = denoVersionProblem();
  return {
    id: "deno-version",
    question: `Is this Deno at least ${MINIMUM_DENO_VERSION}?`,
    answer: problem ? "no" : "yes",
    evidence: [problem ?? `Deno ${Deno.version.deno}`],
  };
}

async function windowsSelfTest(
  strategy: "job" | "self",
  options: { compartment?: string; dnsName?: string },
): Promise<SelfTestReport> {
  const { runWindowsSelfTest, verdict } = await import("../platform/windows/mod.ts");
  const result = await runWindowsSelfTest({
    probeCommand,
    ...(options.compartment !== undefined
      ? { compartment: compartmentId(options.compartment) }
      : {}),
    ...(options.dnsName ? { dnsName: options.dnsName } : {}),
    probeTimeoutMs: PROBE_TIMEOUT_MS,
  });
  const checks = [versionCheck(), ...result.checks];
  const judged = verdict(checks, strategy);
  const deno = checks[0].answer === "yes";
  return {
    platform: "windows",
    environment: [...result.environment, `Deno ${Deno.version.deno}`],
    strategy,
    sound: judged.sound && deno,
    recommended: judged.recommended,
    why: deno ? judged.why : checks[0].evidence[0],
    checks,
  };
}

function compartmentId(text: string): number {
  const id = Number(text);
  if (!Number.isInteger(id) || id < 2) {
    throw new CliError(
      `--compartment: expected the id of a compartment other than the host's (2 or more), got ${
        JSON.stringify(text)
      }`,
      EXIT_USAGE,
    );
  }
  return id;
}

/** Linux: the same questions where they apply — privileges, namespaces, placement, DNS. */
async function linuxSelfTest(
  options: { netns?: string; dnsName?: string },
): Promise<SelfTestReport> {
  const { listNamespaces } = await import("../platform/linux/mod.ts");
  const { createPlatform } = await import("../platform/mod.ts");
  const checks: SelfTestCheck[] = [versionCheck()];
  const caps = effectiveCapabilities();
  const admin = caps !== null && (caps & (1n << 21n)) !== 0n;
  checks.push({
    id: "privileges",
    question: "May the launcher enter network namespaces (CAP_SYS_ADMIN)?",
    answer: caps === null ? "unknown" : admin ? "yes" : "no",
    evidence: [caps === null ? "/proc/self/status unreadable" : `CapEff ${caps.toString(16)}`],
  });
  const scan = listNamespaces();
  checks.push({
    id: "namespaces",
    question: "Which network namespaces exist, with their addresses?",
    answer: "yes",
    evidence: scan.namespaces.map((ns) =>
      `${ns.path}${ns.isLauncherNamespace ? " (launcher's)" : ""}: ${
        ns.addresses.map((a) => `${a.address}/${a.prefixLength} ${a.interface}`).join(", ") ||
        "no addresses"
      }`
    ),
  });
  const target = options.netns ??
    scan.namespaces.find((ns) =>
      !ns.isLauncherNamespace && ns.addresses.some((a) =>
        !a.address.startsWith("127.") &&
        a.address !== "::1"
      )
    )?.path;
  let placed: Answer = "unknown";
  let placedEvidence = ["no namespace besides the launcher's has an address (pass --netns)"];
  let dns: ProbeReport["dns"];
  if (target && admin) {
    const platform = await createPlatform("linux");
    try {
      const domain = await platform.openStatic({ netns: target });
      const child = await platform.launch(domain, {
        name: "selftest",
        command: probeCommand(options.dnsName ? ["--dns-name", options.dnsName] : []),
        env: {},
      });
      try {
        const report = await firstReport(child.stdout);
        dns = report.dns;
        const where = await platform.listening(domain, child, report.port);
        placed = where.inside && !where.outside ? "yes" : "no";
        placedEvidence = [
          `probe pid ${report.pid} listens on port ${report.port}`,
          `in ${target}: ${where.inside}; in the launcher's namespace: ${where.outside}`,
        ];
      } finally {
        child.kill();
        await child.status;
      }
    } catch (e) {
      placed = "no";
      placedEvidence = [`${target}: ${e instanceof Error ? e.message : String(e)}`];
    }
  } else if (target) {
    placedEvidence = ["not run: the launcher lacks CAP_SYS_ADMIN"];
  }
  checks.push({
    id: "netns-listens-inside",
    question: "Does a process started in the anchor's namespace listen there, and not outside?",
    answer: placed,
    evidence: placedEvidence,
  });
  checks.push({
    id: "dns-in-namespace",
    question: `Does DNS resolution work from inside the namespace${
      options.dnsName ? ` (${options.dnsName})` : ""
    }?`,
    answer: dns ? (dns.ok ? "yes" : "no") : "unknown",
    evidence: [dns ? `${dns.name}: ${dns.detail}` : "no lookup made (--dns-name, and a probe)"],
  });
  const deno = checks[0].answer === "yes";
  const sound = deno && placed === "yes";
  return {
    platform: "linux",
    environment: [`Linux ${Deno.osRelease()}`, `Deno ${Deno.version.deno}`],
    strategy: "netns",
    sound,
    recommended: placed === "yes" ? "netns" : null,
    why: sound
      ? "a process started in the namespace listens there"
      : !deno
      ? checks[0].evidence[0]
      : `placement is not shown to work here ("netns-listens-inside" is ${placed})`,
    checks,
  };
}

/** `CapEff` of this process, or null when /proc cannot say. */
function effectiveCapabilities(): bigint | null {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(Deno.readTextFileSync("/proc/self/status"));
    return m ? BigInt(`0x${m[1]}`) : null;
  } catch {
    return null;
  }
}

/** The probe's first stdout line, parsed. */
async function firstReport(stdout: ReadableStream<Uint8Array>): Promise<ProbeReport> {
  const reader = stdout.getReader();
  const decoder = new TextDecoder();
  let text = "";
  const deadline = AbortSignal.timeout(PROBE_TIMEOUT_MS);
  try {
    while (!text.includes("\n")) {
      const next = await Promise.race([
        reader.read(),
        new Promise<never>((_, reject) =>
          deadline.addEventListener("abort", () => reject(new Error("the probe did not report")))
        ),
      ]);
      if (next.done) break;
      text += decoder.decode(next.value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  const report = JSON.parse(text.split("\n")[0]) as ProbeReport;
  if (typeof report.port !== "number") throw new Error(`unexpected probe output: ${text}`);
  return report;
}

function text(report: SelfTestReport): string {
  const lines = [`cplauncher doctor --selftest (${report.environment.join("; ")})`, ""];
  for (const check of report.checks) {
    lines.push(`${check.answer.padEnd(7)} ${check.id}: ${check.question}`);
    for (const e of check.evidence) lines.push(`          ${e}`);
  }
  lines.push(
    "",
    `strategy ${report.strategy}: ${report.sound ? "sound" : "NOT sound"} — ${report.why}`,
    `recommended: ${report.recommended ?? "none (no strategy was shown to work on this node)"}`,
  );
  return `${lines.join("\n")}\n`;
}

/**
 * Probe mode: report, listen, and print every stop request. It ends on the first Ctrl-C,
 * Ctrl-Break or signal; after CTRL_CLOSE/CTRL_SHUTDOWN it stays, so that the self-test sees
 * whether Windows ends a process once its handler has returned (the job ends it otherwise).
 */
async function runProbe(dnsName: string | undefined, io: Io): Promise<void> {
  const windows = Deno.build.os === "windows" ? await import("../platform/windows/mod.ts") : null;
  let compartment: number | null = null;
  try {
    compartment = windows ? windows.currentThreadCompartment() : null;
  } catch { /* not exported here: reported as null */ }
  const listener = Deno.listen({ hostname: "0.0.0.0", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  let dns: ProbeReport["dns"];
  if (dnsName) {
    try {
      const addresses = await Deno.resolveDns(dnsName, "A", { signal: AbortSignal.timeout(5000) });
      dns = { name: dnsName, ok: true, detail: addresses.join(", ") };
    } catch (e) {
      dns = { name: dnsName, ok: false, detail: e instanceof Error ? e.message : String(e) };
    }
  }
  let stopped!: () => void;
  const stop = new Promise<void>((resolve) => stopped = resolve);
  const onEvent = (event: string) => {
    io.out(`${JSON.stringify({ event })}\n`);
    if (event !== "CTRL_CLOSE_EVENT" && event !== "CTRL_SHUTDOWN_EVENT") stopped();
  };
  let unwatch = () => {};
  if (windows) {
    unwatch = windows.handleConsoleControl({ stop: onEvent, budgetMs: 0 });
  } else {
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    const handlers = signals.map((signal) => () => onEvent(signal));
    signals.forEach((signal, i) => Deno.addSignalListener(signal, handlers[i]));
    unwatch = () => signals.forEach((signal, i) => Deno.removeSignalListener(signal, handlers[i]));
  }
  const report: ProbeReport = { pid: Deno.pid, compartment, port, ...(dns ? { dns } : {}) };
  io.out(`${JSON.stringify(report)}\n`);
  await stop;
  unwatch();
  listener.close();
}
