/**
 * A real Kubernetes control plane for tests: etcd + kube-apiserver on 127.0.0.1, built from
 * the Go module in `tests/kube/` (see `scripts/kube_build.sh`). There is no kubelet, scheduler
 * or controller-manager: tests create pods with `spec.nodeName` already set and play the
 * kubelet by writing pod status (`setPodStatus`). Pod IPs are only data in the API; nothing
 * ever connects to them.
 *
 * Always tear the cluster down, with `await using` or try/finally:
 *
 * @example
 * ```ts
 * import { startKubeCluster } from "./support/kube_cluster.ts";
 *
 * Deno.test("pods become ready", async () => {
 *   await using kube = await startKubeCluster();
 *   await kube.createNamespace("demo");
 *   await kube.createPod("demo", { name: "anchor", labels: { app: "anchor" } });
 *   await kube.setPodStatus("demo", "anchor", { ready: true, podIP: "10.200.0.2" });
 * }); // kube.stop() runs here, even when the test throws
 * ```
 *
 * @module
 */

import { stringify as toYaml } from "yaml";

/** Options of {@linkcode startKubeCluster}. */
export interface KubeClusterOptions {
  /**
   * Folder for certificates, etcd data, logs and kubeconfigs. Default: a fresh temp dir that
   * `stop()` removes. A given folder is created if needed and removed by `stop()` only when
   * `removeDir` is true.
   */
  dir?: string;
  /** Whether `stop()` removes `dir`. Default: true for the temp dir, false for a given `dir`. */
  removeDir?: boolean;
  /**
   * Folder holding `kube-apiserver`, `etcd` and `kubectl`. Default: `$CPLAUNCHER_KUBE_BIN`,
   * else the build cache of `scripts/kube_build.sh` (built on first use, which takes minutes).
   */
  binDir?: string;
  /**
   * Start etcd and kube-apiserver in their own sessions so that they outlive this Deno
   * process (used by `scripts/kube.ts up`). Default false: they stay in this process group,
   * so a Ctrl-C in the terminal stops them together with the test run.
   */
  detached?: boolean;
  /** How long to wait for etcd and for the apiserver's `/readyz`. Default 90 s. */
  readyTimeoutMs?: number;
  /** Extra kube-apiserver flags, appended after the defaults (a later flag wins). */
  extraApiserverArgs?: string[];
  /** IP addresses the apiserver's certificate names besides 127.0.0.1 (e.g. a Service IP). */
  serverCertIps?: string[];
}

/** A Kubernetes object as JSON; only the fields the helpers touch are typed. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

/** The subset of `ObjectMeta` the tests use. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** A pod condition (`Ready`, `ContainersReady`, `PodScheduled`, ...). */
export interface PodCondition {
  type: string;
  status: "True" | "False" | "Unknown";
  lastTransitionTime?: string;
  reason?: string;
  message?: string;
}

/** The subset of `PodStatus` the tests use. */
export interface PodStatus {
  phase?: string;
  podIP?: string;
  podIPs?: { ip: string }[];
  hostIP?: string;
  conditions?: PodCondition[];
  [key: string]: unknown;
}

/** A pod as returned by the API. */
export interface Pod extends KubeObject {
  spec: {
    nodeName?: string;
    serviceAccountName?: string;
    containers: { name: string; image: string; [key: string]: unknown }[];
    [key: string]: unknown;
  };
  status?: PodStatus;
}

/** Options of {@linkcode KubeCluster.createPod}. */
export interface CreatePodOptions {
  name: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Node the pod is bound to at creation (no scheduler runs). Default `kube-test-node`. */
  nodeName?: string;
  /** Container image; never pulled, any string works. Default `pause`. */
  image?: string;
  /** Extra `spec` fields, merged over the defaults. */
  spec?: Record<string, unknown>;
}

/** What {@linkcode KubeCluster.setPodStatus} writes, as a kubelet would. */
export interface PodStatusUpdate {
  ready: boolean;
  /** Pod IP (also written as `podIPs[0]`); kept as is when omitted. */
  podIP?: string;
  /** Default `Running`. */
  phase?: "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown";
}

/** One RBAC policy rule of a Role or ClusterRole. */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** A RoleBinding subject. */
export interface RbacSubject {
  kind: "ServiceAccount" | "User" | "Group";
  name: string;
  /** Required for ServiceAccount subjects. */
  namespace?: string;
}

/** Response of {@linkcode KubeCluster.api}: the HTTP status and the parsed JSON body. */
export interface ApiResponse<T> {
  status: number;
  ok: boolean;
  /** Parsed JSON, or the raw text when the body is not JSON (e.g. `/readyz`). */
  body: T;
}

/** Options of {@linkcode KubeCluster.api}. */
export interface ApiOptions {
  /** Authenticate with this bearer token instead of the admin client certificate. */
  token?: string;
  /** Request content type. Default `application/json`. */
  contentType?: string;
}

/** Thrown by the helpers when the API answers with a non-2xx status. */
export class KubeApiError extends Error {
  /**
   * @param status HTTP status code.
   * @param body the (parsed) response body, usually a `Status` object.
   */
  constructor(
    message: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    super(message);
    this.name = "KubeApiError";
  }
}

/** Memory use of the control plane processes, from `/proc/<pid>/status`. */
export interface KubeMemory {
  apiserverRssKiB: number;
  etcdRssKiB: number;
}

/** What `scripts/kube.ts` records in `<dir>/state.json` to stop a detached cluster later. */
export interface RecordedCluster {
  server: string;
  adminKubeconfigPath: string;
  processes: RecordedProcess[];
}

/** A process recorded in `state.json`; `starttime` guards against a recycled pid. */
export interface RecordedProcess {
  name: string;
  pid: number;
  bin: string;
  starttime: string;
}

const REPO_ROOT = new URL("../../", import.meta.url);
const BUILD_SCRIPT = new URL("scripts/kube_build.sh", REPO_ROOT);
const GO_SUM = new URL("tests/kube/go.sum", REPO_ROOT);
const BINARIES = ["kube-apiserver", "etcd", "kubectl"] as const;
const DEFAULT_NODE = "kube-test-node";
const FIELD_MANAGER = "kube-test";

/**
 * Finds the binary folder, building it with `scripts/kube_build.sh` when the cache for the
 * current `tests/kube/go.sum` is missing (minutes on a cold machine; progress on stderr).
 *
 * @returns the folder holding `kube-apiserver`, `etcd` and `kubectl`.
 */
export async function kubeBinDir(): Promise<string> {
  const fromEnv = Deno.env.get("CPLAUNCHER_KUBE_BIN");
  if (fromEnv) return fromEnv;
  // Same key as the build script, so the common case costs no subprocess at all.
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(GO_SUM));
  const hash = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  const cacheRoot = Deno.env.get("CPLAUNCHER_CACHE") ??
    `${Deno.env.get("HOME") ?? "/tmp"}/.cache/cplauncher`;
  const binDir = `${cacheRoot}/kube/${hash}/bin`;
  if ((await Promise.all(BINARIES.map((b) => isFile(`${binDir}/${b}`)))).every(Boolean)) {
    return binDir;
  }
  const out = await new Deno.Command("bash", {
    args: [decodeURIComponent(BUILD_SCRIPT.pathname)],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`scripts/kube_build.sh failed (exit ${out.code})`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return lines[lines.length - 1];
}

/**
 * Starts etcd and kube-apiserver on free loopback ports, waits for `/readyz`, and writes an
 * admin kubeconfig (client certificate in `system:masters`). The `default` namespace gets its
 * `default` ServiceAccount, since no controller-manager creates it.
 *
 * @example
 * ```ts
 * const kube = await startKubeCluster();
 * try {
 *   const { body } = await kube.api("GET", "/version");
 * } finally {
 *   await kube.stop();
 * }
 * ```
 * @returns a running cluster; the caller must call `stop()` (or use `await using`).
 */
export async function startKubeCluster(opts: KubeClusterOptions = {}): Promise<KubeCluster> {
  const binDir = opts.binDir ?? await kubeBinDir();
  const ownsTempDir = opts.dir === undefined;
  const dir = opts.dir ?? await Deno.makeTempDir({ prefix: "kube-test-" });
  await Deno.mkdir(dir, { recursive: true });
  const [etcdClientPort, etcdPeerPort, apiserverPort] = freePorts(3);
  const cluster = new KubeCluster({
    dir: await Deno.realPath(dir),
    etcdClientPort,
    etcdPeerPort,
    apiserverPort,
    binDir,
    removeDir: opts.removeDir ?? ownsTempDir,
    detached: opts.detached ?? false,
    readyTimeoutMs: opts.readyTimeoutMs ?? 90_000,
    extraApiserverArgs: opts.extraApiserverArgs ?? [],
    serverCertIps: opts.serverCertIps ?? [],
  });
  try {
    await cluster.init();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

interface ClusterConfig {
  dir: string;
  etcdClientPort: number;
  etcdPeerPort: number;
  apiserverPort: number;
  binDir: string;
  removeDir: boolean;
  detached: boolean;
  readyTimeoutMs: number;
  extraApiserverArgs: string[];
  serverCertIps: string[];
}

interface RunningProcess {
  name: string;
  bin: string;
  child: Deno.ChildProcess;
  exited: boolean;
  status: Promise<Deno.CommandStatus>;
  log: string;
}

/** Clusters not yet stopped, killed on `unload` in case a test forgot `stop()`. */
const live = new Set<KubeCluster>();
let unloadHooked = false;

/** A running etcd + kube-apiserver pair. Create it with {@linkcode startKubeCluster}. */
export class KubeCluster implements AsyncDisposable {
  /** Base URL of the apiserver, `https://127.0.0.1:<port>`. */
  readonly server: string;
  /** PEM of the CA that signed the serving and client certificates. */
  caPem = "";
  /** Admin kubeconfig (client certificate auth, custom CA). */
  readonly adminKubeconfigPath: string;
  /** Folder with certificates, etcd data, logs and kubeconfigs. */
  readonly dir: string;
  /** Folder with `kube-apiserver`, `etcd` and `kubectl`. */
  readonly binDir: string;
  /** etcd client URL, `http://127.0.0.1:<port>`. */
  readonly etcdUrl: string;
  /** Milliseconds from spawning kube-apiserver to its `/readyz` answering `ok`, last start. */
  apiserverReadyMs = 0;

  #cfg: ClusterConfig;
  #apiserverArgs: string[] = [];
  #etcd?: RunningProcess;
  #apiserver?: RunningProcess;
  #adminClient?: Deno.HttpClient;
  #caClient?: Deno.HttpClient;
  #clientCertPem = "";
  #clientKeyPem = "";
  #stopped = false;

  /** Internal: use {@linkcode startKubeCluster}. */
  constructor(cfg: ClusterConfig) {
    this.#cfg = cfg;
    this.dir = cfg.dir;
    this.binDir = cfg.binDir;
    this.adminKubeconfigPath = `${cfg.dir}/admin.kubeconfig`;
    this.server = `https://127.0.0.1:${cfg.apiserverPort}`;
    this.etcdUrl = `http://127.0.0.1:${cfg.etcdClientPort}`;
  }

  /** Internal: generates the PKI, starts etcd and the apiserver. */
  async init(): Promise<void> {
    live.add(this);
    hookUnload();
    const d = this.dir;
    await Deno.mkdir(`${d}/pki`, { recursive: true });
    await Deno.mkdir(`${d}/logs`, { recursive: true });
    await generatePki(`${d}/pki`, this.#cfg.serverCertIps);
    this.caPem = await Deno.readTextFile(`${d}/pki/ca.crt`);
    this.#clientCertPem = await Deno.readTextFile(`${d}/pki/admin.crt`);
    this.#clientKeyPem = await Deno.readTextFile(`${d}/pki/admin.key`);

    const etcdPeer = `http://127.0.0.1:${this.#cfg.etcdPeerPort}`;
    this.#etcd = this.#spawn("etcd", [
      "--name=kube-test",
      `--data-dir=${d}/etcd`,
      `--listen-client-urls=${this.etcdUrl}`,
      `--advertise-client-urls=${this.etcdUrl}`,
      `--listen-peer-urls=${etcdPeer}`,
      `--initial-advertise-peer-urls=${etcdPeer}`,
      `--initial-cluster=kube-test=${etcdPeer}`,
      // Test data is disposable: skipping fsync makes every write cheap on slow disks.
      "--unsafe-no-fsync=true",
      "--log-level=warn",
    ]);
    await this.#waitFor(this.#etcd, async () => {
      const res = await fetch(`${this.etcdUrl}/health`, { signal: AbortSignal.timeout(2_000) });
      const text = await res.text();
      return res.ok && text.includes('"health":"true"');
    });

    const pki = `${d}/pki`;
    this.#apiserverArgs = [
      `--etcd-servers=${this.etcdUrl}`,
      "--bind-address=127.0.0.1",
      `--secure-port=${this.#cfg.apiserverPort}`,
      // Only data in the API (the "kubernetes" Service endpoints, which we do not reconcile).
      "--advertise-address=127.0.0.1",
      // Loopback addresses are invalid in Endpoints, and nothing reaches the apiserver through
      // the "kubernetes" Service here, so do not let the reconciler fight validation forever.
      "--endpoint-reconciler-type=none",
      "--service-cluster-ip-range=10.96.0.0/16",
      `--tls-cert-file=${pki}/apiserver.crt`,
      `--tls-private-key-file=${pki}/apiserver.key`,
      `--client-ca-file=${pki}/ca.crt`,
      "--authorization-mode=Node,RBAC",
      // TokenRequest (kube.tokenFor) needs all three.
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${pki}/sa.pub`,
      `--service-account-signing-key-file=${pki}/sa.key`,
      // Unused with the certificates above, but the default /var/run/kubernetes is not ours.
      `--cert-dir=${pki}`,
      "--profiling=false",
      ...this.#cfg.extraApiserverArgs,
    ];
    await this.startApiserver();
    await this.#writeKubeconfig(this.adminKubeconfigPath, {
      "client-certificate-data": b64(this.#clientCertPem),
      "client-key-data": b64(this.#clientKeyPem),
    });
    // The ServiceAccount admission plugin rejects pods whose ServiceAccount does not exist,
    // and without a controller-manager nobody creates `default` in a namespace.
    await this.#ensureDefaultServiceAccount("default");
  }

  /** Starts kube-apiserver (again) on the same port and etcd, and waits for `/readyz`. */
  async startApiserver(): Promise<void> {
    if (this.#apiserver && !this.#apiserver.exited) throw new Error("kube-apiserver is running");
    this.#closeClients();
    const started = performance.now();
    this.#apiserver = this.#spawn("kube-apiserver", this.#apiserverArgs);
    await this.#waitFor(this.#apiserver, async () => {
      const res = await this.api<string>("GET", "/readyz");
      return res.status === 200;
    });
    this.apiserverReadyMs = Math.round(performance.now() - started);
  }

  /** Stops kube-apiserver (SIGTERM, then SIGKILL after 15 s); etcd keeps running. */
  async stopApiserver(): Promise<void> {
    this.#closeClients();
    if (this.#apiserver) await terminate(this.#apiserver);
  }

  /** Kills kube-apiserver and starts it again on the same port with the same etcd. */
  async restartApiserver(): Promise<void> {
    await this.stopApiserver();
    await this.startApiserver();
  }

  /**
   * Stops exactly the processes this cluster started (apiserver first, then etcd) and removes
   * the folder when it owns it. Safe to call twice.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#closeClients();
    for (const p of [this.#apiserver, this.#etcd]) if (p) await terminate(p);
    live.delete(this);
    if (this.#cfg.removeDir) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Same as {@linkcode KubeCluster.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /**
   * Kills the processes with SIGKILL and removes the folder (when owned), synchronously: for
   * `unload` handlers, where nothing async runs any more. Prefer {@linkcode KubeCluster.stop}.
   */
  killNow(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    live.delete(this);
    this.#closeClients();
    for (const p of [this.#apiserver, this.#etcd]) {
      if (p && !p.exited) {
        try {
          Deno.kill(p.child.pid, "SIGKILL");
        } catch { /* already gone */ }
      }
    }
    if (!this.#cfg.removeDir) return;
    // The kill is asynchronous: etcd may still create a file while the tree is being removed.
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        Deno.removeSync(this.dir, { recursive: true });
        return;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return;
      }
    }
  }

  /** Pids of the running processes, for `scripts/kube.ts` to record. */
  async recordProcesses(): Promise<RecordedProcess[]> {
    const out: RecordedProcess[] = [];
    for (const p of [this.#etcd, this.#apiserver]) {
      if (!p || p.exited) continue;
      out.push({
        name: p.name,
        pid: p.child.pid,
        bin: p.bin,
        starttime: await starttime(p.child.pid),
      });
    }
    return out;
  }

  /**
   * Lets this Deno process exit while the processes keep running (detached clusters only):
   * closes the HTTP clients and forgets the processes without stopping them.
   */
  release(): void {
    this.#closeClients();
    this.#stopped = true;
    live.delete(this);
  }

  /** Resident memory of kube-apiserver and etcd right now. */
  async memory(): Promise<KubeMemory> {
    return {
      apiserverRssKiB: this.#apiserver ? await rssKiB(this.#apiserver.child.pid) : 0,
      etcdRssKiB: this.#etcd ? await rssKiB(this.#etcd.child.pid) : 0,
    };
  }

  /**
   * Sends one request to the apiserver as admin (or with `opts.token`) and parses the JSON
   * answer. Never throws on an HTTP error status; see `ok`/`status`.
   *
   * @param path e.g. `/api/v1/namespaces/x/pods`, with any query string.
   * @param body serialized as JSON unless it is already a string.
   */
  async api<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    opts: ApiOptions = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = opts.contentType ?? "application/json";
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const res = await fetch(`${this.server}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
      client: opts.token ? this.#caOnlyClient() : this.#admin(),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch { /* not JSON: keep the text */ }
    return { status: res.status, ok: res.ok, body: parsed as T };
  }

  /** Creates a namespace and its `default` ServiceAccount. */
  async createNamespace(name: string): Promise<KubeObject> {
    const ns = await this.#must<KubeObject>("POST", "/api/v1/namespaces", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name },
    });
    await this.#ensureDefaultServiceAccount(name);
    return ns;
  }

  /** Creates a ServiceAccount. */
  createServiceAccount(ns: string, name: string): Promise<KubeObject> {
    return this.#must("POST", `/api/v1/namespaces/${ns}/serviceaccounts`, {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name },
    });
  }

  /**
   * Creates a pod already bound to a node (no scheduler runs). It stays `Pending` until
   * {@linkcode KubeCluster.setPodStatus} plays the kubelet.
   */
  createPod(ns: string, opts: CreatePodOptions): Promise<Pod> {
    return this.#must("POST", `/api/v1/namespaces/${ns}/pods`, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: opts.name, labels: opts.labels, annotations: opts.annotations },
      spec: {
        nodeName: opts.nodeName ?? DEFAULT_NODE,
        containers: [{ name: "main", image: opts.image ?? "pause" }],
        ...opts.spec,
      },
    });
  }

  /** Reads a pod. */
  getPod(ns: string, name: string): Promise<Pod> {
    return this.#must("GET", `/api/v1/namespaces/${ns}/pods/${name}`);
  }

  /** Lists pods, optionally filtered by a label selector such as `app=anchor`. */
  async listPods(ns: string, labelSelector?: string): Promise<Pod[]> {
    const q = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : "";
    const list = await this.#must<{ items: Pod[] }>("GET", `/api/v1/namespaces/${ns}/pods${q}`);
    return list.items;
  }

  /**
   * Writes pod status through the `/status` subresource the way a kubelet does: phase,
   * `Ready`/`ContainersReady` conditions, container readiness, and `podIP`/`podIPs`.
   */
  setPodStatus(ns: string, name: string, update: PodStatusUpdate): Promise<Pod> {
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const ready = update.ready ? "True" : "False";
    const status: PodStatus = {
      phase: update.phase ?? "Running",
      conditions: [
        { type: "PodScheduled", status: "True", lastTransitionTime: now },
        { type: "Initialized", status: "True", lastTransitionTime: now },
        { type: "ContainersReady", status: ready, lastTransitionTime: now },
        { type: "Ready", status: ready, lastTransitionTime: now },
      ],
    };
    if (update.podIP !== undefined) {
      status.podIP = update.podIP;
      status.podIPs = [{ ip: update.podIP }];
    }
    // Strategic merge: conditions merge by type, and fields we omit (podIP) stay as they are.
    return this.#must("PATCH", `/api/v1/namespaces/${ns}/pods/${name}/status`, { status }, {
      contentType: "application/strategic-merge-patch+json",
    });
  }

  /** Deletes a pod at once (grace period 0: no kubelet would ever confirm a graceful stop). */
  async deletePod(ns: string, name: string): Promise<void> {
    await this.#must(
      "DELETE",
      `/api/v1/namespaces/${ns}/pods/${name}`,
      { apiVersion: "v1", kind: "DeleteOptions", gracePeriodSeconds: 0 },
    );
  }

  /**
   * Creates or updates any object by server-side apply.
   *
   * @param path the object's own URL, e.g. `/apis/rbac.authorization.k8s.io/v1/namespaces/x/roles/r`.
   */
  apply<T extends KubeObject>(path: string, obj: T): Promise<T> {
    return this.#must("PATCH", `${path}?fieldManager=${FIELD_MANAGER}&force=true`, obj, {
      contentType: "application/apply-patch+yaml",
    });
  }

  /** Creates or updates a namespaced Role. */
  applyRole(ns: string, name: string, rules: PolicyRule[]): Promise<KubeObject> {
    return this.apply(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/${name}`, {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name, namespace: ns },
      rules,
    });
  }

  /**
   * Creates or updates a RoleBinding of Role `role` to `subjects`; a plain string names a
   * ServiceAccount in `ns`.
   */
  bindRole(
    ns: string,
    name: string,
    role: string,
    subjects: string | RbacSubject[],
  ): Promise<KubeObject> {
    const subs = typeof subjects === "string"
      ? [{ kind: "ServiceAccount", name: subjects, namespace: ns }]
      : subjects;
    return this.apply(
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/${name}`,
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name, namespace: ns },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: role },
        subjects: subs,
      },
    );
  }

  /**
   * Issues a bound ServiceAccount token with the TokenRequest API.
   *
   * @param expirationSeconds at least 600 (the apiserver's minimum). Default 3600.
   * @returns the JWT.
   */
  async tokenFor(ns: string, sa: string, expirationSeconds = 3600): Promise<string> {
    const res = await this.#must<{ status: { token: string } }>(
      "POST",
      `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
      {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenRequest",
        spec: { expirationSeconds },
      },
    );
    return res.status.token;
  }

  /**
   * Writes a kubeconfig that authenticates with a bearer token (e.g. from `tokenFor`).
   *
   * @returns `path`.
   */
  async kubeconfigForToken(token: string, path: string): Promise<string> {
    await this.#writeKubeconfig(path, { token });
    return path;
  }

  async #ensureDefaultServiceAccount(ns: string): Promise<void> {
    const res = await this.api("POST", `/api/v1/namespaces/${ns}/serviceaccounts`, {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "default" },
    });
    if (!res.ok && res.status !== 409) throw apiError("POST", `namespaces/${ns}/sa/default`, res);
  }

  async #must<T>(method: string, path: string, body?: unknown, opts?: ApiOptions): Promise<T> {
    const res = await this.api<T>(method, path, body, opts);
    if (!res.ok) throw apiError(method, path, res);
    return res.body;
  }

  async #writeKubeconfig(path: string, user: Record<string, string>): Promise<void> {
    const config = {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "kube-test",
        cluster: { server: this.server, "certificate-authority-data": b64(this.caPem) },
      }],
      users: [{ name: "kube-test-user", user }],
      contexts: [{ name: "kube-test", context: { cluster: "kube-test", user: "kube-test-user" } }],
      "current-context": "kube-test",
    };
    await Deno.writeTextFile(path, toYaml(config), { mode: 0o600 });
  }

  #admin(): Deno.HttpClient {
    this.#adminClient ??= Deno.createHttpClient({
      caCerts: [this.caPem],
      cert: this.#clientCertPem,
      key: this.#clientKeyPem,
    });
    return this.#adminClient;
  }

  #caOnlyClient(): Deno.HttpClient {
    this.#caClient ??= Deno.createHttpClient({ caCerts: [this.caPem] });
    return this.#caClient;
  }

  /** Drops pooled connections, which die with the apiserver anyway. */
  #closeClients(): void {
    this.#adminClient?.close();
    this.#caClient?.close();
    this.#adminClient = undefined;
    this.#caClient = undefined;
  }

  #spawn(name: string, args: string[]): RunningProcess {
    const bin = `${this.binDir}/${name}`;
    const log = `${this.dir}/logs/${name}.log`;
    // `exec` keeps the pid, so the child pid IS the binary's (exactly what stop() kills), and
    // the output goes straight to a file that survives this process (detached mode).
    const child = new Deno.Command("/bin/sh", {
      args: ["-c", 'log="$1"; shift; exec "$@" >>"$log" 2>&1', "sh", log, bin, ...args],
      stdin: "null",
      stdout: "null",
      stderr: "null",
      detached: this.#cfg.detached,
    }).spawn();
    if (this.#cfg.detached) child.unref();
    const proc: RunningProcess = { name, bin, child, exited: false, status: child.status, log };
    proc.status.then(() => proc.exited = true);
    return proc;
  }

  async #waitFor(proc: RunningProcess, ready: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + this.#cfg.readyTimeoutMs;
    while (Date.now() < deadline) {
      if (proc.exited) {
        const status = await proc.status;
        throw new Error(
          `${proc.name} exited with code ${status.code} before it was ready; ` +
            `last log lines:\n${await tail(proc.log)}`,
        );
      }
      try {
        if (await ready()) return;
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(
      `${proc.name} not ready after ${this.#cfg.readyTimeoutMs} ms:\n${await tail(proc.log)}`,
    );
  }
}

/**
 * Stops a cluster recorded by `scripts/kube.ts up` in another process: each recorded pid is
 * signalled only if it still runs the recorded binary with the recorded start time.
 *
 * @returns the names of the processes that were stopped.
 */
export async function stopRecordedProcesses(processes: RecordedProcess[]): Promise<string[]> {
  const stopped: string[] = [];
  // Apiserver first (recorded last), so it does not spend its shutdown retrying etcd.
  for (const p of [...processes].reverse()) {
    if (!await isSameProcess(p)) continue;
    try {
      Deno.kill(p.pid, "SIGTERM");
    } catch { /* exited meanwhile */ }
    const deadline = Date.now() + 15_000;
    while (await isAlive(p.pid) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (await isAlive(p.pid) && await isSameProcess(p)) {
      try {
        Deno.kill(p.pid, "SIGKILL");
      } catch { /* exited meanwhile */ }
    }
    stopped.push(p.name);
  }
  return stopped;
}

/** Whether `p.pid` still runs `p.bin` and was started when recorded (not a recycled pid). */
export async function isSameProcess(p: RecordedProcess): Promise<boolean> {
  try {
    const argv0 = (await Deno.readTextFile(`/proc/${p.pid}/cmdline`)).split("\0")[0];
    return argv0 === p.bin && await starttime(p.pid) === p.starttime && await isAlive(p.pid);
  } catch {
    return false;
  }
}

async function terminate(p: RunningProcess): Promise<void> {
  if (p.exited) return;
  try {
    Deno.kill(p.child.pid, "SIGTERM");
  } catch { /* already gone */ }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = await Promise.race([
    p.status.then(() => false),
    new Promise<boolean>((r) => timer = setTimeout(() => r(true), 15_000)),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    try {
      Deno.kill(p.child.pid, "SIGKILL");
    } catch { /* exited meanwhile */ }
    await p.status;
  }
}

function hookUnload(): void {
  if (unloadHooked) return;
  unloadHooked = true;
  // Safety net for a test that forgot stop(): a normal exit still takes the processes along.
  globalThis.addEventListener("unload", () => {
    for (const c of live) c.killNow();
  });
}

async function generatePki(dir: string, extraIps: string[]): Promise<void> {
  const altNames = ["IP:127.0.0.1", ...extraIps.map((ip) => `IP:${ip}`), "DNS:localhost"];
  await Deno.writeTextFile(
    `${dir}/openssl.cnf`,
    [
      "[req]",
      "distinguished_name = dn",
      "[dn]",
      "[ca]",
      "basicConstraints = critical, CA:TRUE",
      "keyUsage = critical, keyCertSign, cRLSign, digitalSignature",
      "subjectKeyIdentifier = hash",
      "[server]",
      "basicConstraints = critical, CA:FALSE",
      "keyUsage = critical, digitalSignature, keyEncipherment",
      "extendedKeyUsage = serverAuth",
      `subjectAltName = ${altNames.join(", ")}`,
      "authorityKeyIdentifier = keyid",
      "[client]",
      "basicConstraints = critical, CA:FALSE",
      "keyUsage = critical, digitalSignature, keyEncipherment",
      "extendedKeyUsage = clientAuth",
      "authorityKeyIdentifier = keyid",
      "",
    ].join("\n"),
  );
  const cnf = `${dir}/openssl.cnf`;
  // P-256 keys: generated in milliseconds, and accepted by Go, rustls and kubectl alike.
  const key = (name: string) =>
    openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], `${name}.key`);
  const openssl = async (args: string[], out?: string) => {
    const res = await new Deno.Command("openssl", {
      args: out ? [...args, "-out", `${dir}/${out}`] : args,
      cwd: dir,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!res.success) {
      throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(res.stderr)}`);
    }
  };
  const sign = async (name: string, subject: string, ext: string) => {
    await key(name);
    await openssl(
      ["req", "-new", "-key", `${name}.key`, "-subj", subject, "-config", cnf],
      `${name}.csr`,
    );
    const serial = `0x${crypto.randomUUID().replaceAll("-", "")}`;
    const ca = ["-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", serial];
    const x509 = ["x509", "-req", "-in", `${name}.csr`, ...ca, "-days", "365", "-sha256"];
    await openssl([...x509, "-extfile", cnf, "-extensions", ext], `${name}.crt`);
  };
  await key("ca");
  const caReq = ["req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=kube-test-ca"];
  await openssl(
    [...caReq, "-days", "3650", "-sha256", "-config", cnf, "-extensions", "ca"],
    "ca.crt",
  );
  await sign("apiserver", "/CN=kube-apiserver", "server");
  await sign("admin", "/O=system:masters/CN=kube-test-admin", "client");
  await key("sa");
  await openssl(["pkey", "-in", "sa.key", "-pubout"], "sa.pub");
}

/** `n` distinct free loopback TCP ports. */
export function freePorts(n: number): number[] {
  // Hold all listeners until every port is known, so the n ports are distinct.
  const listeners = Array.from(
    { length: n },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const ports = listeners.map((l) => (l.addr as Deno.NetAddr).port);
  for (const l of listeners) l.close();
  return ports;
}

/** Whether `path` is a regular file. */
export async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function tail(path: string, lines = 30): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

function b64(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function apiError(method: string, path: string, res: ApiResponse<unknown>): KubeApiError {
  const msg = (res.body as { message?: string } | null)?.message ?? String(res.body);
  return new KubeApiError(`${method} ${path}: ${res.status} ${msg}`, res.status, res.body);
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks since boot. */
async function starttime(pid: number): Promise<string> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // The command name (field 2) may contain spaces; fields after it are split after ")".
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
}

async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // A zombie no longer runs; its parent (often init in a container) may never reap it.
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function rssKiB(pid: number): Promise<number> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}
