/**
 * Stopping gracefully when Windows (or kubelet, through hcsshim) asks the launcher to stop: a
 * console control handler registered with `SetConsoleCtrlHandler`.
 *
 * How a HostProcess pod is stopped: kubelet's StopContainer reaches hcsshim as SIGTERM, which
 * it maps to `CTRL_SHUTDOWN_EVENT` (internal/signals/signal.go) and delivers to the container's
 * init process by starting a thread at `kernel32!CtrlRoutine` inside it
 * (internal/jobcontainers/process.go, `signalProcess`). When the init process has exited,
 * hcsshim sends `CTRL_SHUTDOWN_EVENT` the same way to every process left in the container's
 * job and terminates the job 5 seconds later (internal/jobcontainers/jobcontainer.go,
 * `Shutdown`). Without a handler, the default one ends the launcher at once; its job handles
 * close and kill-on-close kills the workloads: no `stopTimeout`, no Ctrl-Break.
 *
 * Windows calls a handler on a thread of its own and ends the process once a handler returns
 * TRUE for `CTRL_CLOSE_EVENT` or `CTRL_SHUTDOWN_EVENT`. The handler is a
 * `Deno.UnsafeCallback.threadSafe`: its foreign thread waits until the callback has run on the
 * JS thread and receives its return value (established with a C library in
 * tests/windows/threadsafe_callback_test.ts). So for those two events the callback stops the
 * workloads *synchronously* before it returns — Ctrl-Break, `WaitForMultipleObjects` on their
 * processes up to the stop budget, `TerminateJobObject` for what remains — after starting the
 * supervisor's own stop, which finishes the bookkeeping if the process is not ended. For
 * `CTRL_C_EVENT`/`CTRL_BREAK_EVENT` it starts the supervisor's graceful stop and returns.
 * `CTRL_LOGOFF_EVENT` is ignored, as services do: a user logging off is no reason to stop.
 *
 * The native handler is registered once per process and never removed: a handler thread that
 * is waiting for the JS thread holds the console's handler lock, so unregistering from the JS
 * thread at that moment would deadlock. {@linkcode handleConsoleControl} only swaps the
 * JavaScript target; with none, the handler passes every event on (returns FALSE), which is
 * what an unhandled process does.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { kernel32, lastError } from "./kernel32.ts";
import { stopWorkloadsNow } from "./launch.ts";
import { W } from "./structs.ts";

const log = getLogger(["cplauncher", "windows"]);

/**
 * The longest the launcher waits for workloads after `CTRL_SHUTDOWN_EVENT` or
 * `CTRL_CLOSE_EVENT` before ending their jobs. hcsshim terminates a HostProcess container's
 * job 5 s after it has sent `CTRL_SHUTDOWN_EVENT` to the processes left in it
 * (`JobContainer.Shutdown` in internal/jobcontainers/jobcontainer.go); 4 s leaves the last
 * second for `TerminateJobObject`, clearing the compartments and exiting.
 */
export const SHUTDOWN_STOP_BUDGET_MS = 4000;

/** Names of the console control events (wincon.h), by value. */
export const CONSOLE_EVENT_NAMES: Readonly<Record<number, string>> = {
  [W.CTRL_C_EVENT]: "CTRL_C_EVENT",
  [W.CTRL_BREAK_EVENT]: "CTRL_BREAK_EVENT",
  [W.CTRL_CLOSE_EVENT]: "CTRL_CLOSE_EVENT",
  [W.CTRL_LOGOFF_EVENT]: "CTRL_LOGOFF_EVENT",
  [W.CTRL_SHUTDOWN_EVENT]: "CTRL_SHUTDOWN_EVENT",
};

/** What the handler does with an event. */
export type ConsoleAction =
  /** Start the graceful stop and return TRUE (the process keeps running until it is done). */
  | "graceful"
  /** Start the graceful stop, stop the workloads before returning TRUE (the process ends). */
  | "stop-now"
  /** Return TRUE without doing anything. */
  | "ignore"
  /** Return FALSE: the next handler, finally the default one, decides. */
  | "pass";

/** The handler's decision for `event`, given whether the launcher is supervising workloads. */
export function consoleAction(event: number, supervising: boolean): ConsoleAction {
  if (!supervising) return "pass";
  switch (event) {
    case W.CTRL_C_EVENT:
    case W.CTRL_BREAK_EVENT:
      return "graceful";
    case W.CTRL_CLOSE_EVENT:
    case W.CTRL_SHUTDOWN_EVENT:
      return "stop-now";
    case W.CTRL_LOGOFF_EVENT:
      return "ignore";
    default:
      return "pass";
  }
}

/**
 * The budget for stopping workloads inside the handler: the longest `stopTimeout` of the
 * workloads, but never more than {@linkcode SHUTDOWN_STOP_BUDGET_MS}.
 */
export function shutdownBudget(stopTimeoutsMs: readonly number[]): number {
  return Math.min(Math.max(0, ...stopTimeoutsMs), SHUTDOWN_STOP_BUDGET_MS);
}

/** What the launcher wants done on a console control event. */
export interface ConsoleStopTarget {
  /** Start the supervisor's graceful stop; must not block (it is called on the JS thread). */
  readonly stop: (event: string) => void;
  /** How long `CTRL_CLOSE_EVENT`/`CTRL_SHUTDOWN_EVENT` wait for the workloads (ms). */
  readonly budgetMs: number;
}

const HANDLER = { parameters: ["u32"], result: "i32" } as const;

let target: ConsoleStopTarget | undefined;
let callback: Deno.UnsafeCallback<typeof HANDLER> | undefined;

function onEvent(event: number): number {
  const name = CONSOLE_EVENT_NAMES[event] ?? `console event ${event}`;
  const current = target;
  const action = consoleAction(event, current !== undefined);
  // Nothing may escape into the foreign thread: an exception here would be lost there.
  try {
    switch (action) {
      case "pass":
        return 0;
      case "ignore":
        log.info(
          "{event}: ignored (the launcher stops on CTRL_C, CTRL_BREAK, CTRL_CLOSE, " +
            "CTRL_SHUTDOWN)",
          { event: name },
        );
        return 1;
      case "graceful":
        log.info("{event}: stopping the workloads", { event: name });
        current!.stop(name);
        return 1;
      case "stop-now": {
        const budgetMs = current!.budgetMs;
        log.warn(
          "{event}: stopping the workloads before the process is ended (up to {budget} ms)",
          { event: name, budget: budgetMs },
        );
        current!.stop(name);
        const started = performance.now();
        const result = stopWorkloadsNow(budgetMs);
        log.info(
          "{event}: {workloads} workload(s): {exited} ended within {ms} ms, {terminated} " +
            "job(s) terminated, {remaining} process(es) still running",
          { event: name, ...result, ms: Math.round(performance.now() - started) },
        );
        return 1;
      }
    }
  } catch (e) {
    log.error("console control handler: {error}", { error: String(e) });
    return 1;
  }
}

/**
 * Route console control events to `stopTarget` until the returned function is called (see the
 * module doc for what each event does). Registers the native handler on first use.
 *
 * @throws {WindowsError} when `SetConsoleCtrlHandler` fails
 */
export function handleConsoleControl(stopTarget: ConsoleStopTarget): () => void {
  if (callback === undefined) {
    const cb = Deno.UnsafeCallback.threadSafe(HANDLER, onEvent);
    // Never keep a finished launcher alive for the handler's sake.
    cb.unref();
    if (kernel32().SetConsoleCtrlHandler(cb.pointer, 1) === 0) {
      const err = lastError("SetConsoleCtrlHandler");
      cb.close();
      throw err;
    }
    callback = cb;
    // A process started with CREATE_NEW_PROCESS_GROUP (by a service manager, by another
    // launcher, or as the self-test's probe) inherits "ignore CTRL_C"; the launcher wants it.
    // (Wine skips every handler of such a process, for every event, until this is done.)
    if (kernel32().SetConsoleCtrlHandler(null, 0) === 0) {
      log.debug("SetConsoleCtrlHandler(NULL, FALSE): {error}", {
        error: lastError("SetConsoleCtrlHandler").message,
      });
    }
  }
  target = stopTarget;
  return () => {
    if (target === stopTarget) target = undefined;
  };
}
