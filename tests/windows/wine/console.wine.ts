/**
 * The launcher's console control handler under a real Windows deno (Wine in CI): registered
 * with SetConsoleCtrlHandler, called for GenerateConsoleCtrlEvent, and — for
 * CTRL_SHUTDOWN_EVENT delivered the way hcsshim does (a thread at kernel32!CtrlRoutine in the
 * launcher) — stopping the workload before the handler returns.
 *
 * Not shown here: that Windows ends the process once the handler has returned TRUE (Wine lets
 * it run on; the launcher then finishes its own stop), nor the timing of a real kubelet stop.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { handleConsoleControl } from "../../../src/platform/windows/console.ts";
import { kernel32 } from "../../../src/platform/windows/kernel32.ts";
import { iphlpapi } from "../../../src/platform/windows/iphlpapi.ts";
import { spawnInJob } from "../../../src/platform/windows/launch.ts";
import { W } from "../../../src/platform/windows/structs.ts";
import { consoleProcessCount } from "./test_bindings.ts";
import {
  HELPER,
  ON_WINDOWS,
  readText,
  running,
  skippedStep,
  WINE_VERSION,
  within,
} from "./_util.ts";

const T = { ignore: !ON_WINDOWS, sanitizeResources: false, sanitizeOps: false } as const;
if (ON_WINDOWS) {
  kernel32();
  iphlpapi();
}
const HAS_CONSOLE = ON_WINDOWS && consoleProcessCount() > 0;
const REPO = new URL("../../../", import.meta.url);

Deno.test({
  ...T,
  ignore: !HAS_CONSOLE,
  name: "console: the handler hears CTRL_C_EVENT sent with GenerateConsoleCtrlEvent",
  async fn() {
    const events: string[] = [];
    const stopHandling = handleConsoleControl({
      stop: (event) => events.push(event),
      budgetMs: 0,
    });
    try {
      assert.notEqual(kernel32().GenerateConsoleCtrlEvent(W.CTRL_C_EVENT, 0), 0);
      const deadline = performance.now() + 10_000;
      while (events.length === 0 && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.deepEqual(events, ["CTRL_C_EVENT"]);
    } finally {
      stopHandling();
    }
  },
});

/** A config with one workload in compartment 1, written where the Windows deno can read it. */
async function staticConfig(command: string[], stopTimeout: string): Promise<string> {
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      apiVersion: "cplauncher/v1",
      anchors: { host: { compartment: 1 } },
      workloads: {
        sleeper: {
          anchor: "host",
          command,
          stopTimeout,
          restart: { policy: "always" },
          // Wine has no SetJobCompartmentId: the job carries no compartment.
          windows: { strategy: "self" },
        },
      },
    }),
  );
  return file;
}

Deno.test({
  ...T,
  name:
    "console: CTRL_SHUTDOWN_EVENT as hcsshim sends it stops the workload before the handler returns",
  async fn() {
    const config = await staticConfig([HELPER, "sleep", "600000"], "3s");
    const launcher = spawnInJob({
      name: "launcher",
      argv: [
        Deno.execPath(),
        "run",
        "--node-modules-dir=none",
        "--cached-only",
        "-P=launcher",
        "--config",
        fileURLToPath(new URL("deno.json", REPO)),
        fileURLToPath(new URL("src/main.ts", REPO)),
        "run",
        "-c",
        config,
      ],
      env: Deno.env.toObject(),
      strategy: "job",
    });
    let log = "";
    const logs = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of launcher.stderr) log += decoder.decode(chunk, { stream: true });
    })();
    const stdout = readText(launcher.stdout);
    try {
      const deadline = performance.now() + 60_000;
      while (!/started: pid (\d+)/.test(log) && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const workload = Number(/started: pid (\d+)/.exec(log)?.[1]);
      assert.ok(workload > 0, `the workload never started:\n${log}`);
      assert.ok(running(workload));
      assert.equal(launcher.startCtrlRoutine(W.CTRL_SHUTDOWN_EVENT), null);
      const status = await within(launcher.status, 60_000, "launcher exit after CTRL_SHUTDOWN")
        .catch((e) => {
          throw new Error(`${e.message}; its log:\n${log}`);
        });
      await Promise.all([logs, stdout]);
      assert.match(log, /CTRL_SHUTDOWN_EVENT: stopping the workloads before the process is ended/);
      // Printed by the handler after its synchronous stop, before it returned.
      const summary =
        /CTRL_SHUTDOWN_EVENT: 1 workload\(s\): (\d) ended within \d+ ms, (\d) job\(s\) terminated, (\d) process\(es\) still running/
          .exec(log);
      assert.ok(summary, `no stop summary in the launcher's log:\n${log}`);
      assert.equal(
        Number(summary[1]) + Number(summary[2]),
        1,
        "the workload ended or was terminated",
      );
      assert.equal(summary[3], "0", "nothing of the workload was left running");
      assert.equal(running(workload), false);
      // After the handler the supervisor does not restart the stopped workload.
      assert.equal(log.match(/started: pid/g)?.length, 1, `restarted after the stop:\n${log}`);
      assert.equal(status.code, 0, `launcher exit code:\n${log}`);
      if (WINE_VERSION) {
        skippedStep(
          "Windows ends the launcher once its CTRL_SHUTDOWN handler returns",
          `Wine ${WINE_VERSION} lets it run on; the launcher then finished its own stop (exit 0)`,
        );
      }
    } finally {
      launcher.kill();
      await Deno.remove(config);
    }
  },
});
