/**
 * A long-lived single-node Kubernetes cluster on this machine (see tests/support/node.ts),
 * for manual work:
 *
 *   deno task node:up     # start it (idempotent); prints the admin kubeconfig path
 *   deno task node:down   # delete its pods, stop it, undo every host change
 *
 * `down DIR` stops the node only if it is the one working in DIR (what a test run that could
 * not stop its node starts on exit, so that it never stops a node started after it).
 *
 * `up` keeps its files in a temp folder (it names the logs folder) and records the node in
 * `/run/cplauncher-node.json`; `down` reads that record, so it also cleans up after a test
 * run that died without tearing its node down. Needs root.
 *
 * @module
 */
import {
  isRecordedNodeRunning,
  readRecord,
  startNode,
  stopRecordedNode,
} from "../tests/support/node.ts";

const enc = new TextEncoder();
/** Progress and errors go to stderr; stdout carries only the kubeconfig path. */
const note = (msg: string) => Deno.stderr.writeSync(enc.encode(`node: ${msg}\n`));
const result = (line: string) => Deno.stdout.writeSync(enc.encode(`${line}\n`));

async function up(): Promise<number> {
  const existing = await readRecord();
  if (existing && existing.owner === null && await isRecordedNodeRunning(existing)) {
    note(`already up at ${existing.server}`);
    result(existing.adminKubeconfigPath);
    return 0;
  }
  const node = await startNode({ detached: true, progress: note });
  node.release();
  const t = node.timings;
  note(
    `up in ${(t.totalMs / 1000).toFixed(1)} s (node Ready ${
      (t.nodeReadyMs / 1000).toFixed(1)
    } s after the kubelet started); logs in ${node.dir}/logs/`,
  );
  note(`kubectl: ${node.kubectlPath} --kubeconfig ${node.adminKubeconfigPath}`);
  result(node.adminKubeconfigPath);
  return 0;
}

async function down(onlyDir?: string): Promise<number> {
  const left = await stopRecordedNode(note, onlyDir);
  if (left === undefined) {
    note("no node recorded in /run/cplauncher-node.json; nothing to stop");
    return 0;
  }
  if (left.length > 0) {
    note(`host state differs from before the node started:\n  ${left.join("\n  ")}`);
    return 1;
  }
  note("stopped; host state is as before the node started");
  return 0;
}

const command = Deno.args[0];
if (command !== "up" && command !== "down") {
  note("usage: deno run --allow-all scripts/node_ctl.ts up | down [DIR]");
  Deno.exit(2);
}
try {
  Deno.exit(command === "up" ? await up() : await down(Deno.args[1]));
} catch (error) {
  note(`${command} failed: ${error instanceof Error ? error.message : error}`);
  Deno.exit(1);
}
