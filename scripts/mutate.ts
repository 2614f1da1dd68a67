// deno-lint-ignore-file no-console -- a command-line report
/**
 * Mutation testing of the core modules: `deno task mutate`.
 *
 * A fixed catalogue of small, realistic bugs ("mutants"), each a search-and-replace in one
 * source file, most of them breaking something the README promises. The repository is
 * copied to a scratch folder once; each mutant is applied there alone, the test files that
 * hold its promise run (cheap ones first, stopping at the first failure), and the file is
 * put back. A mutant is *killed* when a test fails (or the run times out), and *survives*
 * when every test passes — a promise no test holds. The working tree is never touched.
 *
 * Usage:
 *   deno task mutate                   every mutant (needs root, the kube binaries and cc)
 *   deno task mutate --promises        only the mutants that break a README promise
 *   deno task mutate --only R1,S2      only these
 *   deno task mutate --check           only check that every search string is still unique
 *   deno task mutate --list            list the catalogue
 *   deno task mutate --report FILE     also write the results as a Markdown table
 *   deno task mutate --no-baseline     skip the unmutated run of the test commands
 *   deno task mutate --timeout 300     seconds before a non-unit test run counts as hung
 *
 * Exit code 0 when no promise mutant survives and at least 80 % of all mutants are killed.
 *
 * @module
 */
import { join } from "node:path";

const ROOT = new URL("../", import.meta.url).pathname;

/** The test files (and optionally a `--filter`) one step of a mutant's check runs. */
interface TestRun {
  readonly files: readonly string[];
  readonly filter?: string;
}

/** Unit tests take seconds; a mutant that makes one loop is stopped after this. */
const UNIT_TIMEOUT_MS = 60_000;

function timeoutFor(run: TestRun, otherMs: number): number {
  return run.files.every((f) => f.startsWith("tests/unit/")) ? UNIT_TIMEOUT_MS : otherMs;
}

/** One planted bug. */
interface Mutant {
  readonly id: string;
  /** Source file, relative to the repository root. */
  readonly file: string;
  /** Each `search` must occur exactly once in the file. */
  readonly edits: readonly { readonly search: string; readonly replace: string }[];
  /** What the bug does. */
  readonly bug: string;
  /** The README promise it breaks; none for other core behaviour. */
  readonly promise?: string;
  /** Checks, cheapest first; the mutant is killed by the first that fails. */
  readonly runs: readonly TestRun[];
}

const FAST_SUPERVISOR: TestRun = {
  files: ["tests/unit/supervisor_fast_test.ts", "tests/unit/runner_test.ts"],
};
const RUNNER: TestRun = { files: ["tests/unit/runner_test.ts"] };
const RESTART: TestRun = {
  files: ["tests/unit/restart_test.ts", "tests/unit/supervisor_parts_test.ts"],
};
const SELECTOR_UNIT: TestRun = { files: ["tests/unit/selector_test.ts"] };
const SELECTOR_APISERVER: TestRun = {
  files: ["tests/kube_discovery/selector_syntax_test.ts"],
  filter: "exactly like the apiserver",
};
const PICK_UNIT: TestRun = {
  files: ["tests/unit/pick_test.ts", "tests/unit/pod_discovery_test.ts"],
};
const RELAY: TestRun = { files: ["tests/unit/supervisor_parts_test.ts"], filter: "relay" };
const RELAY_BLOCKS: TestRun = { files: ["tests/unit/relay_test.ts"] };
const LINE_PREFIX: TestRun = { files: ["tests/unit/line_prefix_test.ts"] };
const OUTPUT_PIPES: TestRun = { files: ["tests/linux/output_pipes_test.ts"] };
const OUTPUT: TestRun = { files: ["tests/unit/output_test.ts"] };
const CLAIM_APISERVER: TestRun = { files: ["tests/kube_discovery/claim_test.ts"] };
const PLACEMENT: TestRun = { files: ["tests/linux/placement_test.ts"] };
const discovery = (filter: string): TestRun => ({
  files: ["tests/kube_discovery/discovery_test.ts"],
  filter,
});
const promises = (filter: string): TestRun => ({ files: ["tests/e2e/promises_test.ts"], filter });
const launch = (filter: string): TestRun => ({ files: ["tests/linux/launch_test.ts"], filter });

const one = (search: string, replace: string) => [{ search, replace }];

const README = {
  selector: "label selector (…), checked like the apiserver does",
  exactlyOne: "exactly-one — more than one live match is an error listing them",
  firstReady: "first-ready — the oldest Ready pod with an IP",
  node: "node: only pods with spec.nodeName equal to it",
  claimRace:
    "claim — resourceVersion precondition (the loser of a race gets 409 and tries the next pod)",
  claimRenew: "claim — renews every 10 s",
  claimRelease: "claim — releases on clean exit",
  claimTakeover: "claim — a claim not renewed for 30 s is taken over",
  stop: "Shutdown: SIGTERM → each child gets its graceful signal, stopTimeout later it is killed",
  port: "the port must be listening inside the anchor within the timeout",
  portOutside: "the listener must appear inside the namespace and not in the host namespace",
  move: "Anchor replacement: deleted, terminating or changes IP → started again in the new anchor",
  restart: "Restarts: always / on-failure / never",
  backoff: "exponential backoff from initial to max, reset after a run of resetAfter",
  never: "With one workload and never, the launcher exits with the child's exit code",
  probes: "a failed liveness (or startup) probe restarts the workload; readiness drives /readyz",
  exitCodes: "Exit codes: 3 anchor not resolved, 4 workload could not be started",
  sha256: ".sha256: refuse to start a program with another digest",
  relay: "Output is relayed line by line … without interleaving partial lines or dropping bytes",
  backpressure: "at most 256 KiB per stream waits, then the relay stops reading the child's pipe",
  json: "one JSON object per line with --log-format json; [name] line in text mode",
  verify: "The child's /proc/PID/ns/net inode is compared with the target; a mismatch kills it",
  orphans: "No orphans: setpriv --pdeathsig KILL",
  credentials: "Credentials are never logged",
} as const;

/** The catalogue. Ids: S selector, K pick, C claim, R runner, D decisions, B backoff,
 * L relay, O output, A anchors, V launch verification, X credentials, E exit codes. */
const CATALOGUE: readonly Mutant[] = [
  // --- selector (src/config/selector.ts)
  {
    id: "S1",
    file: "src/config/selector.ts",
    edits: one(
      'if (op.kind === "identifier" && (op.text === "in" || op.text === "notin")) {',
      'if (op.kind === "identifier") {',
    ),
    bug: "any word is accepted as a set operator (`app foo (x)`)",
    promise: README.selector,
    runs: [SELECTOR_UNIT, SELECTOR_APISERVER],
  },
  {
    id: "S2",
    file: "src/config/selector.ts",
    edits: one("if (parseInt64(value) === undefined) {", "if (true) {"),
    bug: "`a>1` and `a<2` are refused",
    promise: README.selector,
    runs: [SELECTOR_UNIT, SELECTOR_APISERVER],
  },
  {
    id: "S3",
    file: "src/config/selector.ts",
    edits: one(
      'const WHITESPACE = new Set([" ", "\\t", "\\r", "\\n"]);',
      'const WHITESPACE = new Set([" ", "\\t", "\\r", "\\n", "\\v", "\\f", "\\u00a0"]);',
    ),
    bug: "vertical tab, form feed and NBSP count as whitespace",
    promise: README.selector,
    runs: [SELECTOR_UNIT, SELECTOR_APISERVER],
  },
  {
    id: "S4",
    file: "src/config/selector.ts",
    edits: one('if (values.size === 0) values.add("");', ""),
    bug: "a leading empty entry of a value list (`(,x)`) does not stand for the empty value",
    promise: README.selector,
    runs: [SELECTOR_UNIT, SELECTOR_APISERVER],
  },
  {
    id: "S5",
    file: "src/config/selector.ts",
    edits: one(
      'return operator === ">" ? actual > bound : actual < bound;',
      'return operator === ">" ? actual >= bound : actual < bound;',
    ),
    bug: "`a>1` matches a=1",
    promise: README.selector,
    runs: [SELECTOR_UNIT, SELECTOR_APISERVER],
  },
  {
    id: "S6",
    file: "src/config/selector.ts",
    edits: one("if (keyProblem) return { message: keyProblem };", ""),
    bug: "label keys are not validated",
    promise: README.selector,
    runs: [SELECTOR_UNIT, SELECTOR_APISERVER],
  },
  {
    id: "S7",
    file: "src/config/selector.ts",
    edits: one("const problem = checkValue(value);", "const problem = undefined;"),
    bug: "single label values are not validated",
    promise: README.selector,
    runs: [SELECTOR_UNIT, SELECTOR_APISERVER],
  },
  {
    id: "S8",
    file: "src/config/selector.ts",
    edits: one("return !has || !values.includes(value);", "return has && !values.includes(value);"),
    bug: "`notin` no longer matches pods without the label",
    promise: README.selector,
    runs: [SELECTOR_UNIT, SELECTOR_APISERVER],
  },
  // --- pick (src/kube/pick.ts)
  {
    id: "K1",
    file: "src/kube/pick.ts",
    edits: one("if (live.length > 1) {", "if (live.length > 2) {"),
    bug: "exactly-one accepts two matches",
    promise: README.exactlyOne,
    runs: [PICK_UNIT, discovery("exactly-one")],
  },
  {
    id: "K2",
    file: "src/kube/pick.ts",
    edits: one(".filter((p) => !p.deleting).sort(byAge);", ".filter((p) => !p.deleting);"),
    bug: "first-ready takes the first pod listed instead of the oldest",
    promise: README.firstReady,
    runs: [PICK_UNIT, discovery("first-ready")],
  },
  {
    id: "K3",
    file: "src/kube/pick.ts",
    edits: one(
      "const onNode = spec.node ? pods.filter((p) => p.node === spec.node) : [...pods];",
      "const onNode = [...pods];",
    ),
    bug: "the node filter is ignored",
    promise: README.node,
    runs: [PICK_UNIT, discovery("node filter")],
  },
  {
    id: "K4",
    file: "src/kube/pick.ts",
    edits: one("return claim.now - renewed < claim.ttlMs;", "return true;"),
    bug: "a stale claim is never taken over",
    promise: README.claimTakeover,
    runs: [PICK_UNIT, discovery("stopped renewing")],
  },
  {
    id: "K5",
    file: "src/kube/pick.ts",
    edits: one(".filter((p) => !p.deleting).sort(byAge);", ".sort(byAge);"),
    bug: "terminating pods count as live",
    runs: [PICK_UNIT, FAST_SUPERVISOR],
  },
  // --- claim (src/kube/claim.ts)
  {
    id: "C1",
    file: "src/kube/claim.ts",
    edits: one(
      "    if (this.#released) return;\n    const { CoreV1Api } = await loadClientNode();",
      "    return;\n    const { CoreV1Api } = await loadClientNode();",
    ),
    bug: "renew() does nothing",
    promise: README.claimRenew,
    runs: [CLAIM_APISERVER, promises("claim under run")],
  },
  {
    id: "C2",
    file: "src/kube/claim.ts",
    edits: one(
      "    if (this.#released) return;\n    this.#released = true;\n    clearInterval(this.#timer);",
      "    this.#released = true;\n    clearInterval(this.#timer);\n    return;",
    ),
    bug: "the claim is never released",
    promise: README.claimRelease,
    runs: [CLAIM_APISERVER, promises("claim under run")],
  },
  {
    id: "C3",
    file: "src/kube/claim.ts",
    edits: one(
      "if (current.annotations[CLAIM_HOLDER_ANNOTATION] !== this.#holder) return;",
      "",
    ),
    bug: "release removes a claim another launcher has taken over",
    runs: [CLAIM_APISERVER],
  },
  {
    id: "C4",
    file: "src/kube/claim.ts",
    edits: one(
      "        resourceVersion: pod.resourceVersion,\n        annotations: {\n          [CLAIM_HOLDER_ANNOTATION]: holder,",
      "        annotations: {\n          [CLAIM_HOLDER_ANNOTATION]: holder,",
    ),
    bug: "claims are written without the resourceVersion precondition",
    promise: README.claimRace,
    runs: [CLAIM_APISERVER],
  },
  {
    id: "C5",
    file: "src/kube/claim.ts",
    edits: one("if ((error as { code?: number }).code === 409) {", "if (false) {"),
    bug: "a lost race (409) is an error instead of trying the next pod",
    promise: README.claimRace,
    runs: [CLAIM_APISERVER],
  },
  {
    id: "C6",
    file: "src/kube/claim.ts",
    edits: one("Math.max(100, Math.floor(ttlMs / 3))", "Math.max(100, Math.floor(ttlMs * 2))"),
    bug: "claims are renewed only every two TTLs",
    promise: README.claimRenew,
    runs: [promises("claim under run")],
  },
  // --- runner (src/supervisor/runner.ts)
  {
    id: "R1",
    file: "src/supervisor/runner.ts",
    edits: one("      try {\n        child.kill();\n      } catch", "      try {\n      } catch"),
    bug: "no kill after stopTimeout",
    promise: README.stop,
    runs: [FAST_SUPERVISOR, promises("ignores SIGTERM")],
  },
  {
    id: "R2",
    file: "src/supervisor/runner.ts",
    edits: one("      child.terminate();", "      child.kill();"),
    bug: "stopping kills at once, without the graceful signal",
    promise: README.stop,
    runs: [FAST_SUPERVISOR, promises("ignores SIGTERM")],
  },
  {
    id: "R3",
    file: "src/supervisor/runner.ts",
    edits: one(
      "const timeout = sleep(this.#spec.stopTimeout, grace.signal)",
      "const timeout = sleep(0, grace.signal)",
    ),
    bug: "no grace period",
    promise: README.stop,
    runs: [FAST_SUPERVISOR, promises("ignores SIGTERM")],
  },
  {
    id: "R4",
    file: "src/supervisor/runner.ts",
    edits: one("if (placed.outside && !placed.inside) {", "if (false) {"),
    bug: "a port listening outside the anchor is not recognised",
    promise: README.portOutside,
    runs: [FAST_SUPERVISOR, promises("escapes to the host network")],
  },
  {
    id: "R5",
    file: "src/supervisor/runner.ts",
    edits: one("if (placed.inside || placed.outside) break;", "if (placed.inside) break;"),
    bug: "a port listening outside the anchor is noticed only at the startup timeout",
    promise: README.portOutside,
    runs: [promises("escapes to the host network")],
  },
  {
    id: "R6",
    file: "src/supervisor/runner.ts",
    edits: one(
      "      if (!placed.inside) {\n        return unhealthy(",
      "      if (false) {\n        return unhealthy(",
    ),
    bug: "a port that never listens is accepted",
    promise: README.port,
    runs: [FAST_SUPERVISOR],
  },
  {
    id: "R7",
    file: "src/supervisor/runner.ts",
    edits: one(
      "            await this.#releaseAnchor();\n            this.#restarts++;",
      "            this.#restarts++;",
    ),
    bug: "moving to a new anchor keeps (and does not release) the old one",
    promise: README.move,
    runs: [RUNNER, FAST_SUPERVISOR],
  },
  {
    id: "R8",
    file: "src/supervisor/runner.ts",
    edits: one(
      "      this.#setReady(false);\n      await this.#releaseAnchor();",
      "      this.#setReady(false);",
    ),
    bug: "the claim is not released when the workload ends or the launcher stops",
    promise: README.claimRelease,
    runs: [FAST_SUPERVISOR, promises("claim under run")],
  },
  {
    id: "R9",
    file: "src/platform/linux/program.ts",
    edits: one("if (pinned.sha256 !== spec.sha256) {", "if (false) {"),
    bug: "the sha256 digest is not compared",
    promise: README.sha256,
    runs: [{ files: ["tests/linux/program_test.ts"], filter: "digest mismatch" }],
  },
  {
    id: "R10",
    file: "src/supervisor/runner.ts",
    edits: one(
      "const stopWatching = await this.#context.anchor.watch(anchor, lost.resolve);",
      "const stopWatching = async () => {};",
    ),
    bug: "the anchor pod is not watched after the start",
    promise: README.move,
    runs: [FAST_SUPERVISOR],
  },
  {
    id: "R11",
    file: "src/supervisor/runner.ts",
    edits: one('if (!ok && !signal.aborted) unhealthy("liveness probe failed");', ""),
    bug: "a failing liveness probe is ignored",
    promise: README.probes,
    runs: [FAST_SUPERVISOR],
  },
  {
    id: "R12",
    file: "src/supervisor/runner.ts",
    edits: one('if (!ok) return unhealthy("startup probe failed");', ""),
    bug: "a failing startup probe is ignored",
    promise: README.probes,
    runs: [FAST_SUPERVISOR],
  },
  {
    id: "R13",
    file: "src/supervisor/runner.ts",
    edits: one(
      'if (kind === "readiness" && state.healthy !== undefined) this.#setReady(state.healthy);',
      "",
    ),
    bug: "readiness does not follow the readiness probe",
    promise: README.probes,
    runs: [FAST_SUPERVISOR],
  },
  // --- restart decisions (src/supervisor/restart.ts)
  {
    id: "D1",
    file: "src/supervisor/restart.ts",
    edits: one(
      'const failed = outcome.status.code !== 0 || outcome.reason !== "exited";',
      "const failed = outcome.status.code !== 0;",
    ),
    bug: "a workload stopped by a failed probe with exit code 0 counts as succeeded",
    promise: README.restart,
    runs: [RESTART, FAST_SUPERVISOR],
  },
  {
    id: "D2",
    file: "src/supervisor/restart.ts",
    edits: one(
      'settings.policy === "on-failure" && !failed',
      'settings.policy === "on-failure" && failed',
    ),
    bug: "on-failure is inverted",
    promise: README.restart,
    runs: [RESTART, FAST_SUPERVISOR],
  },
  {
    id: "D3",
    file: "src/supervisor/restart.ts",
    edits: one('if (settings.policy === "never" ||', "if (false ||"),
    bug: "policy never restarts",
    promise: README.never,
    runs: [RESTART, FAST_SUPERVISOR],
  },
  {
    id: "D4",
    file: "src/supervisor/restart.ts",
    edits: one("if (!state.started || outcome.permanent) {", "if (outcome.permanent) {"),
    bug: "a first launch that fails is retried instead of failing (exit 4)",
    promise: README.exitCodes,
    runs: [RESTART, FAST_SUPERVISOR],
  },
  {
    id: "D5",
    file: "src/supervisor/restart.ts",
    edits: one("if (outcome.anchorLost !== undefined) {", "if (false) {"),
    bug: "a lost anchor restarts in the old domain instead of moving",
    promise: README.move,
    runs: [RESTART, FAST_SUPERVISOR],
  },
  {
    id: "D6",
    file: "src/supervisor/restart.ts",
    edits: one(
      'decision: { kind: "restart", delayMs: next.delayMs, reason: outcome.reason, counted: true },',
      'decision: { kind: "restart", delayMs: next.delayMs, reason: outcome.reason, counted: false },',
    ),
    bug: "restarts after a run are not counted",
    runs: [RESTART, FAST_SUPERVISOR],
  },
  {
    id: "D7",
    file: "src/supervisor/restart.ts",
    edits: one("      return state.started\n        ? {", "      return false\n        ? {"),
    bug: "an anchor that cannot be found after a move fails the workload instead of waiting",
    runs: [RESTART, FAST_SUPERVISOR],
  },
  // --- backoff (src/supervisor/backoff.ts)
  {
    id: "B1",
    file: "src/supervisor/backoff.ts",
    edits: one(
      "const failures = lastRunMs >= settings.resetAfter ? 0 : state.failures;",
      "const failures = state.failures;",
    ),
    bug: "a long run does not reset the backoff",
    promise: README.backoff,
    runs: [RESTART],
  },
  {
    id: "B2",
    file: "src/supervisor/backoff.ts",
    edits: one(
      "delayMs: Math.min(settings.initial * 2 ** failures, settings.max),",
      "delayMs: settings.initial * 2 ** failures,",
    ),
    bug: "the delay is not capped at max",
    promise: README.backoff,
    runs: [RESTART],
  },
  {
    id: "B3",
    file: "src/supervisor/backoff.ts",
    edits: one(
      "delayMs: Math.min(settings.initial * 2 ** failures, settings.max),",
      "delayMs: Math.min(settings.initial * 2 ** (failures + 1), settings.max),",
    ),
    bug: "the first delay is twice `initial`",
    promise: README.backoff,
    runs: [RESTART],
  },
  {
    id: "B4",
    file: "src/supervisor/backoff.ts",
    edits: one("lastRunMs >= settings.resetAfter", "lastRunMs > settings.resetAfter"),
    bug: "a run of exactly resetAfter does not reset",
    runs: [RESTART],
  },
  {
    id: "B5",
    file: "src/supervisor/backoff.ts",
    edits: one(
      "state: { failures: Math.min(failures + 1, 62) },",
      "state: { failures: failures + 1 },",
    ),
    bug: "the failure count grows without bound (2 ** n overflows to Infinity)",
    runs: [RESTART],
  },
  // --- relay and output (src/supervisor/relay.ts, output.ts)
  {
    id: "L1",
    file: "src/supervisor/relay.ts",
    edits: one("  if (carry.length > 0) await handler.piece(carry, false);", ""),
    bug: "a last line without a newline is dropped",
    promise: README.relay,
    runs: [RELAY, RELAY_BLOCKS, promises("log-format json")],
  },
  {
    id: "L2",
    file: "src/supervisor/relay.ts",
    edits: one(
      "handler.lines(concat(carry, chunk.subarray(0, newline + 1)))",
      "handler.lines(chunk.subarray(0, newline + 1))",
    ),
    bug: "a line split across two reads loses its first part",
    promise: README.relay,
    runs: [RELAY, RELAY_BLOCKS],
  },
  {
    id: "L3",
    file: "src/supervisor/relay.ts",
    edits: one("while (rest.length >= maxLine) {", "while (false) {"),
    bug: "over-long lines are buffered without bound",
    promise: README.relay,
    runs: [RELAY, RELAY_BLOCKS],
  },
  {
    id: "L4",
    file: "src/supervisor/relay.ts",
    edits: one(
      "if (pending) await pending; // only asynchronous handlers cost a turn of the event loop",
      "",
    ),
    bug: "the relay keeps reading while the writer is behind",
    promise: README.backpressure,
    runs: [RELAY],
  },
  {
    id: "L5",
    file: "src/supervisor/relay.ts",
    edits: one("value.length === size && size < BUSY_READ_BYTES", "false"),
    bug: "a chatty child is read in 64 KiB steps however much its pipe holds",
    runs: [RELAY_BLOCKS],
  },
  {
    id: "L6",
    file: "src/supervisor/runner.ts",
    edits: one(
      'const reuseBuffer = typeof this.#context.output !== "function";',
      "const reuseBuffer = true;",
    ),
    bug: "a per-line output function's lines are overwritten by later reads",
    promise: README.relay,
    runs: [FAST_SUPERVISOR],
  },
  {
    id: "L7",
    file: "src/supervisor/line_prefix.ts",
    edits: one("      end = lastNewline + 1;", "      end = lastNewline;"),
    bug: "a large block is cut before a newline: a line loses its end or gets two prefixes",
    promise: README.relay,
    runs: [LINE_PREFIX],
  },
  {
    id: "L8",
    file: "src/platform/linux/launch.ts",
    edits: one("  widenChildOutputPipes(pid);\n", ""),
    bug: "workload output pipes stay at 64 KiB",
    runs: [OUTPUT_PIPES],
  },
  {
    id: "L9",
    file: "src/supervisor/anchors.ts",
    edits: one(
      "onWaiting: () => setTimeout(() => void context.platform.warmUp?.().catch(() => {}), 0),",
      "",
    ),
    bug: "the first scan and spawn are paid after the anchor became ready",
    runs: [FAST_SUPERVISOR],
  },
  {
    id: "L10",
    file: "src/kube/pod_hub.ts",
    edits: one(
      "await shared.watch.stop({ deferAbort: options.later === true });",
      "await shared.watch.stop();",
    ),
    bug: "a resolution waits for its watch request to be aborted before the launch",
    runs: [PICK_UNIT],
  },
  {
    id: "O1",
    file: "src/supervisor/output.ts",
    edits: one(
      "export const MAX_QUEUED_BYTES = 256 * 1024;",
      "export const MAX_QUEUED_BYTES = 1024 * 1024;",
    ),
    bug: "up to 1 MiB per stream waits instead of 256 KiB",
    promise: README.backpressure,
    runs: [OUTPUT],
  },
  {
    id: "O2",
    file: "src/supervisor/output.ts",
    edits: one(
      "return out.add(encoder.encode(`${JSON.stringify(record)}\\n`));",
      'return (stream === "stdout" ? out : err).add(encoder.encode(`${JSON.stringify(record)}\\n`));',
    ),
    bug: "JSON records of stderr lines go to stderr, between the launcher's logs",
    promise: README.json,
    runs: [OUTPUT, promises("log-format json")],
  },
  {
    id: "O3",
    file: "src/supervisor/output.ts",
    edits: one("prefix = encoder.encode(`[${workload}] `)", 'prefix = encoder.encode("")'),
    bug: "text mode loses the `[name] ` prefix",
    promise: README.json,
    runs: [OUTPUT],
  },
  // --- anchors (src/supervisor/anchors.ts)
  {
    id: "A1",
    file: "src/supervisor/anchors.ts",
    edits: one(
      "else if (current.ips.length > 0 && current.ips[0] !== pod.ip) {",
      "else if (false) {",
    ),
    bug: "an anchor pod's new IP is not noticed",
    promise: README.move,
    runs: [FAST_SUPERVISOR, promises("moves to another namespace")],
  },
  {
    id: "A2",
    file: "src/supervisor/anchors.ts",
    edits: one("else if (current.deleting) fire(", "else if (false) fire("),
    bug: "a terminating anchor pod is not noticed",
    promise: README.move,
    runs: [FAST_SUPERVISOR],
  },
  {
    id: "A3",
    file: "src/supervisor/anchors.ts",
    edits: one(
      "    await pod.claim?.release();\n    throw new AnchorError(",
      "    throw new AnchorError(",
    ),
    bug: "a claimed anchor whose IP no namespace holds stays claimed after the launcher gives up",
    promise: README.claimRelease,
    runs: [promises("gives up")],
  },
  // --- Linux launch verification (src/platform/linux/launch.ts)
  {
    id: "V1",
    file: "src/platform/linux/launch.ts",
    edits: one("} else if (childIno !== domain.inode) {", "} else if (false) {"),
    bug: "the child's network namespace is not checked after spawn",
    promise: README.verify,
    runs: [PLACEMENT],
  },
  {
    id: "V2",
    file: "src/platform/linux/launch.ts",
    edits: one(
      '      child.kill("SIGKILL");\n    } catch { /* already gone */ }\n    throw new PlatformError(\n      "placement",',
      '    } catch { /* already gone */ }\n    throw new PlatformError(\n      "placement",',
    ),
    bug: "a misplaced child is reported but left running",
    promise: README.verify,
    runs: [PLACEMENT],
  },
  {
    id: "V3",
    file: "src/platform/linux/launch.ts",
    edits: one("    if (ino !== domain.inode) {", "    if (false) {"),
    bug: "a namespace replaced since it was resolved is entered anyway",
    runs: [launch("inode changed")],
  },
  {
    id: "V4",
    file: "src/platform/linux/launch.ts",
    edits: one(
      '? [setpriv, "--pdeathsig", "KILL", "--", program, ...spec.command.slice(1)]',
      "? [program, ...spec.command.slice(1)]",
    ),
    bug: "no parent-death signal",
    promise: README.orphans,
    runs: [launch("SIGKILL of the launcher")],
  },
  {
    id: "V5",
    file: "src/platform/linux/launch.ts",
    edits: one('        child.kill("SIGTERM");', '        child.kill("SIGKILL");'),
    bug: "the graceful stop sends SIGKILL",
    promise: README.stop,
    runs: [promises("ignores SIGTERM")],
  },
  // --- credentials (src/kube/kubeconfig.ts)
  {
    id: "X1",
    file: "src/kube/kubeconfig.ts",
    edits: one(
      "  const source = findKubeconfig(setting, environment);\n",
      "  const source = findKubeconfig(setting, environment);\n" +
        '  log.debug("credentials: {text}", { text: Deno.readTextFileSync(source.kind === "file" ? source.path : source.tokenPath) });\n',
    ),
    bug: "the kubeconfig (or the service-account token) is logged at debug while loading",
    promise: README.credentials,
    runs: [promises("credentials are never logged")],
  },
  {
    id: "X2",
    file: "src/kube/kubeconfig.ts",
    edits: one(
      'goes without client-node ({server})", {\n      server: direct.access.server,',
      'goes without client-node ({server})", {\n      server: JSON.stringify(direct.access),',
    ),
    bug: "the whole access object (token, client key) is logged instead of the server",
    promise: README.credentials,
    runs: [promises("credentials are never logged")],
  },
  // --- exit codes (src/cli/exit_codes.ts)
  {
    id: "E1",
    file: "src/cli/exit_codes.ts",
    edits: one(
      'if (stages.has("launch")) return EXIT_LAUNCH;',
      'if (stages.has("launch")) return EXIT_INTERNAL;',
    ),
    bug: "a workload that cannot be started exits 1, not 4",
    promise: README.exitCodes,
    runs: [FAST_SUPERVISOR],
  },
  {
    id: "E2",
    file: "src/cli/exit_codes.ts",
    edits: one(
      "if (result.workloads.length === 1) return result.workloads[0].lastExitCode ?? EXIT_OK;",
      "",
    ),
    bug: "a single workload's own exit code is not passed through",
    promise: README.never,
    runs: [FAST_SUPERVISOR],
  },
];

// -------------------------------------------------------------------------------------------

interface Options {
  only?: Set<string>;
  promisesOnly: boolean;
  check: boolean;
  list: boolean;
  baseline: boolean;
  report?: string;
  timeoutMs: number;
}

function parseOptions(args: string[]): Options {
  const options: Options = {
    promisesOnly: false,
    check: false,
    list: false,
    baseline: true,
    timeoutMs: 300_000,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const value = () => {
      const v = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : args[++i];
      if (v === undefined) fail(`${arg} needs a value`);
      return v;
    };
    if (arg.startsWith("--only")) options.only = new Set(value().split(","));
    else if (arg === "--promises") options.promisesOnly = true;
    else if (arg === "--check") options.check = true;
    else if (arg === "--list") options.list = true;
    else if (arg === "--no-baseline") options.baseline = false;
    else if (arg.startsWith("--report")) options.report = value();
    else if (arg.startsWith("--timeout")) options.timeoutMs = Number(value()) * 1000;
    else fail(`unknown argument ${arg} (see the header of scripts/mutate.ts)`);
  }
  return options;
}

function fail(message: string): never {
  console.error(`mutate: ${message}`);
  Deno.exit(2);
}

function occurrences(text: string, search: string): number {
  let count = 0;
  for (let i = text.indexOf(search); i !== -1; i = text.indexOf(search, i + 1)) count++;
  return count;
}

/** Every search string must occur exactly once in the file as it is now. */
function staleEntries(mutants: readonly Mutant[]): string[] {
  const problems: string[] = [];
  const ids = new Set<string>();
  for (const m of mutants) {
    if (ids.has(m.id)) problems.push(`${m.id}: duplicate id`);
    ids.add(m.id);
    let text: string;
    try {
      text = Deno.readTextFileSync(join(ROOT, m.file));
    } catch {
      problems.push(`${m.id}: ${m.file} does not exist`);
      continue;
    }
    for (const edit of m.edits) {
      const n = occurrences(text, edit.search);
      if (n !== 1) {
        problems.push(`${m.id}: ${JSON.stringify(edit.search)} occurs ${n} times in ${m.file}`);
      }
    }
    for (const run of m.runs) {
      for (const file of run.files) {
        try {
          Deno.statSync(join(ROOT, file));
        } catch {
          problems.push(`${m.id}: test file ${file} does not exist`);
        }
      }
    }
  }
  return problems;
}

const EXCLUDED = new Set([".git", "node_modules", "dist", ".kube-test", ".cache"]);

async function makeScratch(): Promise<string> {
  const scratch = await Deno.makeTempDir({ prefix: "cplauncher-mutate-" });
  for (const entry of Deno.readDirSync(ROOT)) {
    if (EXCLUDED.has(entry.name)) continue;
    const copy = await new Deno.Command("cp", {
      args: ["-a", join(ROOT, entry.name), scratch],
      stderr: "piped",
    }).output();
    if (!copy.success) fail(`copying ${entry.name}: ${new TextDecoder().decode(copy.stderr)}`);
  }
  try {
    Deno.statSync(join(ROOT, "node_modules"));
    Deno.symlinkSync(join(ROOT, "node_modules"), join(scratch, "node_modules"));
  } catch { /* no local node_modules: deno resolves npm packages from its cache */ }
  return scratch;
}

interface RunResult {
  readonly passed: boolean;
  readonly timedOut: boolean;
  readonly unparsable: boolean;
  readonly failures: string[];
  readonly output: string;
  readonly ms: number;
}

/** The test run in progress, so an interrupted mutation run can stop it. */
let running: Deno.ChildProcess | undefined;

function killRunning(): void {
  if (!running) return;
  try {
    Deno.kill(-running.pid, "SIGKILL");
  } catch { /* already gone */ }
}

async function runTests(scratch: string, run: TestRun, otherMs: number): Promise<RunResult> {
  const timeoutMs = timeoutFor(run, otherMs);
  const args = ["test", "--allow-all", "--no-check"];
  if (run.filter) args.push("--filter", run.filter);
  args.push(...run.files);
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: scratch,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // Its own process group, so a run that hangs is killed with everything it started.
    detached: true,
  }).spawn();
  running = child;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killRunning();
  }, timeoutMs);
  const [stdout, stderr, status] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.status,
  ]);
  clearTimeout(timer);
  running = undefined;
  const output = `${stdout}\n${stderr}`;
  const failuresAt = output.lastIndexOf(" FAILURES ");
  const failures = failuresAt === -1 ? [] : output.slice(failuresAt).split("\n").slice(1)
    .map((line) => /^(.+?) => /.exec(line)?.[1]).filter((name): name is string => !!name);
  return {
    passed: status.success && !timedOut,
    timedOut,
    unparsable: /The module's source code could not be parsed|SyntaxError/.test(output),
    failures,
    output,
    ms: performance.now() - started,
  };
}

function describeRun(run: TestRun): string {
  return `${run.files.join(" ")}${run.filter ? ` --filter "${run.filter}"` : ""}`;
}

type Verdict = "killed" | "survived" | "invalid";

interface Outcome {
  readonly mutant: Mutant;
  readonly verdict: Verdict;
  readonly detail: string;
  readonly ms: number;
}

async function tryMutant(scratch: string, m: Mutant, timeoutMs: number): Promise<Outcome> {
  const path = join(scratch, m.file);
  const original = await Deno.readTextFile(path);
  let mutated = original;
  for (const edit of m.edits) mutated = mutated.replace(edit.search, () => edit.replace);
  await Deno.writeTextFile(path, mutated);
  const started = performance.now();
  try {
    for (const run of m.runs) {
      const result = await runTests(scratch, run, timeoutMs);
      if (result.unparsable) {
        return {
          mutant: m,
          verdict: "invalid",
          detail: `the mutated file does not parse:\n${result.output.slice(-2000)}`,
          ms: performance.now() - started,
        };
      }
      if (!result.passed) {
        const why = result.timedOut
          ? `timed out after ${timeoutFor(run, timeoutMs) / 1000} s`
          : result.failures.length > 0
          ? result.failures.slice(0, 3).join("; ")
          : "the test run failed";
        return {
          mutant: m,
          verdict: "killed",
          detail: `${run.files.map((f) => f.replace(/^tests\//, "")).join(", ")}: ${why}`,
          ms: performance.now() - started,
        };
      }
    }
    return {
      mutant: m,
      verdict: "survived",
      detail: `passed: ${m.runs.map(describeRun).join("; ")}`,
      ms: performance.now() - started,
    };
  } finally {
    await Deno.writeTextFile(path, original);
  }
}

function markdownReport(outcomes: readonly Outcome[], seconds: number): string {
  const cell = (text: string) => text.replaceAll("|", "\\|").split("\n")[0];
  const rows = outcomes.map((o) =>
    `| ${o.mutant.id} | \`${o.mutant.file.replace(/^src\//, "")}\` | ${cell(o.mutant.bug)} | ${
      o.mutant.promise ? "yes" : ""
    } | ${o.verdict} | ${cell(o.detail.split("; ")[0])} |`
  );
  return [
    `${outcomes.length} mutants, ${Math.round(seconds / 60)} min.`,
    "",
    "| id | file | bug | README | verdict | first failing test |",
    "| -- | ---- | --- | ------ | ------- | ------------------ |",
    ...rows,
    "",
  ].join("\n");
}

async function main(): Promise<number> {
  const options = parseOptions(Deno.args);
  if (options.only) {
    const unknown = [...options.only].filter((id) => !CATALOGUE.some((m) => m.id === id));
    if (unknown.length > 0) fail(`unknown mutant ${unknown.join(", ")}`);
  }
  const selected = CATALOGUE.filter((m) =>
    (!options.only || options.only.has(m.id)) && (!options.promisesOnly || m.promise)
  );
  // --check and --list look at the whole catalogue; a run at the mutants it applies.
  const problems = staleEntries(options.check || options.list ? CATALOGUE : selected);
  if (problems.length > 0) {
    console.error("mutate: the catalogue no longer matches the source:");
    for (const p of problems) console.error(`  ${p}`);
    return 2;
  }
  if (options.list || options.check) {
    if (options.list) {
      for (const m of selected) {
        console.log(
          `${m.id.padEnd(4)} ${m.file.padEnd(30)} ${m.bug}${m.promise ? "  [README]" : ""}`,
        );
      }
    }
    console.log(`${CATALOGUE.length} mutants; every search string occurs exactly once`);
    return 0;
  }
  const started = performance.now();
  const scratch = await makeScratch();
  console.log(`scratch copy: ${scratch}`);
  const interrupted = () => {
    killRunning();
    Deno.removeSync(scratch, { recursive: true });
    console.error("mutate: interrupted");
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", interrupted);
  Deno.addSignalListener("SIGTERM", interrupted);
  try {
    if (options.baseline) {
      const runs = new Map<string, TestRun>();
      for (const m of selected) for (const run of m.runs) runs.set(describeRun(run), run);
      for (const [name, run] of runs) {
        const result = await runTests(scratch, run, options.timeoutMs);
        console.log(
          `baseline ${result.passed ? "ok  " : "FAIL"} ${(result.ms / 1000).toFixed(1)} s  ${name}`,
        );
        if (!result.passed) {
          console.error(result.output.slice(-4000));
          console.error("mutate: the unmutated tests fail; fix them first");
          return 1;
        }
      }
    }
    const outcomes: Outcome[] = [];
    for (const [i, m] of selected.entries()) {
      const outcome = await tryMutant(scratch, m, options.timeoutMs);
      outcomes.push(outcome);
      console.log(
        `[${String(i + 1).padStart(2)}/${selected.length}] ${outcome.verdict.padEnd(8)} ${
          m.id.padEnd(4)
        } ${m.bug} (${(outcome.ms / 1000).toFixed(1)} s) — ${outcome.detail.split("\n")[0]}`,
      );
    }
    const seconds = (performance.now() - started) / 1000;
    const killed = outcomes.filter((o) => o.verdict === "killed").length;
    const survived = outcomes.filter((o) => o.verdict === "survived");
    const invalid = outcomes.filter((o) => o.verdict === "invalid");
    const promiseSurvivors = survived.filter((o) => o.mutant.promise);
    const score = killed / Math.max(1, killed + survived.length);
    console.log("");
    for (const o of survived) {
      console.log(`SURVIVED ${o.mutant.id} ${o.mutant.file}: ${o.mutant.bug}`);
      console.log(`  promise: ${o.mutant.promise ?? "(core)"}`);
      for (const e of o.mutant.edits) {
        console.log(`  - ${JSON.stringify(e.search)}\n  + ${JSON.stringify(e.replace)}`);
      }
    }
    for (const o of invalid) console.log(`INVALID ${o.mutant.id}: ${o.detail}`);
    console.log(
      `\nmutation score ${
        (score * 100).toFixed(1)
      } % (${killed} killed, ${survived.length} survived` +
        `${invalid.length ? `, ${invalid.length} invalid` : ""}); README-promise survivors: ` +
        `${promiseSurvivors.length}; ${Math.round(seconds)} s`,
    );
    if (options.report) {
      await Deno.writeTextFile(options.report, markdownReport(outcomes, seconds));
      console.log(`report: ${options.report}`);
    }
    return promiseSurvivors.length === 0 && invalid.length === 0 && score >= 0.8 ? 0 : 1;
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
}

Deno.exit(await main());
