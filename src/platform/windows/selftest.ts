/**
 * The node self-test (`cplauncher doctor --selftest`): what only a real Windows node can tell,
 * asked of the node itself. Every check answers `yes`, `no` or `unknown` and keeps the raw
 * evidence it saw; `unknown` is the answer whenever the node gave no trustworthy signal —
 * a stubbed API (as on Wine), a missing export, no compartment to test in.
 *
 * The checks start tiny listeners: the launcher itself, re-executed in its probe mode
 * (`probeCommand`), which reports its own thread's compartment, listens on a TCP port,
 * optionally resolves a DNS name, and reports the console control events it receives.
 *
 * @module
 */
import { isPlatformError, PlatformError } from "../errors.ts";
import { parseIp } from "./address.ts";
import { currentThreadCompartment, withThreadCompartment } from "./compartment.ts";
import { CONSOLE_EVENT_NAMES } from "./console.ts";
import { netioStatusError } from "./errors.ts";
import { iphlpapi } from "./iphlpapi.ts";
import { JobObject } from "./job.ts";
import { wineVersion } from "./ntdll.ts";
import { closeHandle, exportAddress, kernel32, lastError } from "./kernel32.ts";
import { type JobProcess, sendCtrlBreak, spawnInJob, windowsBuild } from "./launch.ts";
import { alloc, dv } from "./memory.ts";
import { listeningIn } from "./mod.ts";
import { type CompartmentInfo, hcnCompartmentIds, hcnLookup, listCompartments } from "./resolve.ts";
import { DEFAULT_COMPARTMENT_ID, W } from "./structs.ts";

/** A self-test answer. */
export type Answer = "yes" | "no" | "unknown";

/** One question the self-test asked the node. */
export interface SelfTestCheck {
  /** Stable identifier, e.g. `job-listens-in-compartment`. */
  readonly id: string;
  /** The question, for people. */
  readonly question: string;
  /** What the node answered. */
  readonly answer: Answer;
  /** What was seen, raw, one item per observation. */
  readonly evidence: readonly string[];
}

/** What the probe (the launcher in its probe mode) reports on its first stdout line. */
export interface ProbeReport {
  /** Its process id. */
  readonly pid: number;
  /** Its main thread's compartment, or null when it cannot be read. */
  readonly compartment: number | null;
  /** The TCP port it listens on (all addresses). */
  readonly port: number;
  /** The DNS lookup it made, when asked for one. */
  readonly dns?: { readonly name: string; readonly ok: boolean; readonly detail: string };
}

/** Options of {@linkcode runWindowsSelfTest}. */
export interface WindowsSelfTestOptions {
  /** argv that starts the launcher in its probe mode, with `extra` arguments appended. */
  readonly probeCommand: (extra: readonly string[]) => string[];
  /** The compartment to test in (default: the first one besides the host's). */
  readonly compartment?: number;
  /** A name the probe resolves from inside the compartment. */
  readonly dnsName?: string;
  /** How long to wait for a probe to report or react (default 30 s: Deno starts slowly). */
  readonly probeTimeoutMs?: number;
  /** Highest compartment id the listing enters (see `listCompartments`). */
  readonly maxScanId?: number;
}

/** The self-test's findings. */
export interface WindowsSelfTest {
  /** The compartment the placement checks used, or null when there was none. */
  readonly target: number | null;
  /** What the machine is (Windows build, Wine). */
  readonly environment: readonly string[];
  /** Every check, in the order they ran. */
  readonly checks: readonly SelfTestCheck[];
}

/** An id no compartment has: a working `SetCurrentThreadCompartmentId` refuses it. */
const NO_SUCH_COMPARTMENT = 0x7ffffff0;

/** Check ids, also the keys of {@linkcode verdict}. */
export const CHECK = {
  compartmentApi: "compartment-api",
  compartments: "compartments",
  hcn: "hcn-maps-pod-ips",
  newThread: "new-thread-inherits",
  child: "child-inherits-thread-compartment",
  restore: "restore-clears-override",
  job: "job-listens-in-compartment",
  jobClear: "job-compartment-cleared",
  dns: "dns-in-compartment",
  ctrlBreak: "ctrl-break-reaches-child",
  ctrlShutdown: "ctrl-shutdown-reaches-handler",
} as const;

/** The strategies a config can choose on Windows. */
export type WindowsStrategy = "job" | "self";

/** Whether `strategy` is sound given `checks`, and which strategy to recommend. */
export function verdict(
  checks: readonly SelfTestCheck[],
  strategy: WindowsStrategy,
): { readonly sound: boolean; readonly recommended: WindowsStrategy | null; readonly why: string } {
  const answer = (id: string) => checks.find((c) => c.id === id)?.answer ?? "unknown";
  const works: Record<WindowsStrategy, boolean> = {
    job: answer(CHECK.job) === "yes",
    self: answer(CHECK.compartmentApi) === "yes",
  };
  const recommended = works.job ? "job" : works.self ? "self" : null;
  const needs = strategy === "job" ? CHECK.job : CHECK.compartmentApi;
  const why = works[strategy]
    ? `strategy ${strategy} works here ("${needs}" is yes)`
    : `strategy ${strategy} is not shown to work here ("${needs}" is ${answer(needs)})`;
  return { sound: works[strategy], recommended, why };
}

/** Ask the node every question; never throws for what the node answers. */
export async function runWindowsSelfTest(
  options: WindowsSelfTestOptions,
): Promise<WindowsSelfTest> {
  const checks: SelfTestCheck[] = [];
  const add = (id: string, question: string, answer: Answer, evidence: readonly string[]) =>
    checks.push({ id, question, answer, evidence });
  const timeoutMs = options.probeTimeoutMs ?? 30_000;
  const environment = [`Windows ${windowsBuild()}`];
  const wine = wineVersion();
  if (wine) environment.push(`Wine ${wine}: Win32 is emulated, compartments are not`);

  const api = probeCompartmentApi();
  const listing = await listCompartmentsSafely(options.maxScanId);
  const hcnIds = await hcnCompartmentIds();
  const target = options.compartment ??
    listing.compartments.find((c) => c.id !== DEFAULT_COMPARTMENT_ID)?.id ?? null;
  const noTarget = target === null
    ? "no compartment besides the host's could be entered (start a pod on this node, or " +
      "pass --compartment)"
    : undefined;

  add(
    CHECK.compartmentApi,
    "Can the launcher's thread be switched into a compartment and back?",
    api.stubbed ? "unknown" : noTarget ? "unknown" : switchAnswer(target!),
    [...api.evidence, ...(noTarget ? [noTarget] : switchEvidence(target!))],
  );
  add(
    CHECK.compartments,
    "Which compartments exist, with their addresses?",
    api.stubbed || listing.error ? "unknown" : "yes",
    [
      ...listing.compartments.map((c) =>
        `compartment ${c.id}: ${
          c.addresses.map((a) => `${a.address} (${a.state})`).join(", ") || "no addresses"
        }`
      ),
      ...(listing.error ? [listing.error] : []),
      "ids" in hcnIds
        ? `HCN namespaces have compartments: ${hcnIds.ids.join(", ") || "none"}`
        : `HCN namespaces: ${hcnIds.unavailable}`,
    ],
  );
  checks.push(await hcnCheck(api.stubbed ? [] : listing.compartments));

  const stranded: { error?: PlatformError } = {};
  const guard = async (
    id: string,
    question: string,
    run: () => Promise<[Answer, string[]]> | [Answer, string[]],
  ) => {
    if (stranded.error) {
      return add(id, question, "unknown", [`not run: ${stranded.error.message}`]);
    }
    try {
      const [answer, evidence] = await run();
      add(id, question, answer, evidence);
    } catch (e) {
      if (isPlatformError(e, "stranded")) stranded.error = e;
      add(id, question, "unknown", [`failed: ${e instanceof Error ? e.message : String(e)}`]);
    }
  };
  const needsSwitching = (): [Answer, string[]] | undefined =>
    api.stubbed
      ? ["unknown", ["the thread compartment calls are not functional here (see compartment-api)"]]
      : noTarget
      ? ["unknown", [noTarget]]
      : undefined;

  await guard(
    CHECK.newThread,
    "Does a thread created by a switched thread start in its compartment?",
    () => needsSwitching() ?? newThreadCheck(target!),
  );
  await guard(
    CHECK.child,
    "Does a child created after SetCurrentThreadCompartmentId(N) start in N?",
    async () => needsSwitching() ?? await childInheritsCheck(options, target!, timeoutMs),
  );
  await guard(
    CHECK.restore,
    "Does SetCurrentThreadCompartmentId(0) clear the thread's setting (new threads and " +
      "children start in the host's compartment again)?",
    async () => needsSwitching() ?? await restoreCheck(options, target!, timeoutMs),
  );
  let dns: SelfTestCheck["evidence"] | undefined;
  await guard(
    CHECK.job,
    "Does a process started with strategy job in the anchor's compartment listen there, " +
      "and not in the host's?",
    async () => {
      if (noTarget) return ["unknown", [noTarget]];
      const result = await jobCheck(options, target!, timeoutMs);
      dns = result.dns;
      return [result.answer, result.evidence];
    },
  );
  await guard(
    CHECK.jobClear,
    "Can a job's compartment be cleared (SetJobCompartmentId(job, 0)) before the job closes?",
    () => noTarget ? ["unknown", [noTarget]] : jobClearCheck(target!),
  );
  add(
    CHECK.dns,
    `Does DNS resolution work from inside the compartment${
      options.dnsName ? ` (${options.dnsName})` : ""
    }?`,
    dnsAnswer(options.dnsName, dns),
    dns ?? [
      options.dnsName
        ? "no probe ran inside the compartment (see job-listens-in-compartment)"
        : "no name given (--dns-name)",
    ],
  );
  await guard(
    CHECK.ctrlBreak,
    "Does Ctrl-Break reach a child's console control handler?",
    () => ctrlBreakCheck(options, timeoutMs),
  );
  await guard(
    CHECK.ctrlShutdown,
    "Does CTRL_SHUTDOWN_EVENT, delivered the way hcsshim stops a HostProcess container, " +
      "reach the launcher's handler?",
    () => ctrlShutdownCheck(options, timeoutMs),
  );
  return { target, environment, checks };
}

function dnsAnswer(name: string | undefined, evidence: readonly string[] | undefined): Answer {
  if (!name || !evidence) return "unknown";
  return evidence.some((e) => e.startsWith("resolved")) ? "yes" : "no";
}

/** Whether the thread compartment calls do anything: a bogus id must be refused. */
function probeCompartmentApi(): { stubbed: boolean; evidence: string[] } {
  const lib = iphlpapi();
  if (lib.GetCurrentThreadCompartmentId === null || lib.SetCurrentThreadCompartmentId === null) {
    return {
      stubbed: true,
      evidence: ["iphlpapi.dll does not export Get/SetCurrentThreadCompartmentId"],
    };
  }
  const before = lib.GetCurrentThreadCompartmentId();
  const rc = lib.SetCurrentThreadCompartmentId(NO_SUCH_COMPARTMENT);
  const evidence = [
    `GetCurrentThreadCompartmentId() = ${before}`,
    `SetCurrentThreadCompartmentId(${NO_SUCH_COMPARTMENT}) = ${rc}${
      rc === 0 ? " (success for an id no compartment has)" : ` (${describeStatus(rc)})`
    }`,
  ];
  if (rc !== 0) return { stubbed: false, evidence };
  // It claimed success: put the thread back before anything else runs on it.
  const back = lib.SetCurrentThreadCompartmentId(0);
  const after = lib.GetCurrentThreadCompartmentId();
  evidence.push(`SetCurrentThreadCompartmentId(0) = ${back}; the thread reads ${after}`);
  if (back !== 0 || after !== before) {
    throw new PlatformError(
      "stranded",
      `the self-test could not return its thread to compartment ${before} (reads ${after})`,
    );
  }
  return { stubbed: true, evidence };
}

function describeStatus(rc: number): string {
  return netioStatusError("SetCurrentThreadCompartmentId", rc)?.codeName ?? String(rc);
}

function switchAnswer(target: number): Answer {
  try {
    return withThreadCompartment(target, currentThreadCompartment) === target ? "yes" : "no";
  } catch (e) {
    if (isPlatformError(e, "stranded")) throw e;
    return "no";
  }
}

function switchEvidence(target: number): string[] {
  try {
    const inside = withThreadCompartment(target, currentThreadCompartment);
    return [
      `inside compartment ${target} the thread reads ${inside}`,
      `after SetCurrentThreadCompartmentId(0) it reads ${currentThreadCompartment()}`,
    ];
  } catch (e) {
    if (isPlatformError(e, "stranded")) throw e;
    return [`entering compartment ${target}: ${e instanceof Error ? e.message : String(e)}`];
  }
}

async function listCompartmentsSafely(
  maxScanId: number | undefined,
): Promise<{ compartments: CompartmentInfo[]; error?: string }> {
  try {
    return { compartments: await listCompartments(maxScanId) };
  } catch (e) {
    if (isPlatformError(e, "stranded")) throw e;
    return { compartments: [], error: `listing failed: ${(e as Error).message}` };
  }
}

/** Addresses that name a pod (not loopback, not link-local). */
function podAddress(text: string): boolean {
  const b = parseIp(text);
  if (!b) return false;
  if (b.length === 4) return b[0] !== 127 && !(b[0] === 169 && b[1] === 254);
  return !(b.every((x, i) => x === (i === 15 ? 1 : 0))) && !(b[0] === 0xfe && b[1] >= 0x80);
}

async function hcnCheck(compartments: readonly CompartmentInfo[]): Promise<SelfTestCheck> {
  const question = "Does HCN map each pod IP to the compartment that has it?";
  const evidence: string[] = [];
  let mapped = 0;
  let wrong = 0;
  for (const c of compartments) {
    if (c.id === DEFAULT_COMPARTMENT_ID) continue;
    for (const a of c.addresses.filter((x) => podAddress(x.address))) {
      const found = await hcnLookup(parseIp(a.address)!);
      if (found.kind === "unavailable") {
        return {
          id: CHECK.hcn,
          question,
          answer: "unknown",
          evidence: [...evidence, `HCN unavailable: ${found.reason}`],
        };
      }
      if (found.kind === "found" && found.compartment === c.id) mapped++;
      else wrong++;
      evidence.push(
        `${a.address} in compartment ${c.id}: HCN says ${
          found.kind === "found" ? `compartment ${found.compartment}` : found.reason
        }`,
      );
    }
  }
  if (mapped + wrong === 0) {
    evidence.push("no pod IP in any compartment besides the host's");
    return { id: CHECK.hcn, question, answer: "unknown", evidence };
  }
  return { id: CHECK.hcn, question, answer: wrong === 0 ? "yes" : "no", evidence };
}

/**
 * The compartment a brand-new thread of this process starts in: a thread started at
 * `GetCurrentThreadCompartmentId` itself, whose return value becomes its exit code.
 */
function newThreadCompartment(): number {
  const k = kernel32();
  const start = exportAddress("iphlpapi.dll", "GetCurrentThreadCompartmentId");
  if (start === null) throw lastError("GetProcAddress(iphlpapi!GetCurrentThreadCompartmentId)");
  const thread = k.CreateThread(null, 0n, start, null, 0, null);
  if (thread === null) throw lastError("CreateThread");
  try {
    if (k.WaitForSingleObject(thread, 10_000) !== W.WAIT_OBJECT_0) {
      throw new PlatformError("protocol", "the compartment-reading thread did not finish");
    }
    const code = alloc(4);
    if (k.GetExitCodeThread(thread, code) === 0) throw lastError("GetExitCodeThread");
    return dv(code).getUint32(0, true);
  } finally {
    closeHandle(thread);
  }
}

function newThreadCheck(target: number): [Answer, string[]] {
  const seen = withThreadCompartment(target, newThreadCompartment);
  return [
    seen === target ? "yes" : "no",
    [`a thread created while the creator was in compartment ${target} reads ${seen}`],
  ];
}

/** A started probe: the process, its report and everything it has written so far. */
interface Probe {
  readonly process: JobProcess;
  readonly report: ProbeReport;
  /** Waits until stdout matches `pattern`; the text so far, or null after `ms`. */
  waitFor(pattern: RegExp, ms: number): Promise<string | null>;
  /** Kill it and wait until it is gone. */
  end(): Promise<void>;
}

/** Where and how a probe starts. */
interface Placement {
  /** Put its job in this compartment first (strategy job). */
  readonly compartmentId?: number;
  /** Let it resolve `options.dnsName`. */
  readonly dns?: boolean;
}

function probeArgv(options: WindowsSelfTestOptions, placement: Placement): string[] {
  return options.probeCommand(
    placement.dns && options.dnsName ? ["--dns-name", options.dnsName] : [],
  );
}

/** Start a probe (synchronously, so that a caller can do it while its thread is switched). */
function spawnProbe(
  options: WindowsSelfTestOptions,
  label: string,
  placement: Placement = {},
): JobProcess {
  return spawnInJob({
    name: `selftest-${label}`,
    argv: probeArgv(options, placement),
    env: Deno.env.toObject(),
    strategy: "job",
    compartmentId: placement.compartmentId,
  });
}

async function startProbe(
  options: WindowsSelfTestOptions,
  label: string,
  timeoutMs: number,
  placement: Placement = {},
): Promise<Probe> {
  return await awaitProbe(
    spawnProbe(options, label, placement),
    timeoutMs,
    probeArgv(options, placement),
  );
}

/** Read a started probe's report; kills it when none comes within `timeoutMs`. */
async function awaitProbe(
  process: JobProcess,
  timeoutMs: number,
  argv: readonly string[],
): Promise<Probe> {
  let text = "";
  let changed = () => {};
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of process.stdout) {
      text += decoder.decode(chunk, { stream: true });
      changed();
    }
  })();
  const stderr = (async () => {
    for await (const _ of process.stderr) { /* drained: a full pipe would block the probe */ }
  })();
  let exited = false;
  process.status.then(() => {
    exited = true;
    changed();
  });
  const waitFor = async (pattern: RegExp, ms: number): Promise<string | null> => {
    const deadline = performance.now() + ms;
    while (!pattern.test(text)) {
      if (exited || performance.now() > deadline) return pattern.test(text) ? text : null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - performance.now()));
        changed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return text;
  };
  const end = async () => {
    process.kill();
    await process.status;
    await Promise.all([reading, stderr]);
  };
  const first = await waitFor(/^\{.*\}\r?\n/m, timeoutMs);
  const report = first === null ? null : parseProbeReport(first);
  if (report === null) {
    await end();
    throw new PlatformError(
      "protocol",
      `the probe (${argv.join(" ")}) ${
        exited ? "exited before it reported" : `did not report within ${timeoutMs} ms`
      }${text ? `; it wrote: ${text.slice(0, 300)}` : ""}`,
    );
  }
  return { process, report, waitFor, end };
}

/** The probe's report from its first JSON line, or null. */
export function parseProbeReport(text: string): ProbeReport | null {
  const line = /^(\{.*\})\r?$/m.exec(text)?.[1];
  if (!line) return null;
  try {
    const doc = JSON.parse(line);
    if (typeof doc.pid !== "number" || typeof doc.port !== "number") return null;
    return doc as ProbeReport;
  } catch {
    return null;
  }
}

function describeProbe(report: ProbeReport): string {
  return `probe pid ${report.pid} reads compartment ${report.compartment ?? "unknown"} and ` +
    `listens on port ${report.port}`;
}

function sockets(target: number, probe: Probe): { inside: boolean; outside: boolean } {
  return listeningIn(
    { kind: "compartment", id: target, source: "static" },
    probe.process,
    probe.report.port,
  );
}

async function childInheritsCheck(
  options: WindowsSelfTestOptions,
  target: number,
  timeoutMs: number,
): Promise<[Answer, string[]]> {
  // spawnInJob is synchronous: the child is created while the thread is in `target`.
  const process = withThreadCompartment(target, () => spawnProbe(options, "thread-child"));
  const probe = await awaitProbe(process, timeoutMs, probeArgv(options, {}));
  try {
    const where = sockets(target, probe);
    const inherited = probe.report.compartment === target || (where.inside && !where.outside);
    return [inherited ? "yes" : "no", [
      `created while the thread was in compartment ${target}: ${describeProbe(probe.report)}`,
      `its socket is in compartment ${target}'s TCP table: ${where.inside}; in the host's: ${where.outside}`,
    ]];
  } finally {
    await probe.end();
  }
}

async function restoreCheck(
  options: WindowsSelfTestOptions,
  target: number,
  timeoutMs: number,
): Promise<[Answer, string[]]> {
  const host = currentThreadCompartment();
  withThreadCompartment(target, () => undefined);
  const thread = currentThreadCompartment();
  const fresh = newThreadCompartment();
  const probe = await startProbe(options, "after-restore", timeoutMs);
  try {
    const where = sockets(target, probe);
    const ok = thread === host && fresh === host && probe.report.compartment === host &&
      !where.inside;
    return [ok ? "yes" : "no", [
      `after entering ${target} and SetCurrentThreadCompartmentId(0): the thread reads ${thread}`,
      `a new thread reads ${fresh}`,
      `a child started then: ${
        describeProbe(probe.report)
      }; its socket in compartment ${target}: ${where.inside}`,
      "that the job strategy's compartment wins over the restored thread is shown by " +
      "job-listens-in-compartment, which runs after this check",
    ]];
  } finally {
    await probe.end();
  }
}

async function jobCheck(
  options: WindowsSelfTestOptions,
  target: number,
  timeoutMs: number,
): Promise<{ answer: Answer; evidence: string[]; dns?: string[] }> {
  let probe: Probe;
  try {
    probe = await startProbe(options, "job", timeoutMs, { compartmentId: target, dns: true });
  } catch (e) {
    if (isPlatformError(e, "placement", "unsupported")) {
      return { answer: "no", evidence: [(e as Error).message] };
    }
    throw e;
  }
  try {
    const evidence = [
      `GetJobCompartmentId(job) = ${probe.process.jobCompartmentId() ?? "not exported"}`,
      describeProbe(probe.report),
    ];
    let where = { inside: false, outside: false };
    const deadline = performance.now() + timeoutMs;
    while (!where.inside && !where.outside && performance.now() < deadline) {
      where = sockets(target, probe);
      if (!where.inside && !where.outside) await new Promise((r) => setTimeout(r, 100));
    }
    evidence.push(
      `port ${probe.report.port} in compartment ${target}'s TCP table: ${where.inside}; ` +
        `in the host's: ${where.outside}`,
    );
    const dns = probe.report.dns
      ? [
        `${
          probe.report.dns.ok ? "resolved" : "failed"
        } ${probe.report.dns.name}: ${probe.report.dns.detail}`,
      ]
      : undefined;
    return { answer: where.inside && !where.outside ? "yes" : "no", evidence, dns };
  } finally {
    await probe.end();
  }
}

function jobClearCheck(target: number): [Answer, string[]] {
  const job = JobObject.create({ killOnClose: true });
  try {
    try {
      job.setCompartment(target);
    } catch (e) {
      return ["no", [`SetJobCompartmentId(job, ${target}): ${(e as Error).message}`]];
    }
    const before = job.compartmentId();
    const err = job.clearCompartment();
    const after = job.compartmentId();
    const evidence = [
      `an empty job in compartment ${target} (GetJobCompartmentId = ${before})`,
      `SetJobCompartmentId(job, 0): ${err ? err.message : "success"}`,
      `GetJobCompartmentId afterwards = ${after}`,
      "whether Windows still counts a reference on the compartment cannot be read; the job " +
      "no longer names it",
    ];
    return [err === null && after !== target ? "yes" : "no", evidence];
  } finally {
    job.close();
  }
}

async function ctrlBreakCheck(
  options: WindowsSelfTestOptions,
  timeoutMs: number,
): Promise<[Answer, string[]]> {
  const probe = await startProbe(options, "ctrl-break", timeoutMs);
  try {
    if (!sendCtrlBreak("selftest-ctrl-break", probe.report.pid)) {
      return ["no", [
        `GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, ${probe.report.pid}) failed (the error ` +
        "is in the log): the launcher shares no console with its children; workloads are " +
        "then stopped with TerminateJobObject after stopTimeout",
      ]];
    }
    const seen = await probe.waitFor(/"event":"CTRL_BREAK_EVENT"/, Math.min(timeoutMs, 10_000));
    return seen
      ? ["yes", [`the probe's handler saw CTRL_BREAK_EVENT`]]
      : ["no", [`GenerateConsoleCtrlEvent succeeded, but the probe's handler saw nothing`]];
  } finally {
    await probe.end();
  }
}

async function ctrlShutdownCheck(
  options: WindowsSelfTestOptions,
  timeoutMs: number,
): Promise<[Answer, string[]]> {
  const probe = await startProbe(options, "ctrl-shutdown", timeoutMs);
  try {
    const err = probe.process.startCtrlRoutine(W.CTRL_SHUTDOWN_EVENT);
    if (err) return ["no", [`starting kernel32!CtrlRoutine in the probe: ${err.message}`]];
    const name = CONSOLE_EVENT_NAMES[W.CTRL_SHUTDOWN_EVENT];
    const seen = await probe.waitFor(
      new RegExp(`"event":"${name}"`),
      Math.min(timeoutMs, 10_000),
    );
    if (!seen) {
      return ["no", [`a thread at kernel32!CtrlRoutine(${name}) ran; the handler saw nothing`]];
    }
    let ended = false;
    const gone = probe.process.status.then(() => ended = true);
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5_000))]);
    return ["yes", [
      `the probe's handler saw ${name}`,
      ended
        ? "the process ended after its handler returned TRUE"
        : "the process was still running 5 s after its handler returned TRUE (the launcher " +
          "then finishes its own stop and exits)",
    ]];
  } finally {
    await probe.end();
  }
}
