/**
 * Where credentials come from. `auto`: in-cluster (also under a HostProcess container's
 * `$CONTAINER_SANDBOX_MOUNT_POINT`), then `$KUBECONFIG`, then `~/.kube/config`
 * (`%USERPROFILE%\.kube\config` on Windows).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { KubeConfig } from "@kubernetes/client-node";
import { loadClientNode } from "./client_node.ts";
import type { DirectPodLister } from "./direct.ts";
import { KubeError } from "./errors.ts";

const log = getLogger(["cplauncher", "kube"]);

/**
 * Where a kubeconfig was found.
 *
 * See the {@linkcode findKubeconfig} and {@linkcode describeSource} examples.
 */
export type KubeconfigSource =
  | { readonly kind: "in-cluster"; readonly prefix: string; readonly tokenPath: string }
  | {
    readonly kind: "file";
    readonly path: string;
    readonly from: "config" | "KUBECONFIG" | "home";
  };

/** What {@linkcode findKubeconfig} may consult; tests pass fakes. */
export interface KubeconfigEnvironment {
  /** Reads an environment variable. */
  readonly env: (name: string) => string | undefined;
  /** Whether a file exists. */
  readonly exists: (path: string) => boolean;
  /** The operating system (decides path separators and the home variable). */
  readonly os: typeof Deno.build.os;
}

const TOKEN_SUFFIX = "/var/run/secrets/kubernetes.io/serviceaccount/token";

function defaultEnvironment(): KubeconfigEnvironment {
  return {
    env: (name) => Deno.env.get(name),
    exists: (path) => {
      try {
        Deno.statSync(path);
        return true;
      } catch {
        return false;
      }
    },
    os: Deno.build.os,
  };
}

/** The sandbox prefix of a HostProcess container, without its trailing separator. */
export function sandboxPrefix(env: (name: string) => string | undefined): string {
  return (env("CONTAINER_SANDBOX_MOUNT_POINT") ?? "").replace(/[\\/]+$/, "");
}

/**
 * Decides where credentials come from, without loading them.
 *
 * @param setting `auto`, `in-cluster` or a path (from `kubernetes.kubeconfig`)
 * @throws {KubeError} when nothing usable exists, naming every place looked at.
 *
 * @example Where credentials would come from, with a fake environment
 * ```ts
 * import { describeSource, findKubeconfig } from "@cplauncher/cplauncher";
 *
 * const source = findKubeconfig("auto", {
 *   os: "linux",
 *   env: (name) => name === "KUBECONFIG" ? "/home/me/.kube/lab" : undefined,
 *   exists: (path) => path === "/home/me/.kube/lab",
 * });
 * if (source.kind !== "file" || source.from !== "KUBECONFIG") throw new Error("unexpected");
 * console.log(describeSource(source)); // kubeconfig /home/me/.kube/lab (from $KUBECONFIG)
 * ```
 */
export function findKubeconfig(
  setting: string,
  environment: KubeconfigEnvironment = defaultEnvironment(),
): KubeconfigSource {
  const { env, exists } = environment;
  const looked: string[] = [];
  if (setting === "auto" || setting === "in-cluster") {
    const prefix = sandboxPrefix(env);
    const prefixes = prefix ? [prefix, ""] : [""];
    for (const p of prefixes) {
      const tokenPath = `${p}${TOKEN_SUFFIX}`;
      if (exists(tokenPath) && env("KUBERNETES_SERVICE_HOST")) {
        return { kind: "in-cluster", prefix: p, tokenPath };
      }
      looked.push(
        `in-cluster token ${tokenPath}${
          exists(tokenPath) ? " (present, but KUBERNETES_SERVICE_HOST is unset)" : ""
        }`,
      );
    }
    if (setting === "in-cluster") {
      throw new KubeError("config", `no in-cluster credentials: looked for ${looked.join(", ")}`);
    }
    const fromEnv = env("KUBECONFIG");
    if (fromEnv) {
      const separator = environment.os === "windows" ? ";" : ":";
      const paths = fromEnv.split(separator).filter(Boolean);
      const found = paths.find(exists);
      if (found) return { kind: "file", path: found, from: "KUBECONFIG" };
      looked.push(`$KUBECONFIG (${paths.join(separator)}: missing)`);
    } else looked.push("$KUBECONFIG (unset)");
    const home = environment.os === "windows" ? env("USERPROFILE") : env("HOME");
    if (home) {
      const sep = environment.os === "windows" ? "\\" : "/";
      const path = `${home}${sep}.kube${sep}config`;
      if (exists(path)) return { kind: "file", path, from: "home" };
      looked.push(`${path} (missing)`);
    }
    throw new KubeError(
      "config",
      `no Kubernetes credentials found: looked at ${looked.join(", ")}`,
    );
  }
  if (!exists(setting)) {
    throw new KubeError("config", `kubeconfig ${setting} does not exist`);
  }
  return { kind: "file", path: setting, from: "config" };
}

/**
 * Loaded credentials, opaque so that cplauncher's API does not depend on client-node's
 * types. At run time it stands for a client-node `KubeConfig`, which is created when the
 * first request that needs client-node is made (`clientKubeConfig`), not before: the first
 * pod list can often be made without loading client-node at all (see `direct.ts`).
 *
 * See the {@linkcode loadKubeConfig} example.
 */
export interface KubeConfigHandle {
  /** Exists only in the type (it is never set), so no other object passes for a handle. */
  readonly kubeConfigHandle: never;
}

/**
 * A loaded kubeconfig and a description of where it came from (never its secrets).
 *
 * See the {@linkcode loadKubeConfig} and {@linkcode resolvePodAnchor} examples.
 */
export interface LoadedKubeConfig {
  /** The loaded credentials, for client-node. */
  readonly kubeConfig: KubeConfigHandle;
  /** Where it came from. */
  readonly source: KubeconfigSource;
  /** API server URL. */
  readonly server: string;
}

/** What stands behind a {@linkcode KubeConfigHandle} at run time. */
class ClientKubeConfig {
  readonly #source: KubeconfigSource;
  #loaded?: Promise<KubeConfig>;
  /** Set when a fetch of the first list makes the same request client-node would. */
  readonly direct?: DirectPodLister;

  constructor(source: KubeconfigSource, loaded?: KubeConfig, direct?: DirectPodLister) {
    this.#source = source;
    if (loaded) this.#loaded = Promise.resolve(loaded);
    if (direct) this.direct = direct;
  }

  /** client-node's KubeConfig, loaded from the source on first use. */
  get(): Promise<KubeConfig> {
    this.#loaded ??= loadClientNode().then(({ KubeConfig }) =>
      loadInto(new KubeConfig(), this.#source)
    );
    return this.#loaded;
  }
}

/** Loads `source` into a client-node KubeConfig, turning its errors into one-line KubeErrors. */
function loadInto(kubeConfig: KubeConfig, source: KubeconfigSource): KubeConfig {
  try {
    if (source.kind === "in-cluster") {
      // client-node's tokenFile provider re-reads the token every 60 s, so rotated
      // projected tokens are picked up.
      kubeConfig.loadFromCluster(source.prefix);
    } else {
      kubeConfig.loadFromFile(source.path);
    }
  } catch (error) {
    const where = source.kind === "in-cluster" ? source.tokenPath : source.path;
    throw new KubeError(
      "config",
      `cannot load kubeconfig ${where}: ${
        error instanceof Error ? error.message.split("\n")[0] : error
      }`,
    );
  }
  return kubeConfig;
}

/**
 * Finds and loads credentials. When the first pod list can be made without client-node
 * (credentials of a form both clients send identically), client-node is not imported here
 * but when a request first needs it; otherwise it is imported now (about 0.6 s from source,
 * a fraction of that from the bundle) and reports problems with the file at once.
 *
 * @example Load the credentials a config names
 * ```ts
 * import { describeSource, loadConfig, loadKubeConfig } from "@cplauncher/cplauncher";
 *
 * const config = await loadConfig("compartments.yaml");
 * const kube = await loadKubeConfig(config.kubernetes.kubeconfig);
 * console.log(`${kube.server} via ${describeSource(kube.source)}`);
 * ```
 */
export async function loadKubeConfig(
  setting: string,
  environment?: KubeconfigEnvironment,
): Promise<LoadedKubeConfig> {
  const source = findKubeconfig(setting, environment);
  // Loaded on demand: the module carries client-node's YAML parser.
  const { directAccess, DirectPodLister } = await import("./direct.ts");
  const direct = directAccess(source);
  if ("access" in direct) {
    log.debug("the first pod list goes without client-node ({server})", {
      server: direct.access.server,
    });
    const handle = new ClientKubeConfig(source, undefined, new DirectPodLister(direct.access));
    return {
      kubeConfig: handle as unknown as KubeConfigHandle,
      source,
      server: direct.access.server,
    };
  }
  log.debug("client-node makes every request: {reason}", { reason: direct.refused });
  const { KubeConfig } = await loadClientNode();
  const kubeConfig = loadInto(new KubeConfig(), source);
  const server = kubeConfig.getCurrentCluster()?.server;
  if (!server) throw new KubeError("config", "the kubeconfig has no current cluster with a server");
  const handle = new ClientKubeConfig(source, kubeConfig);
  return { kubeConfig: handle as unknown as KubeConfigHandle, source, server };
}

/** The client-node `KubeConfig` behind `kube` (loading client-node if needed). */
export function clientKubeConfig(kube: LoadedKubeConfig): Promise<KubeConfig> {
  return (kube.kubeConfig as unknown as ClientKubeConfig).get();
}

/**
 * Lists pods without client-node, when `kube`'s credentials allow it (see `direct.ts`);
 * shared by every pod source of `kube`.
 */
export function directListerOf(kube: LoadedKubeConfig): DirectPodLister | undefined {
  return (kube.kubeConfig as unknown as ClientKubeConfig).direct;
}

/**
 * Human description of a source: `in-cluster (C:\C\…)`, `file ~/.kube/config`.
 *
 * @example Describe a source for a message
 * ```ts
 * import { describeSource } from "@cplauncher/cplauncher";
 *
 * const text = describeSource({ kind: "file", path: "/home/me/.kube/config", from: "home" });
 * if (text !== "kubeconfig /home/me/.kube/config") throw new Error(text);
 * ```
 */
export function describeSource(source: KubeconfigSource): string {
  return source.kind === "in-cluster"
    ? `in-cluster service account${source.prefix ? ` under ${source.prefix}` : ""}`
    : `kubeconfig ${source.path}${source.from === "KUBECONFIG" ? " (from $KUBECONFIG)" : ""}`;
}
