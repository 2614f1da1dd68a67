// deno-lint-ignore-file no-console -- an example script: its output is for people
/**
 * Launch one workload of a config in its anchor and stream its output, with the
 * supervisor's life-cycle events interleaved. Ctrl-C (SIGINT) or SIGTERM stops it
 * gracefully; the script then exits like `cplauncher run` would (the workload's own exit
 * code for a single workload that is not restarted).
 *
 *   sudo deno run --allow-all examples/scripts/stream_logs.ts -c examples/static-netns.yaml albums
 *
 * Output lines are `[workload stdout] …` / `[workload stderr] …`; events are `# …`.
 *
 * @module
 */
import {
  ConfigError,
  createPlatform,
  formatIssue,
  loadConfig,
  setupLogging,
  Supervisor,
} from "../../mod.ts";

const args = [...Deno.args];
const at = args.indexOf("-c");
if (at === -1 || args.length !== 3) {
  console.error("usage: stream_logs.ts -c CONFIG WORKLOAD");
  Deno.exit(2);
}
const [configPath] = args.splice(at, 2).slice(1);
const workload = args[0];

await setupLogging({ level: "warning" });
let config;
try {
  config = await loadConfig(configPath);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  for (const issue of error.issues) console.error(formatIssue(issue));
  Deno.exit(2);
}
if (!Object.hasOwn(config.workloads, workload)) {
  console.error(`no workload "${workload}" (have: ${Object.keys(config.workloads).join(", ")})`);
  Deno.exit(2);
}

const decoder = new TextDecoder();
const supervisor = new Supervisor({
  config,
  platform: await createPlatform(),
  workloads: [workload],
  // Called in order for each complete line of the child's stdout and stderr.
  output: ({ workload, stream, line }) =>
    console.log(`[${workload} ${stream}] ${decoder.decode(line)}`),
});

supervisor.on("resolved", ({ workload, anchor }) => {
  const where = anchor.domain.kind === "netns"
    ? `netns ${anchor.domain.path} (inode ${anchor.domain.inode})`
    : `compartment ${anchor.domain.id}`;
  console.log(
    `# ${workload}: anchor ${anchor.name} is ${where}${anchor.ip ? ` at ${anchor.ip}` : ""}`,
  );
});
supervisor.on("started", ({ workload, pid }) => console.log(`# ${workload}: started, pid ${pid}`));
supervisor.on("ready", ({ workload, ready }) => console.log(`# ${workload}: ready=${ready}`));
supervisor.on(
  "exited",
  ({ workload, status, reason }) =>
    console.log(`# ${workload}: exited with code ${status.code} (${reason})`),
);
supervisor.on(
  "restarting",
  ({ workload, delayMs, reason }) =>
    console.log(`# ${workload}: restarting in ${delayMs} ms (${reason})`),
);
supervisor.on(
  "failed",
  ({ workload, stage, message }) => console.log(`# ${workload}: failed to ${stage}: ${message}`),
);

const stop = () => void supervisor.stop();
const signals: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT", "SIGBREAK"]
  : ["SIGINT", "SIGTERM"];
for (const signal of signals) Deno.addSignalListener(signal, stop);
const result = await supervisor.start();
for (const signal of signals) Deno.removeSignalListener(signal, stop);
// Like the CLI: 3 when an anchor failed, 4 when a program could not start, 0 when stopped,
// else the workload's own exit code (1 for several workloads when one of them failed).
const stages = result.workloads.map((w) => w.failedStage);
const codes = result.workloads.map((w) => w.lastExitCode ?? 0);
Deno.exit(
  stages.includes("resolve")
    ? 3
    : stages.includes("launch")
    ? 4
    : result.stopped
    ? 0
    : codes.length === 1
    ? codes[0]
    : codes.some((c) => c !== 0)
    ? 1
    : 0,
);
