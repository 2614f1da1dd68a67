/**
 * A project of someone else's, in a temporary folder outside the repository, that uses
 * cplauncher as a library: one script that parses a config from a string, runs a
 * `Supervisor` with a static netns anchor whose workload (the albums demo) serves HTTP inside
 * that namespace, reports the typed events it receives as JSON lines, fetches from the
 * workload once it is ready and stops it. The three ways of depending on cplauncher differ
 * only in the import specifier and in what lies next to the script.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../../scripts/bundle.ts";
import type { TestHost, TestNetwork } from "../support/netns.ts";

/** The consumer's script, importing cplauncher from `specifier`. */
export function consumerScript(specifier: string): string {
  return `// deno-lint-ignore-file no-console
import {
  createPlatform,
  formatIssue,
  parseConfig,
  Supervisor,
  type SupervisorEvents,
  type WorkloadStatus,
} from ${JSON.stringify(specifier)};

const [netns, ip, port, albums] = Deno.args;
const report = (line: Record<string, unknown>) => console.log(JSON.stringify(line));

const text = [
  "apiVersion: cplauncher/v1",
  "anchors:",
  \`  lab: { netns: \${netns} }\`,
  "workloads:",
  "  albums:",
  "    anchor: lab",
  \`    command: [\${JSON.stringify(Deno.execPath())}, run, --allow-net, --allow-env=PORT, \${JSON.stringify(albums)}, --port, "\${port}"]\`,
  \`    port: \${port}\`,
  "    restart: { policy: never }",
].join("\\n");
const parsed = parseConfig(text, "<consumer>");
if (!parsed.ok) {
  for (const issue of parsed.issues) console.error(formatIssue(issue));
  Deno.exit(2);
}

const decoder = new TextDecoder();
const supervisor = new Supervisor({
  config: parsed.config,
  platform: await createPlatform(),
  output: ({ workload, line }) => report({ output: workload, line: decoder.decode(line) }),
});
const onStarted = ({ workload, pid, anchor }: SupervisorEvents["started"]) =>
  report({
    event: "started",
    workload,
    anchorInode: anchor.domain.kind === "netns" ? anchor.domain.inode : null,
    childInode: Deno.statSync(\`/proc/\${pid}/ns/net\`).ino,
  });
supervisor.on("started", onStarted);
supervisor.on("ready", async ({ workload, ready }) => {
  report({ event: "ready", workload, ready });
  if (!ready) return;
  const response = await fetch(\`http://\${ip}:\${port}/albums\`);
  const body: unknown[] = await response.json();
  report({ event: "http", status: response.status, albums: body.length });
  await supervisor.stop();
});
supervisor.on("exited", ({ workload, reason }) => report({ event: "exited", workload, reason }));
supervisor.on("failed", ({ workload, stage, message }) =>
  report({ event: "failed", workload, stage, message })
);
const result = await supervisor.start();
const states: WorkloadStatus["state"][] = result.workloads.map((w) => w.state);
report({ event: "result", stopped: result.stopped, states });
`;
}

/** One JSON line of the consumer's output. */
export type Report = Record<string, unknown>;

/** Runs `deno ARGS` in `cwd`; throws with its output when it fails. */
export async function denoIn(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  if (!output.success) {
    throw new Error(
      `deno ${args.join(" ")} in ${cwd} exited ${output.code}:\n${stderr}\n${stdout}`,
    );
  }
  return { stdout, stderr };
}

/** A fresh folder outside the repository, removed by the returned function. */
export async function outsideRepository(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  assert.ok(!(await Deno.realPath(dir)).startsWith(await Deno.realPath(ROOT)), "outside the repo");
  return dir;
}

/**
 * Type-checks the consumer's `script.ts` (`deno check`, so the public types are used as
 * declared), runs it with the namespace of `host` as its static anchor, and asserts what a
 * user would expect: the workload ran in that namespace, answered HTTP on the namespace's
 * address, and the supervisor stopped it cleanly.
 */
export async function checkAndRunConsumer(
  dir: string,
  network: TestNetwork,
  host: TestHost,
  env: Record<string, string> = {},
): Promise<Report[]> {
  await denoIn(dir, ["check", "script.ts"], env);
  const port = String(18_000 + Math.floor(Math.random() * 1000));
  const { stdout } = await denoIn(
    dir,
    [
      "run",
      "--allow-all",
      "script.ts",
      host.path,
      host.ip,
      port,
      join(ROOT, "examples/albums/main.ts"),
    ],
    env,
  );
  const reports = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) =>
    JSON.parse(l) as Report
  );
  const events = reports.filter((r) => "event" in r);
  const started = events.find((r) => r.event === "started");
  assert.ok(started, `a started event:\n${stdout}`);
  assert.equal(started.anchorInode, Deno.statSync(host.path).ino, "resolved the static netns");
  assert.equal(started.childInode, started.anchorInode, "the workload runs in the netns");
  assert.deepEqual(events.find((r) => r.event === "ready"), {
    event: "ready",
    workload: "albums",
    ready: true,
  });
  const http = events.find((r) => r.event === "http");
  assert.equal(http?.status, 200, stdout);
  assert.ok(Number(http?.albums) > 0, "albums listed");
  assert.ok(
    reports.some((r) => r.output === "albums" && String(r.line).includes("listening")),
    "the workload's output was relayed",
  );
  assert.equal(events.at(-1)?.event, "result");
  assert.deepEqual(events.at(-1), { event: "result", stopped: true, states: ["done"] });
  const left = await network.exec(host, "sh", ["-c", "ss -Hltn"]);
  assert.equal(left.stdout.trim(), "", "nothing listens in the netns after the stop");
  return reports;
}
