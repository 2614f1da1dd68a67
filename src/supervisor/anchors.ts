/**
 * From a configured anchor to an isolation domain: Kubernetes (selector → pod IP), then the
 * platform (pod IP → netns / compartment). Selector anchors stay watched so a replaced
 * anchor pod (new uid or IP) is noticed.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Anchor } from "../config/mod.ts";
import {
  clientNodePodSource,
  type KubeError,
  type LoadedKubeConfig,
  type PodListerWatcher,
  PodWatchHub,
  type ResolvedPod,
  resolvePodAnchor,
  type ResolvePodOptions,
} from "../kube/mod.ts";
import type { IsolationDomain, PlatformBackend } from "../platform/types.ts";

const log = getLogger(["cplauncher", "anchor"]);

/**
 * An anchor resolved all the way to an isolation domain.
 *
 * See the {@linkcode resolveAnchor} example.
 */
export interface ResolvedAnchor {
  /** Anchor name from the config. */
  readonly name: string;
  /** The anchor pod, for selector anchors. */
  readonly pod?: ResolvedPod;
  /** The IP workloads answer on (pod IP), when known. */
  readonly ip?: string;
  /** The network namespace or compartment. */
  readonly domain: IsolationDomain;
  /** Seconds from start of resolution to a usable domain. */
  readonly resolutionSeconds: number;
}

/**
 * Why resolution failed: which stage.
 *
 * See the {@linkcode resolveAnchor} example.
 */
export class AnchorError extends Error {
  /** `kubernetes` or `platform`. */
  readonly stage: "kubernetes" | "platform";

  /** Creates an error of `stage`; `options.cause` keeps the platform error it reports. */
  constructor(stage: "kubernetes" | "platform", message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AnchorError";
    this.stage = stage;
  }
}

/**
 * Dependencies of anchor resolution.
 *
 * See the {@linkcode resolveAnchor} example.
 */
export interface AnchorContext {
  /** The OS backend that maps IPs to domains. */
  readonly platform: PlatformBackend;
  /** Loads credentials on first use (so static-only configs never import client-node). */
  readonly kube: () => Promise<LoadedKubeConfig>;
  /** Claim identity, TTL and watch backoff. */
  readonly resolveOptions?: ResolvePodOptions;
  /** Pod watches shared by all anchors (optional; see PodWatchHub). */
  readonly hub?: () => Promise<PodWatchHub>;
  /** Where pods are listed and watched without a hub (default: the apiserver). */
  readonly podSource?: PodListerWatcher;
}

/** One anchor as a workload sees it: resolve it, then watch it for loss. */
export interface AnchorSource {
  /** Whether the anchor is a Kubernetes pod that can go away (static anchors cannot). */
  readonly watched: boolean;
  /** Resolves the anchor to a domain, bounded by its timeout and `signal`. */
  resolve(signal: AbortSignal): Promise<ResolvedAnchor>;
  /**
   * Calls `onLost` once when the resolved pod is deleted, terminates or changes IP.
   *
   * @returns a function that stops watching.
   */
  watch(resolved: ResolvedAnchor, onLost: (reason: string) => void): Promise<() => Promise<void>>;
}

/** Binds anchor `name` to `context`, for one workload's runner. */
export function anchorSource(name: string, anchor: Anchor, context: AnchorContext): AnchorSource {
  return {
    watched: anchor.kind === "selector",
    resolve: (signal) => resolveAnchor(name, anchor, context, signal),
    watch: (resolved, onLost) =>
      anchor.kind === "selector"
        ? watchAnchorPod(resolved, anchor, context, onLost)
        : Promise.resolve(async () => {}),
  };
}

function describeDomain(domain: IsolationDomain): string {
  return domain.kind === "netns"
    ? `netns ${domain.path} (inode ${domain.inode})`
    : `compartment ${domain.id} (${domain.source})`;
}

/**
 * Resolves `anchor` once.
 *
 * @example Where an anchor's network is, launching nothing
 * ```ts
 * import {
 *   AnchorError,
 *   createPlatform,
 *   loadConfig,
 *   loadKubeConfig,
 *   resolveAnchor,
 * } from "@cplauncher/cplauncher";
 *
 * const config = await loadConfig("compartments.yaml");
 * const platform = await createPlatform();
 * const kube = () => loadKubeConfig(config.kubernetes.kubeconfig);
 * try {
 *   const anchor = await resolveAnchor("web", config.anchors.web, { platform, kube });
 *   console.log(anchor.pod?.pod, anchor.ip, anchor.domain, `${anchor.resolutionSeconds} s`);
 *   await anchor.pod?.claim?.release();
 * } catch (error) {
 *   if (!(error instanceof AnchorError)) throw error;
 *   console.error(`${error.stage}: ${error.message}`);
 * }
 * ```
 *
 * A complete script: examples/scripts/resolve_anchor.ts.
 */
export async function resolveAnchor(
  name: string,
  anchor: Anchor,
  context: AnchorContext,
  signal?: AbortSignal,
): Promise<ResolvedAnchor> {
  const started = performance.now();
  if (anchor.kind !== "selector") {
    let domain: IsolationDomain;
    try {
      domain = await context.platform.openStatic(
        anchor.kind === "netns" ? { netns: anchor.netns } : { compartment: anchor.compartment },
      );
    } catch (error) {
      throw new AnchorError("platform", `anchor ${name}: ${errorText(error)}`, { cause: error });
    }
    const resolved = { name, domain, resolutionSeconds: (performance.now() - started) / 1000 };
    log.info("anchor {anchor} is static {domain}", {
      anchor: name,
      domain: describeDomain(domain),
    });
    return resolved;
  }
  let pod: ResolvedPod;
  const deadline = AbortSignal.timeout(anchor.timeoutMs);
  const bounded = signal ? AbortSignal.any([signal, deadline]) : deadline;
  try {
    const kube = await context.kube();
    const hub = await context.hub?.();
    pod = await resolvePodAnchor(kube, name, anchor, {
      ...context.resolveOptions,
      ...(hub ? { hub } : {}),
      ...(context.podSource ? { source: context.podSource } : {}),
      // resolvePodAnchor enforces the anchor's timeout itself, with a message saying what
      // it saw; the deadline signal would race it with a bare "cancelled".
      ...(signal ? { signal } : {}),
      // Waiting for the pod is idle time: the first scan and launch cost several times what
      // later ones do, so they are paid now rather than once the pod is ready.
      onWaiting: () => setTimeout(() => void context.platform.warmUp?.().catch(() => {}), 0),
    });
  } catch (error) {
    throw new AnchorError("kubernetes", errorText(error));
  }
  let domain: IsolationDomain;
  try {
    // The rest of the anchor's timeout bounds the wait for the IP to show up on the node.
    domain = await context.platform.resolveAddress(pod.ip, { signal: bounded });
  } catch (error) {
    await pod.claim?.release();
    throw new AnchorError(
      "platform",
      `anchor ${name}: pod ${pod.namespace}/${pod.pod} has IP ${pod.ip}, but ${errorText(error)}`,
      { cause: error },
    );
  }
  const resolved = {
    name,
    pod,
    ip: pod.ip,
    domain,
    resolutionSeconds: (performance.now() - started) / 1000,
  };
  log.info("anchor {anchor}: pod {pod} IP {ip} is in {domain} (resolved in {seconds} s)", {
    anchor: name,
    pod: `${pod.namespace}/${pod.pod}`,
    ip: pod.ip,
    domain: describeDomain(domain),
    seconds: resolved.resolutionSeconds.toFixed(3),
  });
  return resolved;
}

/**
 * Watches a resolved selector anchor and calls `onLost` once when its pod is deleted,
 * starts terminating, or changes IP.
 *
 * @returns a function that stops watching.
 */
export async function watchAnchorPod(
  resolved: ResolvedAnchor,
  anchor: Anchor & { kind: "selector" },
  context: AnchorContext,
  onLost: (reason: string) => void,
): Promise<() => Promise<void>> {
  const pod = resolved.pod!;
  const kube = await context.kube();
  let fired = false;
  const fire = (reason: string) => {
    if (fired) return;
    fired = true;
    onLost(reason);
  };
  // Without a shared hub (library use of this function alone), a private one does the job.
  const hub = context.hub
    ? await context.hub()
    : new PodWatchHub(context.podSource ?? clientNodePodSource(kube));
  return hub.subscribe(anchor.namespace, anchor.selector, {
    onChange: (pods) => {
      const current = pods.find((p) => p.uid === pod.uid);
      if (!current) fire(`anchor pod ${pod.pod} (uid ${pod.uid}) was deleted`);
      else if (current.deleting) fire(`anchor pod ${pod.pod} is terminating`);
      else if (current.ips.length > 0 && current.ips[0] !== pod.ip) {
        fire(`anchor pod ${pod.pod} changed IP from ${pod.ip} to ${current.ips[0]}`);
      }
    },
    onFatal: (error: KubeError) =>
      log.error("stopped watching anchor {anchor}: {message}", {
        anchor: resolved.name,
        message: error.message,
      }),
  }, anchor.node ? { node: anchor.node } : {});
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message.split("\n")[0] : String(error);
}
