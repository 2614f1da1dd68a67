/**
 * The k2s albums scenario with real parts, on one machine: a real
 * kube-apiserver holds anchor Pods whose status carries the IPs of network namespaces made
 * here; a second namespace plays the curl client pod; `cplauncher run` resolves the anchors
 * by label and starts the albums service inside them. Used by the e2e tests and by
 * `deno task demo`.
 *
 * @module
 */
import { join } from "node:path";
import { stringify } from "yaml";
import { type KubeCluster, startKubeCluster } from "./kube_cluster.ts";
import { createTestNetwork, type TestHost, type TestNetwork } from "./netns.ts";
import { collectOutput, type LauncherProcess } from "./process_output.ts";

export type { LauncherProcess } from "./process_output.ts";

/** Repository root. */
export const ROOT = new URL("../../", import.meta.url).pathname;

/** One anchor: a Pod object in the API and the namespace that really holds its IP. */
export interface ScenarioAnchor {
  readonly pod: string;
  readonly host: TestHost;
}

/** Everything the scenario made; `stop()` removes it all. */
export interface AlbumsScenario {
  readonly cluster: KubeCluster;
  readonly network: TestNetwork;
  /** Kubernetes namespace of the anchor pods. */
  readonly namespace: string;
  readonly anchors: ScenarioAnchor[];
  readonly client: TestHost;
  /** Scratch folder (configs, logs). */
  readonly dir: string;
  /** Creates one more anchor pod + namespace (not Ready until `ready` is true). */
  addAnchor(
    name: string,
    options?: { ready?: boolean; labels?: Record<string, string> },
  ): Promise<ScenarioAnchor>;
  /** Writes a config file and returns its path. */
  writeConfig(name: string, config: Record<string, unknown>): Promise<string>;
  /** `curl` from the client namespace: HTTP status (0 when unreachable) and body. */
  curl(url: string, timeoutSeconds?: number): Promise<{ status: number; body: string }>;
  /** Removes namespaces, veths, the bridge, processes in them, the apiserver and etcd. */
  stop(): Promise<void>;
  /** The same, synchronously and best effort, for `unload` handlers. */
  stopSync(): void;
}

/** Options of {@linkcode startAlbumsScenario}. */
export interface AlbumsScenarioOptions {
  /** Anchor pods to create Ready (label `app=cp-albums`). Default 1. */
  readonly anchors?: number;
  /** Progress messages (the demo prints them). */
  readonly progress?: (message: string) => void;
  /** Name prefix of interfaces and namespaces (≤ 6 chars). */
  readonly prefix?: string;
}

/** Sets up the scenario. On failure, everything made so far is removed. */
export async function startAlbumsScenario(
  options: AlbumsScenarioOptions = {},
): Promise<AlbumsScenario> {
  const say = options.progress ?? (() => {});
  const dir = await Deno.makeTempDir({ prefix: "cplauncher-albums-" });
  let cluster: KubeCluster | undefined;
  let network: TestNetwork | undefined;
  try {
    say("starting a real kube-apiserver and etcd on 127.0.0.1");
    cluster = await startKubeCluster();
    const namespace = "k2s";
    await cluster.createNamespace(namespace);
    say(`creating network namespaces (bridge with 10.77.x.0/24, addresses only inside them)`);
    network = await createTestNetwork(options.prefix ?? "cplsd");
    const client = await network.addHost("client", network.addr(200));
    const anchors: ScenarioAnchor[] = [];
    let next = 10;
    const c = cluster;
    const n = network;
    const addAnchor = async (
      name: string,
      o: { ready?: boolean; labels?: Record<string, string> } = {},
    ) => {
      const host = await n.addHost(name, n.addr(next++));
      await c.createPod(namespace, {
        name,
        labels: o.labels ?? { app: "cp-albums", anchor: name },
      });
      if (o.ready ?? true) await c.setPodStatus(namespace, name, { ready: true, podIP: host.ip });
      const anchor = { pod: name, host };
      anchors.push(anchor);
      return anchor;
    };
    for (let i = 0; i < (options.anchors ?? 1); i++) {
      const anchor = await addAnchor(`albums-anchor-${i}`);
      say(
        `anchor pod ${namespace}/${anchor.pod} is Ready with IP ${anchor.host.ip} (netns ${anchor.host.netns})`,
      );
    }
    return {
      cluster,
      network,
      namespace,
      anchors,
      client,
      dir,
      addAnchor,
      async writeConfig(name, config) {
        const path = join(dir, `${name}.yaml`);
        await Deno.writeTextFile(path, stringify(config));
        return path;
      },
      async curl(url, timeoutSeconds = 2) {
        const r = await n.exec(client, "curl", [
          "-s",
          "-m",
          String(timeoutSeconds),
          "-w",
          "\n%{http_code}",
          url,
        ]);
        const lines = r.stdout.split("\n");
        const status = Number(lines.pop() ?? 0);
        return { status: Number.isFinite(status) ? status : 0, body: lines.join("\n") };
      },
      stopSync() {
        n.removeSync();
        c.killNow();
        try {
          Deno.removeSync(dir, { recursive: true });
        } catch { /* best effort */ }
      },
      async stop() {
        await n.remove();
        await c.stop();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      },
    };
  } catch (error) {
    await network?.remove().catch(() => {});
    await cluster?.stop().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

/**
 * One scenario shared by the tests of a file: started on first use, removed by the file's
 * last test (`stop()`), or synchronously on unload when a filtered or interrupted run never
 * gets there.
 */
export function sharedAlbumsScenario(
  options: AlbumsScenarioOptions,
): () => Promise<AlbumsScenario> {
  let scenario: Promise<AlbumsScenario> | undefined;
  return () => {
    scenario ??= startAlbumsScenario(options).then((s) => {
      globalThis.addEventListener("unload", () => s.stopSync());
      return s;
    });
    return scenario;
  };
}

/** Test options for tests sharing a scenario's long-lived processes across test cases. */
export const SHARED_RESOURCES = { sanitizeOps: false, sanitizeResources: false } as const;

/**
 * Processes still running in the scenario's namespaces (anchors, client and `extra`), polled
 * for up to `ms` until there are none: what a test run leaves behind before the fixture's
 * own cleanup kills it. Each entry names the namespace and its pids.
 */
export async function processesLeft(
  scenario: AlbumsScenario,
  extra: readonly string[] = [],
  ms = 2000,
): Promise<string[]> {
  const names = [...scenario.anchors.map((a) => a.host.netns), scenario.client.netns, ...extra];
  const deadline = Date.now() + ms;
  for (;;) {
    const left: string[] = [];
    for (const netns of names) {
      const out = await new Deno.Command("ip", {
        args: ["netns", "pids", netns],
        stdout: "piped",
        stderr: "null",
      }).output();
      const pids = new TextDecoder().decode(out.stdout).split(/\s+/).filter(Boolean);
      if (pids.length > 0) left.push(`${netns}: ${pids.join(" ")}`);
    }
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Kills a launcher (if still running) and waits for it and its output to end. */
export async function stopLauncher(launcher: LauncherProcess): Promise<void> {
  try {
    launcher.process.kill("SIGKILL");
  } catch { /* already ended */ }
  await launcher.status;
}

/** The albums workload's command line (the same Deno that runs the tests). */
export function albumsCommand(port = 8080): string[] {
  return [
    Deno.execPath(),
    "run",
    "--allow-net",
    "--allow-env",
    join(ROOT, "examples/albums/main.ts"),
    "--port",
    String(port),
  ];
}

/** Starts `cplauncher ARGS` (from source) as a separate process. */
export function startLauncher(args: string[], env: Record<string, string> = {}): LauncherProcess {
  return collectOutput(
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", join(ROOT, "src/main.ts"), ...args],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
      env,
    }).spawn(),
  );
}

/** Polls `curl` from the client until it answers 200 or `ms` pass. */
export async function waitForHttp(
  scenario: AlbumsScenario,
  url: string,
  ms = 30_000,
): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + ms;
  let last = { status: 0, body: "" };
  while (Date.now() < deadline) {
    last = await scenario.curl(url, 1);
    if (last.status === 200) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  return last;
}

/** A one-anchor (`a`), one-workload (`w`) config for a launcher talking to `scenario`'s apiserver. */
export function launcherConfig(
  scenario: AlbumsScenario,
  anchor: Record<string, unknown>,
  workload: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    apiVersion: "cplauncher/v1",
    kubernetes: { kubeconfig: scenario.cluster.adminKubeconfigPath },
    anchors: { a: anchor },
    workloads: { w: { anchor: "a", ...workload } },
    ...extra,
  };
}

/** Whether process `pid` still exists (SIGCONT is harmless to a running process). */
export function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}
