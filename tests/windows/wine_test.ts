/**
 * Runs tests/windows/wine/ with the real Windows Deno (`@deno/win32-x64`, same version as
 * this deno) under Wine 10 in the trixie root of `scripts/wine_setup.sh`, and asserts on its
 * result. This is what makes a plain `deno test` on Linux cover the FFI bindings, job launch and
 * command-line quoting on a real Win32 implementation.
 *
 * The first run on a fresh machine builds the root (a few minutes); later runs reuse it.
 * What Wine cannot prove (compartments, HCN, Ctrl-Break handlers) is listed in the
 * `SKIPPED-STEP` lines this test prints.
 */
import assert from "node:assert/strict";
import { parseDenoTestSummary, runWineSuite } from "./_wine.ts";

// Tests that must have *run and passed* under Wine (not been ignored): the core claims.
const MUST_PASS = [
  "bindings: kernel32.dll loads with every required symbol",
  "bindings: iphlpapi.dll loads with every required symbol",
  "job: stdout and stderr are captured separately and the exit code propagates",
  "job: the process is in the job from the start and the job lists its pid",
  "job: kill() ends the whole tree, grandchild included",
  "job: closing the job handle (after the child exits) kills what it left behind",
  "job: the command line reaches the child byte-exact and its C runtime reads our argv",
  "job: 4 MiB of output is read completely without blocking the event loop",
  "cmdline: CommandLineToArgvW reads back every generated argv (1,000 runs)",
  "cmdline: backslash/quote runs of every length up to 8 (exhaustive, 1,000+ lists)",
  "resolve: GetUnicastIpAddressTable decodes 127.0.0.1 with DAD state preferred",
  "resolve: GetExtendedTcpTable decodes a listener of this process",
  "listening: GetExtendedTcpTable finds the child's listener by job pid",
  "k2s exec: -wait-tree waits until the job is empty, then gives the program's own code",
  "k2s exec: the program gets COMPARTMENT_ID_ATTACH, and with -self-env COMPARTMENT_ID",
  "k2s exec: the launcher log file goes to %SystemDrive%\\var\\log\\cplauncher",
  "k2s exec: README pure environment mode, -compartment N -self-env -no-inject -- myapp",
  "k2s exec: README dry run, -compartment N -dry-run -dll ... -- myapp starts nothing",
  "program: a held program can be read, but not written, deleted, renamed or replaced",
  "program: a program another process holds open for writing is refused",
  "program: the pinned file is started by its resolved path; a mismatch starts nothing",
  "program: swap race: another program renamed over the pinned one never runs",
  "console: the handler hears CTRL_C_EVENT sent with GenerateConsoleCtrlEvent",
  "console: CTRL_SHUTDOWN_EVENT as hcsshim sends it stops the workload before the handler returns",
  "resolve: listCompartments (cplauncher compartments) decodes each compartment's addresses",
  "relay: the WebAssembly prefix loop runs here and equals the JavaScript loop (300 runs)",
  "relay: a Windows child's 3 MB of stdout comes through a reused buffer whole",
];

const enc = new TextEncoder();
function report(line: string): void {
  Deno.stderr.writeSync(enc.encode(`${line}\n`));
}

Deno.test({
  name: "wine: the Windows deno runs tests/windows/wine/ under Wine 10 and it passes",
  // The suite's own processes are separate; nothing of this process leaks.
  sanitizeResources: false,
  async fn() {
    const r = await runWineSuite();
    const all = `${r.stdout}\n${r.stderr}`;
    const summary = parseDenoTestSummary(all);
    const tail = all.split("\n").slice(-80).join("\n");
    assert.ok(summary, `no deno test summary in the Wine output:\n${tail}`);
    assert.equal(summary.failed, 0, `failures under Wine:\n${tail}`);
    assert.ok(summary.ok && r.code === 0, `exit ${r.code}:\n${tail}`);
    for (const name of MUST_PASS) {
      assert.ok(
        all.includes(`${name} ... ok`),
        `"${name}" did not pass (ignored or missing):\n${tail}`,
      );
    }
    const skipped = [...new Set(all.match(/^SKIPPED-STEP: .*$/gm) ?? [])];
    report(
      `wine: ${summary.passed} passed, ${summary.failed} failed, ${summary.ignored} ignored ` +
        `(setup ${(r.setupMs / 1000).toFixed(1)} s, suite ${(r.ms / 1000).toFixed(1)} s)`,
    );
    for (const s of skipped) report(`wine: ${s}`);
  },
});
