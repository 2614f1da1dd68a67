/**
 * The shape of a validated compartments.yaml, as {@linkcode parseConfig} and
 * {@linkcode loadConfig} return it: defaults filled in, durations in milliseconds, sizes in
 * bytes, anchors tagged by `kind`. The zod schema in `schema.ts` is checked at compile time to
 * produce exactly these types.
 *
 * @module
 */

/**
 * A validated, normalised compartments.yaml.
 *
 * @example Walk a validated config
 * ```ts
 * import { type Config, loadConfig } from "@cplauncher/cplauncher";
 *
 * const config: Config = await loadConfig("compartments.yaml");
 * for (const [name, anchor] of Object.entries(config.anchors)) {
 *   if (anchor.kind === "selector") console.log(name, anchor.selector, anchor.pick);
 *   else if (anchor.kind === "netns") console.log(name, anchor.netns);
 *   else console.log(name, "compartment", anchor.compartment);
 * }
 * for (const [name, workload] of Object.entries(config.workloads)) {
 *   const { policy, backoff } = workload.restart;
 *   const readiness = workload.probes.readiness;
 *   const probe = readiness?.http ? `http :${readiness.http.port}${readiness.http.path}` : "none";
 *   console.log(name, workload.command, policy, backoff.initial, probe, workload.windows.strategy);
 * }
 * ```
 *
 * examples/scripts/validate_string.ts prints the same from a config in a string.
 */
export interface Config {
  /** The language version; always `cplauncher/v1`. */
  apiVersion: "cplauncher/v1";
  /** How to reach the Kubernetes API (used only by selector anchors). */
  kubernetes: KubernetesSettings;
  /** Where the launcher serves `/healthz`, `/readyz` and `/metrics`; absent: not served. */
  health?: HealthSettings;
  /** Named network anchors: where a workload's network presence comes from. */
  anchors: Record<string, Anchor>;
  /** Named processes to launch, each inside one anchor's network. */
  workloads: Record<string, Workload>;
}

/**
 * The `kubernetes` section: how to reach the Kubernetes API.
 *
 * See the {@linkcode Config} example.
 */
export interface KubernetesSettings {
  /**
   * `auto` (the default: in-cluster credentials, then `$KUBECONFIG`, then `~/.kube/config`),
   * `in-cluster` (only the pod's service account) or the path of a kubeconfig file.
   */
  kubeconfig: string;
}

/**
 * The `health` section: the launcher's own probe endpoint for the kubelet.
 *
 * See the {@linkcode Config} example.
 */
export interface HealthSettings {
  /** TCP port of the `/healthz`, `/readyz` and `/metrics` server. */
  port: number;
  /** Address the server listens on (default `0.0.0.0`). */
  address: string;
}

/**
 * An anchor: where a workload's network presence comes from. `kind` tells which.
 *
 * See the {@linkcode Config} example and examples/scripts/validate_string.ts.
 */
export type Anchor = SelectorAnchor | NetnsAnchor | CompartmentAnchor;

/**
 * How a selector anchor chooses among the pods that match: `exactly-one` (more than one
 * match is an error), `first-ready` (the oldest Ready pod) or `claim` (launchers and anchor
 * pods pair 1:1 through a claim annotation).
 *
 * See the {@linkcode Config} example.
 */
export type PickMode = "exactly-one" | "first-ready" | "claim";

/**
 * A Kubernetes pod found by label selector; its network domain is the anchor.
 *
 * See the {@linkcode Config} example and examples/scripts/validate_string.ts.
 */
export interface SelectorAnchor {
  /** Tells this anchor kind apart. */
  kind: "selector";
  /** Label selector of the anchor pod, e.g. `app=cp-albums-win`. */
  selector: string;
  /**
   * Namespace of the anchor pod (default `default`), or `*` to look in all namespaces, which
   * needs permission to list and watch pods cluster-wide. In YAML it is written quoted,
   * `"*"`, because a bare `*` starts an alias.
   */
  namespace: string;
  /** Only pods scheduled on this node; absent: any node. */
  node?: string;
  /** How one pod is chosen among the matches (default `exactly-one`). */
  pick: PickMode;
  /** How long to wait for a Ready pod with an IP, in milliseconds (default 120 000). */
  timeoutMs: number;
}

/**
 * Linux: a static network namespace.
 *
 * See the {@linkcode Config} example and examples/scripts/validate_string.ts.
 */
export interface NetnsAnchor {
  /** Tells this anchor kind apart. */
  kind: "netns";
  /** Path of the namespace: `/var/run/netns/NAME`, a bare `ip netns` name or `/proc/PID/ns/net`. */
  netns: string;
}

/**
 * Windows: a static network compartment, checked to exist.
 *
 * See the {@linkcode Config} example and examples/scripts/validate_string.ts.
 */
export interface CompartmentAnchor {
  /** Tells this anchor kind apart. */
  kind: "compartment";
  /** The compartment id (1 or more). */
  compartment: number;
}

/**
 * A process to launch inside an anchor's network.
 *
 * See the {@linkcode Config} example.
 */
export interface Workload {
  /** Name of the anchor (a key of {@linkcode Config.anchors}) whose network it joins. */
  anchor: string;
  /** The argv array; the first element is the program. No shell is involved. */
  command: string[];
  /** Variables added to the launcher's environment (default: none). */
  env: Record<string, string>;
  /** Working directory; absent: the launcher's. */
  cwd?: string;
  /**
   * The SHA-256 the program must have: 64 hex digits (lowercased), or `auto` for the digest
   * recorded in the lock file next to the config (`cplauncher plan --pin`). Absent: the lock
   * file's digest if it records one, else not checked.
   */
  sha256?: string;
  /**
   * Linux, for a pinned program: `root` (absent means this) refuses a program that is not owned
   * by root or that group or others may write; `any` allows it.
   */
  programOwner?: "root" | "any";
  /** TCP port the workload must be listening on inside the anchor; absent: not checked. */
  port?: number;
  /** When and how fast the workload is restarted. */
  restart: RestartSettings;
  /** Grace period between the stop request and kill, in milliseconds (default 10 000). */
  stopTimeout: number;
  /** How long {@linkcode Workload.port} may take to appear, in milliseconds (default 30 000). */
  startupTimeout: number;
  /** Health checks run against the anchor's IP. */
  probes: WorkloadProbes;
  /** Also write the workload's output to rotated log files; absent: not written. */
  logs?: LogSettings;
  /** Windows launch settings (ignored on Linux). */
  windows: WindowsSettings;
}

/**
 * When a workload is restarted: `always`, `on-failure` (the default: a non-zero exit or a
 * signal) or `never` (its exit code becomes the launcher's).
 *
 * See the {@linkcode Config} example.
 */
export type RestartPolicy = "always" | "on-failure" | "never";

/**
 * The `restart` section of a workload.
 *
 * See the {@linkcode Config} example.
 */
export interface RestartSettings {
  /** When the workload is restarted (default `on-failure`). */
  policy: RestartPolicy;
  /** The delay between restarts. */
  backoff: BackoffSettings;
}

/**
 * Exponential restart delay; every duration is in milliseconds.
 *
 * See the {@linkcode Config} example.
 */
export interface BackoffSettings {
  /** First delay before a restart (default 1 000). */
  initial: number;
  /** Longest delay between restarts (default 300 000). */
  max: number;
  /** A run at least this long resets the delay to `initial` (default 600 000). */
  resetAfter: number;
}

/**
 * The `probes` section of a workload; each probe is optional.
 *
 * See the {@linkcode Config} example.
 */
export interface WorkloadProbes {
  /** Decides whether the workload counts as ready (`/readyz`). */
  readiness?: Probe;
  /** A failing liveness probe restarts the workload. */
  liveness?: Probe;
  /** Runs first; the other probes start once it succeeds. */
  startup?: Probe;
}

/**
 * One health check. Exactly one of `http` and `tcp` is set; durations are in milliseconds.
 *
 * See the {@linkcode Config} example.
 */
export interface Probe {
  /** An HTTP GET that succeeds with a 2xx or 3xx status. */
  http?: HttpCheck;
  /** A TCP connect that succeeds when the connection is accepted. */
  tcp?: TcpCheck;
  /** Time between checks (default 10 000). */
  period: number;
  /** How long one check may take (default 1 000). */
  timeout: number;
  /** Consecutive failures that make the probe fail (default 3). */
  failureThreshold: number;
  /** Consecutive successes that make the probe succeed (default 1). */
  successThreshold: number;
  /** Wait before the first check (default 0). */
  initialDelay: number;
}

/**
 * An HTTP probe target on the anchor's IP.
 *
 * See the {@linkcode Config} example.
 */
export interface HttpCheck {
  /** TCP port. */
  port: number;
  /** Request path, starting with `/` (default `/`). */
  path: string;
}

/**
 * A TCP probe target on the anchor's IP.
 *
 * See the {@linkcode Config} example.
 */
export interface TcpCheck {
  /** TCP port. */
  port: number;
}

/**
 * The `logs` section of a workload: its output is also written to `<dir>/<workload>.log`.
 *
 * See the {@linkcode Config} example.
 */
export interface LogSettings {
  /** Directory of the log files. */
  dir: string;
  /** Rotate when the current file reaches this many bytes (default 10 MiB). */
  maxSize: number;
  /** Rotated files to keep (default 5). */
  keep: number;
  /** Delete rotated files older than this many milliseconds; absent: kept regardless of age. */
  maxAge?: number;
}

/**
 * How a Windows workload enters the compartment: `job` (a job object whose compartment is set
 * before the process exists) or `self` (a plain launch with the compartment id in an
 * environment variable, for programs that switch their own threads).
 *
 * See the {@linkcode Config} example.
 */
export type WindowsStrategy = "job" | "self";

/**
 * The `windows` section of a workload (ignored on Linux).
 *
 * See the {@linkcode Config} example.
 */
export interface WindowsSettings {
  /** How the process enters the compartment (default `job`). */
  strategy: WindowsStrategy;
  /** Variable that carries the compartment id for `self` (default `COMPARTMENT_ID_ATTACH`). */
  compartmentEnv: string;
}
