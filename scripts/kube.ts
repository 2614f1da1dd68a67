/**
 * A long-lived local Kubernetes test cluster (etcd + kube-apiserver, no kubelet) in the
 * repo-local folder `.kube-test/`, for manual work and benchmarks.
 *
 *   deno run --allow-all scripts/kube.ts up     # start (idempotent), print the kubeconfig path
 *   deno run --allow-all scripts/kube.ts down   # stop exactly the recorded processes, clean up
 *
 * `up` leaves certs, logs (`.kube-test/logs/`), etcd data and `.kube-test/state.json` (pids
 * with their binaries and start times) behind; `down` signals a recorded pid only while it
 * still runs the recorded binary with the recorded start time.
 *
 * @module
 */

import {
  isSameProcess,
  type RecordedCluster,
  startKubeCluster,
  stopRecordedProcesses,
} from "../tests/support/kube_cluster.ts";

const enc = new TextEncoder();
/** Progress and errors go to stderr; stdout carries only the kubeconfig path. */
const note = (msg: string) => Deno.stderr.writeSync(enc.encode(`kube: ${msg}\n`));
const result = (line: string) => Deno.stdout.writeSync(enc.encode(`${line}\n`));

const DIR = decodeURIComponent(new URL("../.kube-test", import.meta.url).pathname);
const STATE = `${DIR}/state.json`;

async function readState(): Promise<RecordedCluster | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(STATE)) as RecordedCluster;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

async function up(): Promise<void> {
  const state = await readState();
  if (state) {
    const alive = await Promise.all(state.processes.map(isSameProcess));
    if (alive.length > 0 && alive.every(Boolean)) {
      note(`already up at ${state.server}`);
      result(state.adminKubeconfigPath);
      return;
    }
    note("found a half-dead cluster in .kube-test/, cleaning it up");
    await down();
  } else {
    // Leftovers of a run that died before writing state.json: nothing recorded runs there.
    await Deno.remove(DIR, { recursive: true }).catch(() => {});
  }
  const kube = await startKubeCluster({ dir: DIR, removeDir: false, detached: true });
  const recorded: RecordedCluster = {
    server: kube.server,
    adminKubeconfigPath: kube.adminKubeconfigPath,
    processes: await kube.recordProcesses(),
  };
  await Deno.writeTextFile(STATE, JSON.stringify(recorded, null, 2) + "\n");
  kube.release();
  note(`up at ${kube.server} (ready in ${kube.apiserverReadyMs} ms)`);
  note(`kubectl is ${kube.binDir}/kubectl; logs in ${DIR}/logs/`);
  result(kube.adminKubeconfigPath);
}

async function down(): Promise<void> {
  const state = await readState();
  if (!state) {
    note("no .kube-test/state.json; nothing to stop");
  } else {
    const stopped = await stopRecordedProcesses(state.processes);
    note(
      `stopped ${stopped.length ? stopped.join(", ") : "nothing (already gone)"}`,
    );
  }
  await Deno.remove(DIR, { recursive: true }).catch(() => {});
}

const cmd = Deno.args[0];
if (cmd === "up") await up();
else if (cmd === "down") await down();
else {
  Deno.stderr.writeSync(enc.encode("usage: deno run --allow-all scripts/kube.ts up|down\n"));
  Deno.exit(2);
}
