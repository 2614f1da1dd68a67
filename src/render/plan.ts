/**
 * The render plan: every decision `render` makes about a config, taken and validated before
 * any object is built. Pure: the same config and options always give the same plan, and
 * every refusal ({@linkcode RenderError}) is raised here, so the builders in objects.ts
 * never fail.
 *
 * @module
 */
import { type Anchor, type Config, selectorMatches } from "../config/mod.ts";
import { containsPlaceholder, type RenderConfig } from "./config.ts";
import {
  anchorLabels,
  compareStrings,
  dnsLabelFor,
  isDnsLabel,
  isQualifiedName,
  selectorRequirements,
  serviceNameFor,
  sortedRecord,
} from "./names.ts";
import {
  ALL_NAMESPACES,
  ANCHOR_LABEL,
  DEFAULT_IMAGE,
  DEFAULT_LAUNCHER_PATH,
  DEFAULT_NAME,
  DEFAULT_PAUSE_IMAGE,
  INSTANCE_LABEL,
  POD_VARIABLES,
  RenderError,
  type RenderOptions,
  type RenderPlatform,
} from "./types.ts";

/** A selector anchor of the config. */
export type SelectorAnchor = Anchor & { kind: "selector" };

/** A selector anchor that gets generated pods (an anchor Deployment). */
export interface AnchorPlan {
  /** The anchor's name in the config. */
  readonly name: string;
  /** The anchor as the config defines it. */
  readonly anchor: SelectorAnchor;
  /**
   * Namespace of the generated pods: the anchor's own, or the launcher's for an anchor
   * that looks in every namespace.
   */
  readonly namespace: string;
  /** Whether the launcher looks for this anchor's pods in every namespace (`namespace: "*"`). */
  readonly allNamespaces: boolean;
  /** Labels from the selector. */
  readonly labels: Readonly<Record<string, string>>;
  /** Labels of the generated pods (selector labels plus ours), also the Deployment selector. */
  readonly podLabels: Readonly<Record<string, string>>;
  /** Name of the anchor Deployment. */
  readonly deployment: string;
  /** Workload ports served in this anchor, ascending. */
  readonly ports: readonly number[];
}

/** A Service for a workload with a `port` in a selector anchor. */
export interface ServicePlan {
  /** Service name, from the workload name. */
  readonly name: string;
  /** The anchor's pod namespace. */
  readonly namespace: string;
  /** The anchor's selector labels (the Service selects every pod its anchor would). */
  readonly selector: Readonly<Record<string, string>>;
  /** The workload's port. */
  readonly port: number;
}

/** Pod access the launcher needs in one scope: a namespace, or every namespace. */
export interface PodAccess {
  /** The namespace; undefined for every namespace (anchors with `namespace: "*"`). */
  readonly namespace?: string;
  /** Whether an anchor in this scope uses `pick: claim`, which patches pods. */
  readonly claims: boolean;
}

/** Everything the builders need, validated. */
export interface RenderPlan {
  /** Target OS. */
  readonly platform: RenderPlatform;
  /** Base name of the generated objects. */
  readonly name: string;
  /** Namespace of the launcher, its ServiceAccount and ConfigMap. */
  readonly namespace: string;
  /** Replicas of the launcher and of every anchor Deployment. */
  readonly replicas: number;
  /** Launcher image. */
  readonly image: string;
  /** Anchor pod image. */
  readonly pauseImage: string;
  /** Launcher executable in its container. */
  readonly launcherPath: string;
  /** Annotations of the anchor pods, sorted by key. */
  readonly anchorAnnotations: Readonly<Record<string, string>>;
  /** The config text, as the ConfigMap carries it. */
  readonly configText: string;
  /** The validated config. */
  readonly config: Config;
  /** Workloads the launcher runs, sorted. */
  readonly running: readonly string[];
  /** Workloads left out because the platform cannot use their anchor, sorted. */
  readonly skipped: readonly string[];
  /** Selector anchors used by a running workload, sorted by name. */
  readonly anchors: readonly AnchorPlan[];
  /** Paths of the static netns anchors used by a running workload. */
  readonly staticNetns: readonly string[];
  /** Where the launcher reads pods: every namespace first (if needed), then by name. */
  readonly podAccess: readonly PodAccess[];
  /** Labels of the launcher pods. */
  readonly launcherLabels: Readonly<Record<string, string>>;
  /** Labels every generated object carries. */
  readonly commonLabels: Readonly<Record<string, string>>;
  /** Services, in workload order. */
  readonly services: readonly ServicePlan[];
  /** Things that are valid but probably not what was meant (one line each). */
  readonly warnings: readonly string[];
}

/** Anchors a platform can use: selector anchors anywhere, static ones on their own OS. */
function anchorFits(anchor: Anchor, platform: RenderPlatform): boolean {
  if (anchor.kind === "netns") return platform === "linux";
  if (anchor.kind === "compartment") return platform === "windows";
  return true;
}

function describeStatic(anchor: Anchor): string {
  return anchor.kind === "netns"
    ? `a Linux network namespace (${anchor.netns})`
    : anchor.kind === "compartment"
    ? `a Windows compartment (${anchor.compartment})`
    : `a selector anchor (${anchor.selector})`;
}

/**
 * The platform a config's static anchors imply: `windows` when it has compartment anchors
 * only, `linux` with netns anchors only, otherwise undefined (none, or both).
 */
export function inferPlatform(config: Config): RenderPlatform | undefined {
  const kinds = new Set(Object.values(config.anchors).map((a) => a.kind));
  if (kinds.has("compartment") && !kinds.has("netns")) return "windows";
  if (kinds.has("netns") && !kinds.has("compartment")) return "linux";
  return undefined;
}

function nonEmpty(what: string, value: string): string {
  if (value.trim() === "") throw new RenderError(`${what} must not be empty`);
  return value;
}

/** Records `owner` as the one object named `key`; two owners of one name are an error. */
function reserveName(
  owners: Map<string, string>,
  key: string,
  owner: string,
  clash: (first: string) => string,
): void {
  const first = owners.get(key);
  if (first) throw new RenderError(clash(first));
  owners.set(key, owner);
}

/** The render options, with defaults applied and checked. */
interface ResolvedOptions {
  readonly platform: RenderPlatform;
  readonly name: string;
  readonly replicas: number;
  readonly image: string;
  readonly pauseImage: string;
  readonly launcherPath: string;
  readonly anchorAnnotations: Readonly<Record<string, string>>;
}

function resolveOptions(config: Config, file: string, options: RenderOptions): ResolvedOptions {
  const platform = options.platform ?? inferPlatform(config);
  if (platform === undefined) {
    throw new RenderError(
      `cannot tell the target OS from ${file} (${
        Object.values(config.anchors).some((a) => a.kind !== "selector")
          ? "it has both netns and compartment anchors"
          : "it has no netns or compartment anchors"
      }); choose the platform (windows or linux)`,
    );
  }
  const name = options.name ?? DEFAULT_NAME;
  if (!isDnsLabel(name) || name.length > 40) {
    throw new RenderError(
      `name "${name}" must be 1-40 lowercase letters, digits and '-', starting and ending with a letter or digit`,
    );
  }
  const replicas = options.replicas ?? 1;
  if (!Number.isSafeInteger(replicas) || replicas < 1) {
    throw new RenderError(`replicas must be a whole number of at least 1, not ${replicas}`);
  }
  const image = nonEmpty("image", options.image ?? DEFAULT_IMAGE);
  const pauseImage = nonEmpty("pause image", options.pauseImage ?? DEFAULT_PAUSE_IMAGE);
  const launcherPath = nonEmpty(
    "launcher path",
    options.launcherPath ?? DEFAULT_LAUNCHER_PATH[platform],
  );
  const annotations: Record<string, string> = {};
  for (const [key, value] of options.anchorAnnotations ?? []) {
    if (!isQualifiedName(key)) throw new RenderError(`anchor annotation key "${key}" is not valid`);
    annotations[key] = value;
  }
  return {
    platform,
    name,
    replicas,
    image,
    pauseImage,
    launcherPath,
    anchorAnnotations: sortedRecord(annotations),
  };
}

/**
 * Plans the objects for a parsed config: decides the platform, names and namespace, which
 * workloads run, the anchor Deployments, RBAC scopes and Services, and collects warnings.
 *
 * @param parsed the config as {@linkcode parseConfigForRender} read it from `options.configText`
 * @throws {RenderError} when the config or an option cannot be rendered (one line).
 */
export function planRender(parsed: RenderConfig, options: RenderOptions): RenderPlan {
  const file = options.configFile ?? "<string>";
  const { config } = parsed;
  const resolved = resolveOptions(config, file, options);
  const { platform, name } = resolved;
  const warnings: string[] = [];

  const { running, skipped } = splitWorkloads(config, platform, file, warnings);
  const usedAnchors = [...new Set(running.map((w) => config.workloads[w].anchor))].sort(
    compareStrings,
  );
  for (const anchorName of Object.keys(config.anchors).sort(compareStrings)) {
    if (!usedAnchors.includes(anchorName) && anchorFits(config.anchors[anchorName], platform)) {
      warnings.push(`anchor ${anchorName} is used by no workload; nothing is generated for it`);
    }
  }
  if (resolved.replicas > 1) checkReplicas(config, usedAnchors, resolved.replicas);

  const { anchors, namespace } = planAnchors(
    config,
    name,
    usedAnchors,
    running,
    options.namespace,
    warnings,
  );
  const launcherLabels = sortedRecord({
    "app.kubernetes.io/component": "launcher",
    "app.kubernetes.io/instance": name,
    "app.kubernetes.io/name": "cplauncher",
  });
  checkSelectorsDistinct(anchors, namespace, launcherLabels);
  warnings.push(...configWarnings(parsed, options.env ?? (() => undefined), anchors.length > 0));

  return {
    ...resolved,
    namespace,
    configText: options.configText,
    config,
    running,
    skipped,
    anchors,
    staticNetns: usedAnchors.map((a) => config.anchors[a]).flatMap((a) =>
      a.kind === "netns" ? [a.netns] : []
    ),
    podAccess: planPodAccess(anchors),
    launcherLabels,
    commonLabels: sortedRecord({
      "app.kubernetes.io/managed-by": "cplauncher",
      "app.kubernetes.io/part-of": name,
    }),
    services: planServices(config, running, anchors),
    warnings,
  };
}

/** Warnings about the config as a whole, after the anchors are planned. */
function configWarnings(
  parsed: RenderConfig,
  env: (name: string) => string | undefined,
  hasAnchors: boolean,
): string[] {
  const { config } = parsed;
  const warnings: string[] = [];
  if (
    hasAnchors && !["auto", "in-cluster"].includes(config.kubernetes.kubeconfig) &&
    !containsPlaceholder(config.kubernetes.kubeconfig)
  ) {
    warnings.push(
      `kubernetes.kubeconfig is ${config.kubernetes.kubeconfig}: the launcher will use that file, not the generated ServiceAccount (use auto)`,
    );
  }
  for (const variable of parsed.otherVariables) {
    if (env(variable) !== undefined) {
      warnings.push(
        `the config uses \${${variable}}, taken from this environment for checking; the launcher pod does not set ${variable}`,
      );
    }
  }
  if (!config.health) {
    warnings.push(
      "the config has no health block, so the launcher gets no readiness or liveness probes; add `health: { port: 9090 }`",
    );
  }
  return warnings;
}

/**
 * Plans the selector anchors used by running workloads, and the launcher's namespace. An
 * anchor in every namespace gets its pods in the launcher's namespace, which is only known
 * once the other anchors are planned.
 */
function planAnchors(
  config: Config,
  name: string,
  usedAnchors: readonly string[],
  running: readonly string[],
  namespaceOption: string | undefined,
  warnings: string[],
): { anchors: AnchorPlan[]; namespace: string } {
  const deploymentNames = new Map<string, string>();
  const pending = usedAnchors.flatMap((anchorName) => {
    const anchor = config.anchors[anchorName];
    if (anchor.kind !== "selector") return [];
    const planned = planAnchor(name, anchorName, anchor, running, config);
    if (!planned.allNamespaces) {
      reserveDeployment(deploymentNames, anchor.namespace, planned.deployment, anchorName);
    }
    if (anchor.node === undefined) {
      warnings.push(
        `anchor ${anchorName} has no node: \${NODE_NAME}; a launcher may pick an anchor pod on another node, whose network it cannot enter`,
      );
    }
    return [planned];
  });

  const anchorNamespaces = [
    ...new Set(pending.filter((p) => !p.allNamespaces).map((p) => p.anchor.namespace)),
  ].sort(compareStrings);
  const namespace = launcherNamespace(namespaceOption, anchorNamespaces);
  const anchors = pending.map((p): AnchorPlan => {
    if (!p.allNamespaces) return { ...p, namespace: p.anchor.namespace };
    reserveDeployment(deploymentNames, namespace, p.deployment, p.name);
    return { ...p, namespace };
  });
  return { anchors, namespace };
}

/** Workloads this platform can run; the others are left out of the launcher's command. */
function splitWorkloads(
  config: Config,
  platform: RenderPlatform,
  file: string,
  warnings: string[],
): { running: string[]; skipped: string[] } {
  const workloadNames = Object.keys(config.workloads).sort(compareStrings);
  const running: string[] = [];
  const skipped: string[] = [];
  for (const workload of workloadNames) {
    const anchorName = config.workloads[workload].anchor;
    const anchor = config.anchors[anchorName];
    if (anchorFits(anchor, platform)) running.push(workload);
    else {
      skipped.push(workload);
      warnings.push(
        `workload ${workload} is left out: its anchor ${anchorName} is ${
          describeStatic(anchor)
        }, which a ${platform} launcher cannot use`,
      );
    }
  }
  if (running.length === 0) {
    throw new RenderError(
      workloadNames.length === 0
        ? `${file} has no workloads to run`
        : `no workload of ${file} can run on ${platform}: ${
          skipped.map((w) => {
            const anchorName = config.workloads[w].anchor;
            return `${w} uses anchor ${anchorName}, ${describeStatic(config.anchors[anchorName])}`;
          }).join("; ")
        }`,
    );
  }
  return { running, skipped };
}

/** Several replicas pair launchers and anchor pods 1:1, which only `pick: claim` does. */
function checkReplicas(config: Config, usedAnchors: readonly string[], replicas: number): void {
  const pairing =
    `${replicas} replicas pair ${replicas} launchers with ${replicas} anchors through pick: claim`;
  for (const anchorName of usedAnchors) {
    const anchor = config.anchors[anchorName];
    if (anchor.kind !== "selector") {
      throw new RenderError(
        `${pairing}, but anchor ${anchorName} is ${describeStatic(anchor)}; render 1 replica`,
      );
    }
    if (anchor.pick !== "claim") {
      throw new RenderError(
        `${pairing}, but anchor ${anchorName} uses pick: ${anchor.pick}; set pick: claim or render 1 replica`,
      );
    }
  }
}

/** An anchor plan before the launcher's namespace is known. */
type PendingAnchorPlan = Omit<AnchorPlan, "namespace">;

function planAnchor(
  name: string,
  anchorName: string,
  anchor: SelectorAnchor,
  running: readonly string[],
  config: Config,
): PendingAnchorPlan {
  const fields: [string, string][] = [["selector", anchor.selector], [
    "namespace",
    anchor.namespace,
  ]];
  for (const [field, value] of fields) {
    if (containsPlaceholder(value)) {
      throw new RenderError(
        `anchor ${anchorName}: ${field} uses ${
          Object.keys(POD_VARIABLES).join(" or ")
        }, which only the launcher pod knows; render needs a fixed ${field}`,
      );
    }
  }
  const labels = anchorLabels(anchorName, anchor.selector);
  for (const key of [ANCHOR_LABEL, INSTANCE_LABEL]) {
    if (Object.hasOwn(labels, key)) {
      throw new RenderError(
        `anchor ${anchorName}: selector uses the label ${key}, which render sets itself; choose another label`,
      );
    }
  }
  const ports = [
    ...new Set(
      running.filter((w) => config.workloads[w].anchor === anchorName)
        .map((w) => config.workloads[w].port)
        .filter((p): p is number => p !== undefined),
    ),
  ].sort((a, b) => a - b);
  return {
    name: anchorName,
    anchor,
    allNamespaces: anchor.namespace === ALL_NAMESPACES,
    labels,
    podLabels: sortedRecord({ ...labels, [ANCHOR_LABEL]: anchorName, [INSTANCE_LABEL]: name }),
    deployment: `${name}-anchor-${dnsLabelFor("anchor", anchorName)}`,
    ports,
  };
}

function reserveDeployment(
  owners: Map<string, string>,
  namespace: string,
  deployment: string,
  anchorName: string,
): void {
  const key = `${namespace}/${deployment}`;
  reserveName(
    owners,
    key,
    anchorName,
    (first) => `anchors ${first} and ${anchorName} would both be Deployment ${key}; rename one`,
  );
}

/** The launcher's namespace: as given, or the one namespace its anchors live in. */
function launcherNamespace(given: string | undefined, anchorNamespaces: readonly string[]): string {
  if (given === undefined) {
    if (anchorNamespaces.length > 1) {
      throw new RenderError(
        `anchors live in several namespaces (${
          anchorNamespaces.join(", ")
        }); choose the launcher's namespace`,
      );
    }
    return anchorNamespaces[0] ?? "default";
  }
  if (!isDnsLabel(given)) {
    throw new RenderError(
      `namespace "${given}" is not a Kubernetes namespace name (lowercase letters, digits and '-')`,
    );
  }
  return given;
}

/** Generated pods must match exactly their own anchor's selector. */
function checkSelectorsDistinct(
  plans: readonly AnchorPlan[],
  namespace: string,
  launcherLabels: Readonly<Record<string, string>>,
): void {
  for (const plan of plans) {
    const requirements = selectorRequirements(plan.anchor.selector);
    for (const other of plans) {
      if (other === plan || !(plan.allNamespaces || other.namespace === plan.namespace)) continue;
      if (selectorMatches(requirements, other.podLabels)) {
        throw new RenderError(
          `anchor ${plan.name}'s selector "${plan.anchor.selector}" also matches the pods generated for anchor ${other.name}; make the selectors distinct`,
        );
      }
    }
    // An anchor in every namespace has its pods in the launcher's, so this covers it too.
    if (plan.namespace === namespace && selectorMatches(requirements, launcherLabels)) {
      throw new RenderError(
        `anchor ${plan.name}'s selector "${plan.anchor.selector}" matches the launcher's own pods; make it more specific`,
      );
    }
  }
}

/** The scopes where anchors live: "*" (every namespace) sorts before any namespace name. */
function planPodAccess(plans: readonly AnchorPlan[]): PodAccess[] {
  const scopes = [...new Set(plans.map((p) => p.anchor.namespace))].sort(compareStrings);
  return scopes.map((scope) => ({
    ...(scope === ALL_NAMESPACES ? {} : { namespace: scope }),
    claims: plans.some((p) => p.anchor.namespace === scope && p.anchor.pick === "claim"),
  }));
}

/** A Service per running workload with a port whose anchor gets generated pods. */
function planServices(
  config: Config,
  running: readonly string[],
  plans: readonly AnchorPlan[],
): ServicePlan[] {
  const services: ServicePlan[] = [];
  const serviceNames = new Map<string, string>();
  for (const workload of running) {
    const { port, anchor: anchorName } = config.workloads[workload];
    const plan = plans.find((p) => p.name === anchorName);
    if (port === undefined || !plan) continue;
    const serviceName = serviceNameFor(workload);
    const key = `${plan.namespace}/${serviceName}`;
    reserveName(
      serviceNames,
      key,
      workload,
      (first) => `workloads ${first} and ${workload} would both be Service ${key}; rename one`,
    );
    services.push({ name: serviceName, namespace: plan.namespace, selector: plan.labels, port });
  }
  return services;
}
