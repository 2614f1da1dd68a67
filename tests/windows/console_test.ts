/**
 * Linux unit tests of the pure parts of the Windows stop path and self-test: what the console
 * control handler does per event, the stop budget it may use, and how self-test answers
 * become a verdict.
 */
import assert from "node:assert/strict";
import {
  CONSOLE_EVENT_NAMES,
  consoleAction,
  SHUTDOWN_STOP_BUDGET_MS,
  shutdownBudget,
} from "../../src/platform/windows/console.ts";
import {
  type Answer,
  CHECK,
  parseProbeReport,
  type SelfTestCheck,
  verdict,
} from "../../src/platform/windows/selftest.ts";
import { W } from "../../src/platform/windows/structs.ts";

Deno.test("console: each event's action while supervising, and none without", () => {
  const table: [number, string][] = [
    [W.CTRL_C_EVENT, "graceful"],
    [W.CTRL_BREAK_EVENT, "graceful"],
    [W.CTRL_CLOSE_EVENT, "stop-now"],
    [W.CTRL_SHUTDOWN_EVENT, "stop-now"],
    [W.CTRL_LOGOFF_EVENT, "ignore"],
    [3, "pass"], // not a console control event
  ];
  for (const [event, action] of table) {
    assert.equal(consoleAction(event, true), action, CONSOLE_EVENT_NAMES[event] ?? String(event));
    assert.equal(consoleAction(event, false), "pass", "without a supervisor nothing is handled");
  }
});

Deno.test("console: the shutdown budget is the longest stopTimeout, capped inside hcsshim's 5 s", () => {
  assert.ok(SHUTDOWN_STOP_BUDGET_MS < 5000);
  assert.equal(shutdownBudget([1000, 2500]), 2500);
  assert.equal(shutdownBudget([10_000]), SHUTDOWN_STOP_BUDGET_MS);
  assert.equal(shutdownBudget([]), 0);
});

function checks(answers: Record<string, Answer>): SelfTestCheck[] {
  return Object.entries(answers).map(([id, answer]) => ({
    id,
    question: id,
    answer,
    evidence: [],
  }));
}

Deno.test("selftest: a strategy is sound only when its own check says yes", () => {
  const allYes = checks({ [CHECK.job]: "yes", [CHECK.compartmentApi]: "yes" });
  assert.deepEqual(
    [verdict(allYes, "job").sound, verdict(allYes, "job").recommended],
    [true, "job"],
  );
  const selfOnly = checks({ [CHECK.job]: "no", [CHECK.compartmentApi]: "yes" });
  assert.equal(verdict(selfOnly, "job").sound, false);
  assert.equal(verdict(selfOnly, "job").recommended, "self");
  assert.match(verdict(selfOnly, "job").why, /"job-listens-in-compartment" is no/);
  assert.equal(verdict(selfOnly, "self").sound, true);
  // Wine: stubbed calls are unknown, and unknown is never sound.
  const wine = checks({ [CHECK.job]: "unknown", [CHECK.compartmentApi]: "unknown" });
  assert.equal(verdict(wine, "job").sound, false);
  assert.equal(verdict(wine, "self").sound, false);
  assert.equal(verdict(wine, "job").recommended, null);
  assert.equal(verdict([], "job").sound, false);
});

Deno.test("selftest: the probe's report is its first JSON line", () => {
  assert.deepEqual(
    parseProbeReport('INFO noise\n{"pid":7,"compartment":3,"port":4242}\n{"event":"x"}\n'),
    { pid: 7, compartment: 3, port: 4242 },
  );
  assert.equal(parseProbeReport('{"event":"CTRL_C_EVENT"}\n'), null);
  assert.equal(parseProbeReport("not json\n"), null);
  assert.equal(parseProbeReport("{broken\n"), null);
});
