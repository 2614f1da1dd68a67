/**
 * A real single-node Kubernetes cluster on this machine: the etcd + kube-apiserver of
 * `tests/support/kube_cluster.ts`, plus containerd, a kubelet, kube-controller-manager,
 * kube-scheduler and kube-proxy (built by `scripts/node_build.sh`), the CNI bridge plugin and
 * locally made images (`tests/support/node_images.ts`). Pods are real: the scheduler places
 * them, the kubelet runs them through containerd and runc, they get IPs on a bridge, and
 * Services are translated by kube-proxy's iptables rules.
 *
 * One node per machine: the kubelet and containerd use fixed paths and set host sysctls.
 * {@linkcode startNode} refuses while another node runs, and cleans up after one whose owner
 * died. Everything it changes on the host is undone by {@linkcode KubeNode.stop}: the state
 * read before the start ({@linkcode HostState}) is compared with the state after teardown.
 *
 * Network: pods get `10.244.0.0/24` on the bridge `cplnode0` (the node's own address is
 * `10.244.0.1`), Services `10.96.0.0/16`. Blackhole routes for `10.244.0.0/16` and
 * `10.96.0.0/16` go in before anything starts, so an untranslated ClusterIP packet never
 * leaves the machine; pods get routes to those two networks only (no default route), and
 * nothing is masqueraded to the outside. No image is pulled, no DNS server is configured.
 *
 * @example
 * ```ts
 * const node = await startNode({ progress: console.log });
 * try {
 *   await node.kubectl(["get", "nodes"]);
 * } finally {
 *   await node.stop();
 * }
 * ```
 *
 * @module
 */
import { stringify as toYaml } from "yaml";
import {
  freePorts,
  isFile,
  isSameProcess,
  kubeBinDir,
  type KubeCluster,
  type RecordedProcess,
  startKubeCluster,
  stopRecordedProcesses,
} from "./kube_cluster.ts";
import {
  createCgroups,
  diffHostStates,
  type HostState,
  NODE_FIXED_PATHS,
  nodeCgroupPids,
  type NodeFootprint,
  readHostState,
  removeCgroups,
  removeIptables,
  restoreSysctls,
  unmountNode,
} from "./node_host.ts";
import { buildNodeImages, NODE_IMAGES } from "./node_images.ts";

export { NODE_IMAGES } from "./node_images.ts";

/** The node's name (also its `kubernetes.io/hostname` label). */
export const NODE_NAME = "cplauncher-node";
/** The node's address: the bridge's, and the apiserver's advertised address. */
export const NODE_IP = "10.244.0.1";
/** Addresses of this node's pods (on the bridge). */
export const POD_SUBNET = "10.244.0.0/24";
/** The cluster's pod network; all of it beyond the bridge is a blackhole. */
export const POD_CIDR = "10.244.0.0/16";
/** The Service network; a blackhole until kube-proxy translates a ClusterIP. */
export const SERVICE_CIDR = "10.96.0.0/16";
/** ClusterIP of the `kubernetes` Service (in-cluster credentials connect here). */
export const KUBERNETES_SERVICE_IP = "10.96.0.1";
/** The CNI bridge. */
export const BRIDGE = "cplnode0";
/** A bridge without ports that swallows Service traffic kube-proxy has not translated. */
export const SERVICE_SINK = "cplsvc0";
/** Top-level cgroup of every pod, in every hierarchy. */
export const CGROUP_ROOT = "cplauncher-node";

/** Metric of the Service CIDR's blackhole: behind the dummy link's route (metric 0). */
const SINK_FALLBACK_METRIC = "1024";
/** Where the running node is recorded, machine-wide (one node per machine). */
const RECORD_PATH = "/run/cplauncher-node.json";
const LOCK_PATH = "/run/cplauncher-node.lock";
const REPO = decodeURIComponent(new URL("../../", import.meta.url).pathname).replace(/\/$/, "");
const NODE_BUILD_SCRIPT = `${REPO}/scripts/node_build.sh`;
const GO_SUM = `${REPO}/tests/kube/go.sum`;
const NODE_BINARIES = ["kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy"];
const CNI_BIN_DIRS = ["/usr/lib/cni", "/opt/cni/bin"];
/** Commands the node needs, with the Debian package that has them. */
const REQUIRED_COMMANDS: Record<string, string> = {
  containerd: "containerd",
  ctr: "containerd",
  runc: "runc",
  "containerd-shim-runc-v2": "containerd",
  iptables: "iptables",
  conntrack: "conntrack",
  gcc: "gcc",
  tar: "tar",
  openssl: "openssl",
  umount: "mount",
};

/** Options of {@linkcode startNode}. */
export interface NodeOptions {
  /** Working folder. Default: a fresh temp folder, removed on teardown. */
  readonly dir?: string;
  /**
   * Start every process in its own session so the node outlives this Deno process
   * (`deno task node:up`). Default false: the node belongs to this process, and a later
   * {@linkcode startNode} cleans it up if this process dies without stopping it.
   */
  readonly detached?: boolean;
  /** Progress messages. */
  readonly progress?: (message: string) => void;
  /**
   * How long to wait while another process (another test run) owns the node of this machine.
   * Default 20 minutes. A node started by `node:up` is never waited for.
   */
  readonly waitForOtherMs?: number;
}

/** What `/run/cplauncher-node.json` holds: enough to tear the node down from anywhere. */
export interface NodeRecord {
  /** The node's working folder. */
  readonly dir: string;
  /** Whether `dir` was made by the node (then teardown removes it). */
  readonly ownsDir: boolean;
  /** The process that stops the node, or null for a node started by `node:up`. */
  readonly owner: { pid: number; starttime: string } | null;
  /** The host before the node started. */
  readonly before: HostState;
  /** Where kubelet, kube-proxy, kube-scheduler and kube-controller-manager are. */
  readonly nodeBinDir: string;
  /** Where kube-apiserver, etcd and kubectl are. */
  readonly kubeBinDir: string;
  /** Admin kubeconfig (client certificate in `system:masters`). */
  readonly adminKubeconfigPath: string;
  /** The apiserver's URL on 127.0.0.1. */
  server: string;
  /** Running processes in start order (etcd and kube-apiserver first). */
  processes: RecordedProcess[];
}

/** The command line and log of one node process, kept to restart it. */
interface Spawned {
  readonly name: string;
  readonly bin: string;
  readonly args: string[];
  child?: Deno.ChildProcess;
}

/** What a command did: the result of {@linkcode KubeNode.kubectl} and {@linkcode run}. */
export interface CommandResult {
  /** Exit code. */
  readonly code: number;
  /** Everything written to stdout. */
  readonly stdout: string;
  /** Everything written to stderr. */
  readonly stderr: string;
}

/** Milliseconds each phase of the start took. */
export interface NodeTimings {
  /** Host network setup, etcd and kube-apiserver up. */
  controlPlaneMs: number;
  /** containerd up and the images imported. */
  containerdMs: number;
  /** From starting the kubelet to the node's Ready condition. */
  nodeReadyMs: number;
  /** From starting the kubelet to kube-proxy's rules and the controllers' first objects. */
  serviceAccountMs: number;
  /** The whole start. */
  totalMs: number;
}

const footprintOf = (dir: string): NodeFootprint => ({
  dir,
  bridge: BRIDGE,
  sink: SERVICE_SINK,
  addressPrefixes: ["10.244.", "10.96."],
  cgroupRoot: CGROUP_ROOT,
});

/**
 * Starts the node and waits until it is Ready, the `default` ServiceAccount exists and
 * kube-proxy translates the `kubernetes` Service. On failure everything is undone.
 *
 * @throws when a node already runs, a required program is missing, or a part fails to start
 *   (with the last lines of its log).
 */
export async function startNode(options: NodeOptions = {}): Promise<KubeNode> {
  const say = options.progress ?? (() => {});
  if (Deno.build.os !== "linux") throw new Error("the node needs Linux");
  if (Deno.uid() !== 0) throw new Error("the node needs root (containerd, kubelet, iptables)");
  await checkCommands();
  const cniBin = await cniBinDir();
  const lock = await lockWhenFree(say, options.waitForOtherMs ?? 20 * 60_000);
  try {
    await clearStaleNode(say);
    const [nodeBin, kubeBin] = await Promise.all([nodeBinDir(say), kubeBinDir()]);
    const ownsDir = options.dir === undefined;
    const dir = options.dir ?? await Deno.makeTempDir({ prefix: "cplauncher-node-" });
    await Deno.mkdir(dir, { recursive: true });
    const realDir = await Deno.realPath(dir);
    const before = await readHostState(footprintOf(realDir));
    const conflicts = [
      ...before.links.filter((l) => l === BRIDGE || l === SERVICE_SINK).map((l) => `link ${l}`),
      ...before.routes.map((r) => `route ${r}`),
      ...before.cgroups.map((c) => `cgroup ${c}`),
      // Another containerd (Docker's) may run; another kubelet or kube-proxy must not.
      ...before.processes.filter((p) => p.startsWith("kube")).map((p) => `process ${p}`),
      ...before.mounts.map((m) => `mount ${m}`),
      ...before.iptables.ipv4.filter((l) => /KUBE-/.test(l)).map((l) => `iptables ${l}`),
    ];
    if (conflicts.length > 0) {
      if (ownsDir) await Deno.remove(realDir, { recursive: true }).catch(() => {});
      throw new Error(
        `the host already has parts of a Kubernetes node that no record explains (${
          conflicts.slice(0, 5).join("; ")
        }); remove them first`,
      );
    }
    const record: NodeRecord = {
      dir: realDir,
      ownsDir,
      owner: options.detached ? null : { pid: Deno.pid, starttime: await starttime(Deno.pid) },
      before,
      nodeBinDir: nodeBin,
      kubeBinDir: kubeBin,
      adminKubeconfigPath: `${realDir}/control-plane/admin.kubeconfig`,
      server: "",
      processes: [],
    };
    await writeRecord(record);
    const node = new KubeNode(record, options.detached ?? false, cniBin, say);
    try {
      await node.init();
    } catch (error) {
      say(`start failed; tearing down: ${error instanceof Error ? error.message : error}`);
      // The lock is held here: tear down directly, not through stop().
      await node.stopLocked().catch(() => {});
      throw error;
    }
    return node;
  } finally {
    await lock.unlock().catch(() => {});
    lock.close();
  }
}

/**
 * One node shared by the tests of a file: started on first use, stopped by the file's last
 * test. When a filtered or failed run never gets there, `unload` starts `node:down` in the
 * background, so the host is restored after this process exits.
 */
export function sharedNode(options: NodeOptions = {}): () => Promise<KubeNode> {
  let node: Promise<KubeNode> | undefined;
  return () =>
    node ??= startNode(options).then((n) => {
      globalThis.addEventListener("unload", () => n.stopInBackground());
      return n;
    });
}

/**
 * Tears down the node recorded in `/run/cplauncher-node.json`, whoever started it (used by
 * `deno task node:down`). With `onlyDir`, only when the record is of the node in that folder
 * (another node may have been started since).
 *
 * @returns the host-state lines that still differ from before the start (empty: all undone),
 *   or undefined when no node was recorded.
 */
export async function stopRecordedNode(
  progress: (message: string) => void = () => {},
  onlyDir?: string,
): Promise<string[] | undefined> {
  const lock = await Deno.open(LOCK_PATH, { create: true, write: true });
  await lock.lock(true);
  try {
    const record = await readRecord();
    if (!record || (onlyDir !== undefined && record.dir !== onlyDir)) return undefined;
    return await teardown(record, progress);
  } finally {
    await lock.unlock().catch(() => {});
    lock.close();
  }
}

/** The recorded node, if any (for `node:up` to report an existing one). */
export async function readRecord(): Promise<NodeRecord | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(RECORD_PATH)) as NodeRecord;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** Whether every recorded process of the node still runs. */
export async function isRecordedNodeRunning(record: NodeRecord): Promise<boolean> {
  const alive = await Promise.all(record.processes.map(isSameProcess));
  return alive.length > 0 && alive.every(Boolean);
}

/** A running single-node cluster. Create it with {@linkcode startNode}. */
export class KubeNode {
  /** etcd and kube-apiserver (the latter with `--allow-privileged`). */
  cluster!: KubeCluster;
  /** Working folder: containerd, kubelet root, logs (`logs/`), control plane. */
  readonly dir: string;
  /** Admin kubeconfig (client certificate in `system:masters`). */
  readonly adminKubeconfigPath: string;
  /** `kubectl` of the same build as the apiserver. */
  readonly kubectlPath: string;
  /** containerd's socket. */
  readonly containerdSocket: string;
  /** The host state read before the start. */
  readonly before: HostState;
  /** How long the start took. */
  readonly timings: NodeTimings = {
    controlPlaneMs: 0,
    containerdMs: 0,
    nodeReadyMs: 0,
    serviceAccountMs: 0,
    totalMs: 0,
  };

  #record: NodeRecord;
  #detached: boolean;
  #cniBin: string;
  #say: (message: string) => void;
  #spawned = new Map<string, Spawned>();
  #stopped = false;

  /** Internal: use {@linkcode startNode}. */
  constructor(record: NodeRecord, detached: boolean, cniBin: string, say: (m: string) => void) {
    this.#record = record;
    this.#detached = detached;
    this.#cniBin = cniBin;
    this.#say = say;
    this.dir = record.dir;
    this.adminKubeconfigPath = record.adminKubeconfigPath;
    this.kubectlPath = `${record.kubeBinDir}/kubectl`;
    this.containerdSocket = `${record.dir}/containerd/containerd.sock`;
    this.before = record.before;
  }

  /** Internal: brings every part up, in order. */
  async init(): Promise<void> {
    const started = performance.now();
    const d = this.dir;
    for (const sub of ["logs", "kubelet", "cni/net.d", "cni/ipam", "containerd", "images"]) {
      await Deno.mkdir(`${d}/${sub}`, { recursive: true });
    }
    this.#say(
      `network: blackhole routes for ${SERVICE_CIDR} and ${POD_CIDR}, bridge ${BRIDGE} with ${NODE_IP}/24, ${SERVICE_CIDR} into the port-less bridge ${SERVICE_SINK}`,
    );
    await sh("ip", ["route", "add", "blackhole", SERVICE_CIDR, "metric", SINK_FALLBACK_METRIC]);
    await sh("ip", ["route", "add", "blackhole", POD_CIDR]);
    await sh("ip", ["link", "add", BRIDGE, "type", "bridge"]);
    await sh("ip", ["addr", "add", `${NODE_IP}/24`, "dev", BRIDGE]);
    await sh("ip", ["link", "set", BRIDGE, "up"]);
    // A blackhole fails connect() at the route lookup, before kube-proxy's OUTPUT rule could
    // translate a ClusterIP: host-network pods (the launcher) could never reach the
    // `kubernetes` Service. A route into a bridge without ports lets the lookup succeed and
    // goes nowhere for whatever is sent untranslated (this kernel has no dummy links); the
    // blackhole above stays behind it as the fallback.
    await sh("ip", ["link", "add", SERVICE_SINK, "type", "bridge"]);
    await sh("ip", ["link", "set", SERVICE_SINK, "up"]);
    await sh("ip", ["route", "add", SERVICE_CIDR, "dev", SERVICE_SINK, "src", NODE_IP]);
    await createCgroups(CGROUP_ROOT);

    this.#say("images: pause (static C), busybox, launcher root (OCI archives, no registry)");
    const images = buildNodeImages(`${d}/images`);

    this.#say("control plane: etcd and kube-apiserver (--allow-privileged=true)");
    const cp = `${d}/control-plane`;
    await this.#writeAuditPolicy(`${d}/audit-policy.yaml`);
    this.cluster = await startKubeCluster({
      dir: cp,
      removeDir: false,
      binDir: this.#record.kubeBinDir,
      detached: this.#detached,
      serverCertIps: [NODE_IP, KUBERNETES_SERVICE_IP],
      extraApiserverArgs: [
        "--allow-privileged=true",
        // Pods reach the apiserver through the `kubernetes` Service, whose endpoint is the
        // node's bridge address: it has to listen there as well as on 127.0.0.1.
        "--bind-address=0.0.0.0",
        `--advertise-address=${NODE_IP}`,
        "--endpoint-reconciler-type=lease",
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        `--kubelet-client-certificate=${cp}/pki/admin.crt`,
        `--kubelet-client-key=${cp}/pki/admin.key`,
        "--kubelet-preferred-address-types=InternalIP",
        `--audit-policy-file=${d}/audit-policy.yaml`,
        `--audit-log-path=${d}/logs/audit.log`,
      ],
    });
    this.#record.server = this.cluster.server;
    this.#record.processes = await this.cluster.recordProcesses();
    await writeRecord(this.#record);
    this.timings.controlPlaneMs = Math.round(performance.now() - started);

    const containerdStart = performance.now();
    this.#say("containerd (own root, state and socket under the node folder)");
    await this.#writeContainerdConfig();
    await this.#writeCniConfig();
    await this.#start("containerd", "containerd", ["--config", `${d}/containerd/config.toml`]);
    await this.#waitFor("containerd", async () => {
      const r = await this.ctr(["version"]);
      return r.code === 0;
    });
    for (const archive of await images) {
      const r = await this.ctr(["-n", "k8s.io", "images", "import", archive]);
      if (r.code !== 0) throw new Error(`ctr images import ${archive}: ${r.stderr.trim()}`);
    }
    this.timings.containerdMs = Math.round(performance.now() - containerdStart);

    this.#say(`kubelet (node ${NODE_NAME}, cgroupfs driver, cgroup root /${CGROUP_ROOT})`);
    const nodeStart = performance.now();
    await this.#writeKubeletFiles();
    await this.#start("kubelet", `${this.#record.nodeBinDir}/kubelet`, [
      `--config=${d}/kubelet/config.yaml`,
      `--kubeconfig=${d}/kubelet/kubeconfig`,
      `--root-dir=${d}/kubelet/root`,
      `--cert-dir=${d}/kubelet/pki`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${NODE_IP}`,
    ]);
    this.#say("kube-controller-manager, kube-scheduler, kube-proxy (iptables mode)");
    const pki = `${cp}/pki`;
    await this.#start(
      "kube-controller-manager",
      `${this.#record.nodeBinDir}/kube-controller-manager`,
      [
        `--kubeconfig=${this.adminKubeconfigPath}`,
        // The bridge plugin's host-local IPAM hands out pod addresses; nothing to allocate.
        "--controllers=*,-node-ipam-controller",
        "--leader-elect=false",
        `--root-ca-file=${pki}/ca.crt`,
        `--service-account-private-key-file=${pki}/sa.key`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        "--bind-address=127.0.0.1",
        "--secure-port=0",
      ],
    );
    await this.#start("kube-scheduler", `${this.#record.nodeBinDir}/kube-scheduler`, [
      `--kubeconfig=${this.adminKubeconfigPath}`,
      "--leader-elect=false",
      "--bind-address=127.0.0.1",
      "--secure-port=0",
    ]);
    await this.#writeKubeProxyConfig();
    await this.#start("kube-proxy", `${this.#record.nodeBinDir}/kube-proxy`, [
      `--config=${d}/kube-proxy.yaml`,
    ]);

    await this.#waitFor("kubelet", async () => {
      const res = await this.cluster.api<NodeObject>("GET", `/api/v1/nodes/${NODE_NAME}`);
      return res.ok && isReady(res.body);
    });
    this.timings.nodeReadyMs = Math.round(performance.now() - nodeStart);
    this.#say(`node ${NODE_NAME} is Ready`);
    await this.#waitFor("kube-proxy", async () => {
      const rules = await run("iptables", ["-t", "nat", "-S", "KUBE-SERVICES"]);
      return rules.stdout.includes(`${KUBERNETES_SERVICE_IP}/32`);
    });
    await this.#waitFor("kube-controller-manager", async () => {
      const sa = await this.cluster.api(
        "GET",
        "/api/v1/namespaces/default/configmaps/kube-root-ca.crt",
      );
      return sa.ok;
    });
    this.timings.serviceAccountMs = Math.round(performance.now() - nodeStart);
    this.timings.totalMs = Math.round(performance.now() - started);
  }

  /** Runs `kubectl` as admin. */
  kubectl(args: string[], input?: string): Promise<CommandResult> {
    return run(this.kubectlPath, [`--kubeconfig=${this.adminKubeconfigPath}`, ...args], input);
  }

  /** Runs `kubectl` as admin and returns stdout; throws with stderr on failure. */
  async mustKubectl(args: string[], input?: string): Promise<string> {
    const r = await this.kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Runs `ctr` against this node's containerd. */
  ctr(args: string[]): Promise<CommandResult> {
    return run("ctr", ["--address", this.containerdSocket, ...args]);
  }

  /** Stops the kubelet and starts it again with the same flags; pods keep running. */
  async restartKubelet(): Promise<void> {
    const spawned = this.#spawned.get("kubelet");
    if (!spawned) throw new Error("the kubelet is not running");
    const recorded = this.#record.processes.find((p) => p.name === "kubelet");
    if (recorded) await stopRecordedProcesses([recorded]);
    await spawned.child?.status;
    this.#record.processes = this.#record.processes.filter((p) => p.name !== "kubelet");
    await this.#start("kubelet", spawned.bin, spawned.args);
  }

  /** Resident memory of each node process, in MiB. */
  async memoryMiB(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const p of this.#record.processes) {
      try {
        const status = await Deno.readTextFile(`/proc/${p.pid}/status`);
        out[p.name] = Math.round(Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) / 1024);
      } catch { /* exited */ }
    }
    return out;
  }

  /** The record for `/run/cplauncher-node.json` (what `node:down` reads). */
  get record(): NodeRecord {
    return this.#record;
  }

  /**
   * Forgets the processes without stopping them (detached nodes only): this Deno process may
   * exit and `deno task node:down` stops the node later.
   */
  release(): void {
    this.#stopped = true;
    this.cluster.release();
  }

  /**
   * Deletes every pod, stops every process, and undoes every host change.
   *
   * @returns host-state lines that still differ from before the start (empty: all undone).
   */
  async stop(): Promise<string[]> {
    if (this.#stopped) return [];
    const lock = await Deno.open(LOCK_PATH, { create: true, write: true });
    await lock.lock(true);
    try {
      return await this.stopLocked();
    } finally {
      await lock.unlock().catch(() => {});
      lock.close();
    }
  }

  /**
   * Starts `deno task node:down` as a detached process and returns at once: for `unload`
   * handlers, where nothing asynchronous runs any more. Nothing happens after `stop()`.
   */
  stopInBackground(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", `${REPO}/scripts/node_ctl.ts`, "down", this.dir],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      detached: true,
    }).spawn().unref();
  }

  /** Internal: {@linkcode KubeNode.stop} for a caller that holds the machine-wide lock. */
  async stopLocked(): Promise<string[]> {
    if (this.#stopped) return [];
    this.#stopped = true;
    const left = await teardown(this.#record, this.#say);
    this.cluster?.release();
    return left;
  }

  async #start(name: string, bin: string, args: string[]): Promise<void> {
    const log = `${this.dir}/logs/${name}.log`;
    const child = new Deno.Command("/bin/sh", {
      // `exec` keeps the pid: the recorded pid is the binary's own.
      args: ["-c", 'log="$1"; shift; exec "$@" >>"$log" 2>&1', "sh", log, bin, ...args],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      detached: this.#detached,
      // PATH for the kubelet and containerd: runc, the shim, iptables, conntrack.
      env: { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" },
    }).spawn();
    if (this.#detached) child.unref();
    this.#spawned.set(name, { name, bin, args, child });
    // Wait until the shell has exec'd, so the recorded command line is the binary's.
    let recorded: RecordedProcess | undefined;
    for (let i = 0; i < 100 && !recorded; i++) {
      try {
        const argv0 = (await Deno.readTextFile(`/proc/${child.pid}/cmdline`)).split("\0")[0];
        if (argv0 === bin) {
          recorded = { name, pid: child.pid, bin, starttime: await starttime(child.pid) };
        }
      } catch { /* exited: reported by #waitFor */ }
      if (!recorded) await new Promise((r) => setTimeout(r, 20));
    }
    if (!recorded) throw new Error(`${name} did not start:\n${await tail(log)}`);
    this.#record.processes.push(recorded);
    await writeRecord(this.#record);
  }

  async #waitFor(name: string, ready: () => Promise<boolean>, ms = 120_000): Promise<void> {
    const deadline = Date.now() + ms;
    const log = `${this.dir}/logs/${name}.log`;
    const recorded = () => this.#record.processes.find((p) => p.name === name);
    while (Date.now() < deadline) {
      const p = recorded();
      if (p && !await isSameProcess(p)) {
        throw new Error(`${name} exited before it was ready; last log lines:\n${await tail(log)}`);
      }
      try {
        if (await ready()) return;
      } catch { /* not up yet */ }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${name} not ready after ${ms} ms; last log lines:\n${await tail(log)}`);
  }

  async #writeAuditPolicy(path: string): Promise<void> {
    // Only ServiceAccount requests: which token (credential id) each pod used, and when.
    await Deno.writeTextFile(
      path,
      toYaml({
        apiVersion: "audit.k8s.io/v1",
        kind: "Policy",
        omitStages: ["RequestReceived"],
        rules: [
          { level: "Metadata", userGroups: ["system:serviceaccounts"] },
          { level: "None" },
        ],
      }),
    );
  }

  async #writeContainerdConfig(): Promise<void> {
    const c = `${this.dir}/containerd`;
    const cri = 'plugins."io.containerd.grpc.v1.cri"';
    await Deno.writeTextFile(
      `${c}/config.toml`,
      [
        "version = 2",
        `root = "${c}/root"`,
        `state = "${c}/state"`,
        // Plugins that would create folders elsewhere or that the node does not use.
        "disabled_plugins = [",
        '  "io.containerd.internal.v1.opt",',
        '  "io.containerd.snapshotter.v1.aufs",',
        '  "io.containerd.snapshotter.v1.btrfs",',
        '  "io.containerd.snapshotter.v1.devmapper",',
        '  "io.containerd.snapshotter.v1.zfs",',
        '  "io.containerd.tracing.processor.v1.otlp",',
        "]",
        "[grpc]",
        `  address = "${this.containerdSocket}"`,
        "[ttrpc]",
        `  address = "${this.containerdSocket}.ttrpc"`,
        "[debug]",
        '  level = "warn"',
        `[${cri}]`,
        `  sandbox_image = "${NODE_IMAGES.pause}"`,
        // Without CAP_SYS_RESOURCE runc cannot lower oom_score_adj and every sandbox fails.
        "  restrict_oom_score_adj = true",
        "  disable_apparmor = true",
        "  netns_mounts_under_state_dir = true",
        '  stream_server_address = "127.0.0.1"',
        '  stream_server_port = "0"',
        `[${cri}.containerd]`,
        '  snapshotter = "overlayfs"',
        '  default_runtime_name = "runc"',
        `[${cri}.containerd.runtimes.runc]`,
        '  runtime_type = "io.containerd.runc.v2"',
        `[${cri}.containerd.runtimes.runc.options]`,
        "  SystemdCgroup = false",
        `  Root = "${c}/runc"`,
        `[${cri}.cni]`,
        `  bin_dir = "${this.#cniBin}"`,
        `  conf_dir = "${this.dir}/cni/net.d"`,
        "  max_conf_num = 1",
        "",
      ].join("\n"),
    );
  }

  async #writeCniConfig(): Promise<void> {
    await Deno.writeTextFile(
      `${this.dir}/cni/net.d/10-cplnode.conflist`,
      JSON.stringify(
        {
          cniVersion: "0.4.0",
          name: "cplnode",
          plugins: [{
            type: "bridge",
            bridge: BRIDGE,
            isGateway: true,
            // Nothing leaves the machine: no NAT to the outside, no default route in pods.
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: "host-local",
              ranges: [[{ subnet: POD_SUBNET, gateway: NODE_IP }]],
              routes: [{ dst: POD_CIDR }, { dst: SERVICE_CIDR }],
              dataDir: `${this.dir}/cni/ipam`,
            },
          }],
        },
        null,
        2,
      ),
    );
  }

  async #writeKubeletFiles(): Promise<void> {
    const k = `${this.dir}/kubelet`;
    const pki = `${this.dir}/control-plane/pki`;
    await signClientCert(pki, `${k}/node`, `/O=system:nodes/CN=system:node:${NODE_NAME}`);
    const caData = btoa(await Deno.readTextFile(`${pki}/ca.crt`));
    await Deno.writeTextFile(
      `${k}/kubeconfig`,
      toYaml({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{
          name: "node",
          cluster: { server: this.cluster.server, "certificate-authority-data": caData },
        }],
        users: [{
          name: "node",
          user: { "client-certificate": `${k}/node.crt`, "client-key": `${k}/node.key` },
        }],
        contexts: [{ name: "node", context: { cluster: "node", user: "node" } }],
        "current-context": "node",
      }),
    );
    const [port, healthzPort] = freePorts(2);
    await Deno.writeTextFile(
      `${k}/config.yaml`,
      toYaml({
        apiVersion: "kubelet.config.k8s.io/v1beta1",
        kind: "KubeletConfiguration",
        // This machine has cgroup v1 and no systemd as PID 1.
        failCgroupV1: false,
        cgroupDriver: "cgroupfs",
        cgroupRoot: `/${CGROUP_ROOT}`,
        containerRuntimeEndpoint: `unix://${this.containerdSocket}`,
        address: NODE_IP,
        port,
        readOnlyPort: 0,
        healthzBindAddress: "127.0.0.1",
        healthzPort,
        authentication: {
          anonymous: { enabled: false },
          webhook: { enabled: true },
          x509: { clientCAFile: `${pki}/ca.crt` },
        },
        authorization: { mode: "Webhook" },
        clusterDomain: "cluster.local",
        // No DNS server in this cluster, and the host's resolvers must not be handed to pods.
        resolvConf: "",
        podLogsDir: `${this.dir}/pod-logs`,
        failSwapOn: false,
        // A busy shared disk must not evict the test pods or delete the local images.
        evictionHard: {
          "memory.available": "100Mi",
          "nodefs.available": "1%",
          "imagefs.available": "1%",
          "nodefs.inodesFree": "1%",
        },
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        // Projected volumes (ServiceAccount tokens) are refreshed on each sync.
        syncFrequency: "10s",
        fileCheckFrequency: "10s",
        serializeImagePulls: false,
        rotateCertificates: false,
        serverTLSBootstrap: false,
      }),
    );
  }

  async #writeKubeProxyConfig(): Promise<void> {
    const [healthz, metrics] = freePorts(2);
    await Deno.writeTextFile(
      `${this.dir}/kube-proxy.yaml`,
      toYaml({
        apiVersion: "kubeproxy.config.k8s.io/v1alpha1",
        kind: "KubeProxyConfiguration",
        clientConnection: { kubeconfig: this.adminKubeconfigPath },
        mode: "iptables",
        hostnameOverride: NODE_NAME,
        clusterCIDR: POD_CIDR,
        healthzBindAddress: `127.0.0.1:${healthz}`,
        metricsBindAddress: `127.0.0.1:${metrics}`,
        // NodePorts only on the node's bridge address; none on the host's other interfaces.
        nodePortAddresses: [`${NODE_IP}/32`],
        // Leave the conntrack table size and timeouts of the host alone.
        conntrack: {
          maxPerCore: 0,
          min: 0,
          tcpEstablishedTimeout: "0s",
          tcpCloseWaitTimeout: "0s",
        },
        // No NodePorts on 127.0.0.1, which would need route_localnet=1.
        iptables: { localhostNodePorts: false },
      }),
    );
  }
}

/** A Node object, as far as readiness goes. */
interface NodeObject {
  status?: { conditions?: { type: string; status: string }[] };
}

function isReady(node: NodeObject): boolean {
  return (node.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
}

/**
 * Undoes a recorded node, in an order where nothing restarts what was just stopped:
 * controllers, pods, kube-proxy (and its rules), kubelet, containers, containerd, mounts,
 * iptables, network, cgroups, sysctls, control plane, folders.
 */
async function teardown(
  record: NodeRecord,
  say: (message: string) => void,
): Promise<string[]> {
  const byName = (...names: string[]) => record.processes.filter((p) => names.includes(p.name));
  say("teardown: stopping kube-controller-manager and kube-scheduler");
  await stopRecordedProcesses(byName("kube-controller-manager", "kube-scheduler"));
  const kubectl = `${record.kubeBinDir}/kubectl`;
  const containerdSocket = `${record.dir}/containerd/containerd.sock`;
  const apiUp = (await Promise.all(byName("kube-apiserver", "kubelet").map(isSameProcess)))
    .filter(Boolean).length === 2;
  if (apiUp) {
    say("teardown: deleting every pod and waiting for the kubelet to stop them");
    await run(kubectl, [
      `--kubeconfig=${record.adminKubeconfigPath}`,
      "delete",
      "pods",
      "--all",
      "--all-namespaces",
      "--grace-period=5",
      "--wait=false",
    ]);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      const tasks = await run("ctr", [
        "--address",
        containerdSocket,
        "-n",
        "k8s.io",
        "tasks",
        "ls",
        "-q",
      ]);
      if (tasks.code !== 0 || tasks.stdout.trim() === "") break;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  say("teardown: stopping kube-proxy and removing its rules");
  await stopRecordedProcesses(byName("kube-proxy"));
  await run(`${record.nodeBinDir}/kube-proxy`, [
    "--cleanup",
    `--kubeconfig=${record.adminKubeconfigPath}`,
  ]);
  say("teardown: stopping the kubelet, the containers left and containerd");
  await stopRecordedProcesses(byName("kubelet"));
  await killProgramsIn(record.nodeBinDir);
  await removeContainers(containerdSocket);
  await removeCgroupProcesses();
  await stopRecordedProcesses(byName("containerd"));
  await killShims(containerdSocket);
  await unmountNode(record.dir);
  say("teardown: iptables chains, routes, bridge, cgroups, sysctls");
  await removeIptables(record.before);
  for (const link of await bridgePorts()) await run("ip", ["link", "del", link]);
  await run("ip", ["link", "del", BRIDGE]);
  await run("ip", ["link", "del", SERVICE_SINK]);
  await run("ip", ["route", "del", "blackhole", SERVICE_CIDR, "metric", SINK_FALLBACK_METRIC]);
  await run("ip", ["route", "del", "blackhole", POD_CIDR]);
  await removeCgroups(CGROUP_ROOT);
  await restoreSysctls(record.before.sysctls);
  say("teardown: stopping kube-apiserver and etcd");
  await stopRecordedProcesses(byName("etcd", "kube-apiserver"));
  for (const path of NODE_FIXED_PATHS) {
    if (!record.before.paths[path]) await Deno.remove(path, { recursive: true }).catch(() => {});
  }
  if (record.ownsDir) await Deno.remove(record.dir, { recursive: true }).catch(() => {});
  else await Deno.remove(`${record.dir}/containerd`, { recursive: true }).catch(() => {});
  await Deno.remove(RECORD_PATH).catch(() => {});
  const after = await readHostState(footprintOf(record.dir));
  return diffHostStates(record.before, after);
}

/** Kills and deletes every container task containerd still has, so its shims exit. */
async function removeContainers(socket: string): Promise<void> {
  const ctr = (...args: string[]) => run("ctr", ["--address", socket, "-n", "k8s.io", ...args]);
  const tasks = await ctr("tasks", "ls", "-q");
  if (tasks.code !== 0) return;
  for (const id of tasks.stdout.split("\n").filter(Boolean)) {
    await ctr("tasks", "kill", "-s", "SIGKILL", id);
  }
  for (const id of tasks.stdout.split("\n").filter(Boolean)) {
    for (let i = 0; i < 20; i++) {
      if ((await ctr("tasks", "delete", id)).code === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const containers = await ctr("containers", "ls", "-q");
  for (const id of containers.stdout.split("\n").filter(Boolean)) {
    await ctr("containers", "delete", id);
  }
}

async function removeCgroupProcesses(): Promise<void> {
  // Every process in the node's cgroups is a container's (or started by one).
  for (const pid of await nodeCgroupPids(CGROUP_ROOT)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

/**
 * Kills processes running a binary from `dir` that the record does not know (the node
 * binaries run nowhere else; such a process is a leftover of an interrupted restart).
 */
async function killProgramsIn(dir: string): Promise<void> {
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      if ((await Deno.readLink(`/proc/${entry.name}/exe`)).startsWith(`${dir}/`)) {
        Deno.kill(Number(entry.name), "SIGKILL");
      }
    } catch { /* gone, or a kernel thread */ }
  }
}

/** containerd shims serving this node's socket (they outlive containerd by design). */
async function killShims(socket: string): Promise<void> {
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = (await Deno.readTextFile(`/proc/${entry.name}/cmdline`)).split("\0");
      if (cmdline[0].endsWith("containerd-shim-runc-v2") && cmdline.includes(socket)) {
        Deno.kill(Number(entry.name), "SIGKILL");
      }
    } catch { /* gone */ }
  }
}

async function bridgePorts(): Promise<string[]> {
  const out = await run("ip", ["-o", "link", "show", "master", BRIDGE]);
  return out.stdout.split("\n").map((l) => /^\d+:\s+([^:@]+)/.exec(l)?.[1]).filter(
    (n): n is string => !!n,
  );
}

/**
 * Takes the machine-wide lock once no other live process owns a node, waiting up to `ms` for
 * another test run to finish with its node.
 *
 * @throws when a `node:up` node runs, or the other owner keeps its node longer than `ms`.
 */
async function lockWhenFree(say: (message: string) => void, ms: number): Promise<Deno.FsFile> {
  const deadline = Date.now() + ms;
  let said = false;
  for (;;) {
    const lock = await Deno.open(LOCK_PATH, { create: true, write: true });
    await lock.lock(true);
    const record = await readRecord();
    let busy: string | undefined;
    if (record?.owner === null && await isRecordedNodeRunning(record)) {
      busy = "a node started by `deno task node:up` is running; stop it with `deno task node:down`";
    } else if (record?.owner && await isOwnerAlive(record.owner)) {
      busy = `process ${record.owner.pid} runs the node of this machine (one node per machine)`;
    }
    if (busy === undefined) return lock;
    await lock.unlock().catch(() => {});
    lock.close();
    if (record?.owner === null || Date.now() > deadline) throw new Error(busy);
    if (!said) say(`${busy}; waiting for it to stop`);
    said = true;
    await new Promise((r) => setTimeout(r, 2_000));
  }
}

/** Tears down a recorded node whose owner is gone (the caller holds the lock). */
async function clearStaleNode(say: (message: string) => void): Promise<void> {
  const record = await readRecord();
  if (!record) return;
  say("a previous node was not torn down (its owner is gone); cleaning up after it");
  await teardown(record, say);
}

async function writeRecord(record: NodeRecord): Promise<void> {
  await Deno.writeTextFile(`${RECORD_PATH}.tmp`, JSON.stringify(record, null, 2) + "\n");
  await Deno.rename(`${RECORD_PATH}.tmp`, RECORD_PATH);
}

/**
 * The folder with the node binaries, building them with `scripts/node_build.sh` when the
 * cache for the current `tests/kube/go.sum` lacks them (minutes; progress on stderr).
 */
export async function nodeBinDir(say: (message: string) => void = () => {}): Promise<string> {
  const fromEnv = Deno.env.get("CPLAUNCHER_NODE_BIN");
  if (fromEnv) return fromEnv;
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(GO_SUM));
  const hash = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  const cache = Deno.env.get("CPLAUNCHER_CACHE") ??
    `${Deno.env.get("HOME") ?? "/tmp"}/.cache/cplauncher`;
  const bin = `${cache}/kube/${hash}/node/bin`;
  const present = await Promise.all(NODE_BINARIES.map((b) => isFile(`${bin}/${b}`)));
  if (present.every(Boolean)) return bin;
  say("building the node binaries (scripts/node_build.sh; minutes on a cold cache)");
  const out = await new Deno.Command("bash", {
    args: [NODE_BUILD_SCRIPT],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`scripts/node_build.sh failed (exit ${out.code})`);
  return new TextDecoder().decode(out.stdout).trim().split("\n").pop() ?? bin;
}

async function checkCommands(): Promise<void> {
  const missing = new Set<string>();
  for (const [cmd, pkg] of Object.entries(REQUIRED_COMMANDS)) {
    if (!await onPath(cmd)) missing.add(pkg);
  }
  if (missing.size > 0) {
    throw new Error(
      `the node needs these packages: ${[...missing].sort().join(" ")} (apt-get install)`,
    );
  }
}

async function cniBinDir(): Promise<string> {
  for (const dir of CNI_BIN_DIRS) if (await isFile(`${dir}/bridge`)) return dir;
  throw new Error("no CNI plugins found: install containernetworking-plugins");
}

async function onPath(cmd: string): Promise<boolean> {
  const dirs = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
  for (const dir of dirs) if (await isFile(`${dir}/${cmd}`)) return true;
  return false;
}

/** Signs a client certificate for `subject` with the cluster CA: `<out>.crt`, `<out>.key`. */
async function signClientCert(pki: string, out: string, subject: string): Promise<void> {
  const ext = `${out}.ext`;
  await Deno.writeTextFile(
    ext,
    "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature, keyEncipherment\nextendedKeyUsage = clientAuth\n",
  );
  await sh("openssl", [
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
    `${out}.key`,
  ]);
  await sh("openssl", [
    "req",
    "-new",
    "-key",
    `${out}.key`,
    "-subj",
    subject,
    "-out",
    `${out}.csr`,
  ]);
  await sh("openssl", [
    "x509",
    "-req",
    "-in",
    `${out}.csr`,
    "-CA",
    `${pki}/ca.crt`,
    "-CAkey",
    `${pki}/ca.key`,
    "-set_serial",
    `0x${crypto.randomUUID().replaceAll("-", "")}`,
    "-days",
    "30",
    "-sha256",
    "-extfile",
    ext,
    "-out",
    `${out}.crt`,
  ]);
}

/** Runs a command and collects its output (never throws on a non-zero exit). */
export async function run(cmd: string, args: string[], input?: string): Promise<CommandResult> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const out = await child.output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

async function sh(cmd: string, args: string[]): Promise<void> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr.trim()}`);
}

async function isOwnerAlive(owner: { pid: number; starttime: string }): Promise<boolean> {
  try {
    return await starttime(owner.pid) === owner.starttime;
  } catch {
    return false;
  }
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. */
async function starttime(pid: number): Promise<string> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
}

async function tail(path: string, lines = 30): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
