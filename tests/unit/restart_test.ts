/**
 * The restart decision as a table: every outcome kind × policy × first-start state, plus
 * the backoff sequence it produces. Pure functions, no processes.
 */
import assert from "node:assert/strict";
import { INITIAL_BACKOFF, nextBackoff } from "../../src/supervisor/backoff.ts";
import {
  ANCHOR_RETRY_MS,
  type AttemptOutcome,
  decideRestart,
  type RestartDecision,
  type RestartState,
} from "../../src/supervisor/restart.ts";
import type { RestartPolicy } from "../../src/config/mod.ts";

const backoff = { initial: 100, max: 1000, resetAfter: 5000 };
const fresh: RestartState = { started: false, backoff: INITIAL_BACKOFF };
const running: RestartState = { started: true, backoff: INITIAL_BACKOFF };

const ran = (code: number, reason = "exited", runMs = 50, anchorLost?: string): AttemptOutcome => ({
  kind: "ran",
  status: { code, signal: null },
  runMs,
  reason,
  ...(anchorLost ? { anchorLost } : {}),
});

type Expected = RestartDecision["kind"];

// [outcome, policy, state, expected decision kind]
const table: [string, AttemptOutcome, RestartPolicy, RestartState, Expected][] = [];
for (const policy of ["always", "on-failure", "never"] as const) {
  for (const [stateName, state] of [["first", fresh], ["later", running]] as const) {
    const later = stateName === "later";
    table.push(
      [
        `resolve failed (${stateName})`,
        { kind: "resolve-failed", message: "m" },
        policy,
        state,
        later ? "re-resolve" : "fail",
      ],
      [
        `launch failed (${stateName})`,
        { kind: "launch-failed", message: "m", permanent: false },
        policy,
        state,
        later ? "restart" : "fail",
      ],
      [
        `digest refused (${stateName})`,
        { kind: "launch-failed", message: "m", permanent: true },
        policy,
        state,
        "fail",
      ],
      [`exit 0 (${stateName})`, ran(0), policy, state, policy === "always" ? "restart" : "done"],
      [`exit 1 (${stateName})`, ran(1), policy, state, policy === "never" ? "done" : "restart"],
      [
        `stopped unhealthy, exit 0 (${stateName})`,
        ran(0, "liveness probe failed"),
        policy,
        state,
        policy === "never" ? "done" : "restart",
      ],
      [
        `anchor lost (${stateName})`,
        ran(143, "anchor pod a was deleted", 50, "anchor pod a was deleted"),
        policy,
        state,
        "move",
      ],
      // Whatever the policy and however far the workload got: the launcher cannot be trusted.
      [
        `launcher stranded (${stateName})`,
        { kind: "stranded", message: "could not return the launcher's thread" },
        policy,
        state,
        "halt",
      ],
    );
  }
}

for (const [name, outcome, policy, state, expected] of table) {
  Deno.test(`restart decision: ${name}, policy ${policy} → ${expected}`, () => {
    const { decision, state: after } = decideRestart(outcome, { policy, backoff }, state);
    assert.equal(decision.kind, expected);
    if (outcome.kind === "ran") {
      assert.equal(after.started, true, "a run marks the workload started");
    } else assert.equal(after.started, state.started);
    if (decision.kind === "fail") {
      assert.equal(decision.stage, outcome.kind === "resolve-failed" ? "resolve" : "launch");
    }
    if (decision.kind === "restart") {
      assert.equal(decision.delayMs, 100, "first restart waits `initial`");
      assert.equal(decision.counted, outcome.kind === "ran", "only real runs count as restarts");
      assert.equal(after.backoff.failures, 1);
    }
    if (decision.kind === "re-resolve") assert.equal(decision.delayMs, ANCHOR_RETRY_MS);
    if (decision.kind === "halt") {
      assert.equal(decision.message, "could not return the launcher's thread");
    }
    if (decision.kind !== "restart") {
      assert.deepEqual(after.backoff, state.backoff, "no backoff consumed without a restart");
    }
  });
}

Deno.test("restart decision: consecutive crashes double the delay up to max; a long run resets it", () => {
  let state = running;
  const delays: number[] = [];
  for (let i = 0; i < 6; i++) {
    const next = decideRestart(ran(1), { policy: "always", backoff }, state);
    assert.equal(next.decision.kind, "restart");
    if (next.decision.kind === "restart") delays.push(next.decision.delayMs);
    state = next.state;
  }
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
  const afterLongRun = decideRestart(ran(1, "exited", 5000), { policy: "always", backoff }, state);
  assert.equal(afterLongRun.decision.kind === "restart" && afterLongRun.decision.delayMs, 100);
});

Deno.test("restart decision: launch failures after the first start back off like crashes", () => {
  let state = running;
  const delays: number[] = [];
  for (let i = 0; i < 3; i++) {
    const next = decideRestart(
      { kind: "launch-failed", message: "gone", permanent: false },
      { policy: "on-failure", backoff },
      state,
    );
    if (next.decision.kind === "restart") delays.push(next.decision.delayMs);
    state = next.state;
  }
  assert.deepEqual(delays, [100, 200, 400]);
});

Deno.test("backoff: never overflows however long a workload crash-loops", () => {
  let state = INITIAL_BACKOFF;
  let delay = 0;
  for (let i = 0; i < 10_000; i++) ({ delayMs: delay, state } = nextBackoff(backoff, state, 0));
  assert.equal(delay, 1000);
  assert.ok(Number.isFinite(2 ** state.failures));
});
