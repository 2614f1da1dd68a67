/**
 * `render`: a config → the Kubernetes objects that run it. Pure: reads no files, contacts
 * nothing; the same options always give the same objects in the same order.
 *
 * What is generated, for a launcher named NAME:
 * - ServiceAccount NAME in the launcher namespace; in every anchor namespace a Role NAME
 *   (pods get/list/watch, plus patch when an anchor there uses `pick: claim`) and a
 *   RoleBinding NAME to the ServiceAccount.
 * - ConfigMap NAME-config holding the config text as written.
 * - For each selector anchor used by a workload: Deployment NAME-anchor-ANCHOR of pause
 *   containers carrying the selector's labels.
 * - Deployment NAME, the launcher: HostProcess (Windows) or privileged with hostPID
 *   (Linux), host network, `run -c <mounted config>`.
 * - A Service per workload with a `port`, selecting its anchor pods.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { type Anchor, type Config, selectorMatches } from "../config/mod.ts";
import { containsPlaceholder, parseConfigForRender } from "./config.ts";
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
  ANCHOR_LABEL,
  CONFIG_DIGEST_ANNOTATION,
  CONFIG_KEY,
  CONFIG_MOUNT_PATH,
  DEFAULT_IMAGE,
  DEFAULT_LAUNCHER_PATH,
  DEFAULT_NAME,
  DEFAULT_PAUSE_IMAGE,
  INSTANCE_LABEL,
  type KubeObject,
  POD_VARIABLES,
  RenderError,
  type RenderFile,
  type RenderOptions,
  type RenderPlatform,
  type RenderResult,
  WINDOWS_TOLERATION,
} from "./types.ts";

type SelectorAnchor = Anchor & { kind: "selector" };
type Json = Record<string, unknown>;

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

/** One anchor that gets generated pods. */
interface AnchorPlan {
  readonly name: string;
  readonly anchor: SelectorAnchor;
  /** Labels from the selector. */
  readonly labels: Record<string, string>;
  /** Labels of the generated pods (selector labels plus ours), also the Deployment selector. */
  readonly podLabels: Record<string, string>;
  readonly deployment: string;
  /** Workload ports served in this anchor, ascending. */
  readonly ports: number[];
}

/**
 * Generates the objects for a config.
 *
 * @throws {ConfigError} when the config text is invalid (positioned issues).
 * @throws {RenderError} when the config or an option cannot be rendered (one line).
 */
export function render(options: RenderOptions): RenderResult {
  const file = options.configFile ?? "<string>";
  const env = options.env ?? (() => undefined);
  const parsed = parseConfigForRender(options.configText, file, env);
  const { config } = parsed;
  const warnings: string[] = [];

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

  // Workloads this platform can run; the others are left out of the launcher's command.
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
  const usedAnchors = [...new Set(running.map((w) => config.workloads[w].anchor))].sort(
    compareStrings,
  );
  for (const anchorName of Object.keys(config.anchors).sort(compareStrings)) {
    if (!usedAnchors.includes(anchorName) && anchorFits(config.anchors[anchorName], platform)) {
      warnings.push(`anchor ${anchorName} is used by no workload; nothing is generated for it`);
    }
  }

  if (replicas > 1) {
    for (const anchorName of usedAnchors) {
      const anchor = config.anchors[anchorName];
      if (anchor.kind !== "selector") {
        throw new RenderError(
          `${replicas} replicas pair ${replicas} launchers with ${replicas} anchors through pick: claim, but anchor ${anchorName} is ${
            describeStatic(anchor)
          }; render 1 replica`,
        );
      }
      if (anchor.pick !== "claim") {
        throw new RenderError(
          `${replicas} replicas pair ${replicas} launchers with ${replicas} anchors through pick: claim, but anchor ${anchorName} uses pick: ${anchor.pick}; set pick: claim or render 1 replica`,
        );
      }
    }
  }

  // Selector anchors → generated pods.
  const plans: AnchorPlan[] = [];
  const deploymentNames = new Map<string, string>();
  for (const anchorName of usedAnchors) {
    const anchor = config.anchors[anchorName];
    if (anchor.kind !== "selector") continue;
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
    const deployment = `${name}-anchor-${dnsLabelFor("anchor", anchorName)}`;
    const clash = deploymentNames.get(`${anchor.namespace}/${deployment}`);
    if (clash) {
      throw new RenderError(
        `anchors ${clash} and ${anchorName} would both be Deployment ${anchor.namespace}/${deployment}; rename one`,
      );
    }
    deploymentNames.set(`${anchor.namespace}/${deployment}`, anchorName);
    const ports = [
      ...new Set(
        running.filter((w) => config.workloads[w].anchor === anchorName)
          .map((w) => config.workloads[w].port)
          .filter((p): p is number => p !== undefined),
      ),
    ].sort((a, b) => a - b);
    plans.push({
      name: anchorName,
      anchor,
      labels,
      podLabels: sortedRecord({ ...labels, [ANCHOR_LABEL]: anchorName, [INSTANCE_LABEL]: name }),
      deployment,
      ports,
    });
    if (anchor.node === undefined) {
      warnings.push(
        `anchor ${anchorName} has no node: \${NODE_NAME}; a launcher may pick an anchor pod on another node, whose network it cannot enter`,
      );
    }
  }

  const anchorNamespaces = [...new Set(plans.map((p) => p.anchor.namespace))].sort(
    compareStrings,
  );
  let namespace = options.namespace;
  if (namespace === undefined) {
    if (anchorNamespaces.length > 1) {
      throw new RenderError(
        `anchors live in several namespaces (${
          anchorNamespaces.join(", ")
        }); choose the launcher's namespace`,
      );
    }
    namespace = anchorNamespaces[0] ?? "default";
  } else if (!isDnsLabel(namespace)) {
    throw new RenderError(
      `namespace "${namespace}" is not a Kubernetes namespace name (lowercase letters, digits and '-')`,
    );
  }

  const launcherLabels = sortedRecord({
    "app.kubernetes.io/component": "launcher",
    "app.kubernetes.io/instance": name,
    "app.kubernetes.io/name": "cplauncher",
  });
  // Generated pods must match exactly their own anchor's selector.
  for (const plan of plans) {
    const requirements = selectorRequirements(plan.anchor.selector);
    for (const other of plans) {
      if (other === plan || other.anchor.namespace !== plan.anchor.namespace) continue;
      if (selectorMatches(requirements, other.podLabels)) {
        throw new RenderError(
          `anchor ${plan.name}'s selector "${plan.anchor.selector}" also matches the pods generated for anchor ${other.name}; make the selectors distinct`,
        );
      }
    }
    if (plan.anchor.namespace === namespace && selectorMatches(requirements, launcherLabels)) {
      throw new RenderError(
        `anchor ${plan.name}'s selector "${plan.anchor.selector}" matches the launcher's own pods; make it more specific`,
      );
    }
  }

  if (
    plans.length > 0 && !["auto", "in-cluster"].includes(config.kubernetes.kubeconfig) &&
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

  const common = sortedRecord({
    "app.kubernetes.io/managed-by": "cplauncher",
    "app.kubernetes.io/part-of": name,
  });
  const meta = (objectName: string, ns: string) => ({
    name: objectName,
    namespace: ns,
    labels: { ...common },
  });

  // RBAC: read pods where anchors live; patch only where an anchor claims.
  const rbac: KubeObject[] = [{
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: meta(name, namespace),
  }];
  for (const ns of anchorNamespaces) {
    const claims = plans.some((p) => p.anchor.namespace === ns && p.anchor.pick === "claim");
    rbac.push({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: meta(name, ns),
      rules: [{
        apiGroups: [""],
        resources: ["pods"],
        verbs: claims ? ["get", "list", "patch", "watch"] : ["get", "list", "watch"],
      }],
    });
    rbac.push({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: meta(name, ns),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace }],
    });
  }

  const configMapName = `${name}-config`;
  const configMap: KubeObject = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta(configMapName, namespace),
    data: { [CONFIG_KEY]: options.configText },
  };

  const osSelector = { "kubernetes.io/os": platform };
  const anchors: KubeObject[] = plans.map((plan, index) => {
    const podAnnotations = sortedRecord(annotations);
    const first = plans[0];
    const spec: Json = {
      os: { name: platform },
      nodeSelector: { ...osSelector },
      ...(platform === "windows" ? { tolerations: [{ ...WINDOWS_TOLERATION }] } : {}),
      automountServiceAccountToken: false,
    };
    const affinity: Json = {};
    if (plan.anchor.node !== undefined && !containsPlaceholder(plan.anchor.node)) {
      // A fixed `node:` in the config: the anchor pods must run there to be found.
      affinity.nodeAffinity = {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{
            matchFields: [{ key: "metadata.name", operator: "In", values: [plan.anchor.node] }],
          }],
        },
      };
    }
    if (index > 0) {
      // All anchors of a launcher must share its node: follow the first anchor.
      affinity.podAffinity = {
        requiredDuringSchedulingIgnoredDuringExecution: [affinityTerm(first)],
      };
    }
    if (Object.keys(affinity).length > 0) spec.affinity = affinity;
    spec.containers = [{
      name: "pause",
      image: pauseImage,
      resources: { requests: { cpu: "10m", memory: "16Mi" } },
      ...(plan.ports.length > 0
        ? { ports: plan.ports.map((port) => ({ containerPort: port, protocol: "TCP" })) }
        : {}),
    }];
    return {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta(plan.deployment, plan.anchor.namespace),
      spec: {
        replicas,
        selector: { matchLabels: { ...plan.podLabels } },
        // exactly-one: a surge pod would make two matches and fail resolution.
        ...(plan.anchor.pick === "exactly-one" ? { strategy: { type: "Recreate" } } : {}),
        template: {
          metadata: {
            labels: { ...plan.podLabels },
            ...(Object.keys(podAnnotations).length > 0 ? { annotations: podAnnotations } : {}),
          },
          spec,
        },
      },
    };
  });

  const launcher = launcherDeployment({
    config,
    name,
    namespace,
    platform,
    image,
    launcherPath,
    replicas,
    labels: launcherLabels,
    metadata: meta(name, namespace),
    configMapName,
    digest: createHash("sha256").update(options.configText).digest("hex"),
    running,
    filter: skipped.length > 0,
    anchorPlans: plans,
    staticNetns: usedAnchors.map((a) => config.anchors[a]).flatMap((a) =>
      a.kind === "netns" ? [a.netns] : []
    ),
  });

  const services: KubeObject[] = [];
  const serviceNames = new Map<string, string>();
  for (const workload of running) {
    const { port, anchor: anchorName } = config.workloads[workload];
    const plan = plans.find((p) => p.name === anchorName);
    if (port === undefined || !plan) continue;
    const serviceName = serviceNameFor(workload);
    const key = `${plan.anchor.namespace}/${serviceName}`;
    const clash = serviceNames.get(key);
    if (clash) {
      throw new RenderError(
        `workloads ${clash} and ${workload} would both be Service ${key}; rename one`,
      );
    }
    serviceNames.set(key, workload);
    services.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: meta(serviceName, plan.anchor.namespace),
      spec: {
        selector: { ...plan.labels },
        ports: [{ name: `tcp-${port}`, port, targetPort: port, protocol: "TCP" }],
      },
    });
  }

  const files: RenderFile[] = [
    { name: "rbac.yaml", objects: rbac },
    { name: "config.yaml", objects: [configMap] },
    ...(anchors.length > 0 ? [{ name: "anchors.yaml", objects: anchors }] : []),
    { name: "launcher.yaml", objects: [launcher] },
    ...(services.length > 0 ? [{ name: "services.yaml", objects: services }] : []),
  ];
  return { platform, objects: files.flatMap((f) => f.objects), files, warnings };
}

function nonEmpty(what: string, value: string): string {
  if (value.trim() === "") throw new RenderError(`${what} must not be empty`);
  return value;
}

/** A required same-node affinity term to the generated pods of `plan`. */
function affinityTerm(plan: AnchorPlan): Json {
  return {
    labelSelector: { matchLabels: { ...plan.podLabels } },
    namespaces: [plan.anchor.namespace],
    topologyKey: "kubernetes.io/hostname",
  };
}

interface LauncherInput {
  readonly config: Config;
  readonly name: string;
  readonly namespace: string;
  readonly platform: RenderPlatform;
  readonly image: string;
  readonly launcherPath: string;
  readonly replicas: number;
  readonly labels: Record<string, string>;
  readonly metadata: KubeObject["metadata"];
  readonly configMapName: string;
  readonly digest: string;
  /** Workloads the launcher runs. */
  readonly running: readonly string[];
  /** Whether some are left out, so `run` needs `-w` with the others. */
  readonly filter: boolean;
  readonly anchorPlans: readonly AnchorPlan[];
  readonly staticNetns: readonly string[];
}

/** Directory to mount for a static netns path, or undefined for /proc paths (hostPID). */
function netnsDirectory(path: string): string | undefined {
  if (!path.includes("/")) return "/var/run/netns"; // a bare `ip netns` name
  if (path.startsWith("/proc/")) return undefined;
  const dir = path.slice(0, path.lastIndexOf("/"));
  return dir === "" ? "/" : dir;
}

function launcherDeployment(input: LauncherInput): KubeObject {
  const { config, platform } = input;
  const configPath = platform === "windows"
    ? `%CONTAINER_SANDBOX_MOUNT_POINT%${CONFIG_MOUNT_PATH.replaceAll("/", "\\")}\\${CONFIG_KEY}`
    : `${CONFIG_MOUNT_PATH}/${CONFIG_KEY}`;
  const command = [input.launcherPath, "run", "-c", configPath];
  if (input.filter) command.push("-w", ...input.running);

  const env = Object.entries(POD_VARIABLES).sort(([a], [b]) => compareStrings(a, b)).map((
    [variable, fieldPath],
  ) => ({ name: variable, valueFrom: { fieldRef: { fieldPath } } }));

  const container: Json = { name: "launcher", image: input.image, command, env };
  if (config.health) {
    const { port, address } = config.health;
    container.ports = [{ name: "health", containerPort: port, hostPort: port, protocol: "TCP" }];
    // The kubelet probes the pod IP (the node's, with host network) unless told otherwise.
    const wildcard = ["0.0.0.0", "::", "[::]", ""].includes(address);
    const httpGet = (path: string) => ({ ...(wildcard ? {} : { host: address }), path, port });
    container.readinessProbe = {
      httpGet: httpGet("/readyz"),
      periodSeconds: 10,
      timeoutSeconds: 5,
      failureThreshold: 3,
    };
    container.livenessProbe = {
      httpGet: httpGet("/healthz"),
      periodSeconds: 20,
      timeoutSeconds: 5,
      failureThreshold: 3,
    };
  }
  const volumeMounts: Json[] = [{ name: "config", mountPath: CONFIG_MOUNT_PATH, readOnly: true }];
  const volumes: Json[] = [{ name: "config", configMap: { name: input.configMapName } }];
  if (platform === "linux") {
    container.securityContext = { privileged: true };
    const dirs = [
      ...new Set(input.staticNetns.map(netnsDirectory).filter((d): d is string => !!d)),
    ].sort(compareStrings);
    dirs.forEach((dir, i) => {
      const volume = `netns-${i}`;
      volumeMounts.push({
        name: volume,
        mountPath: dir,
        readOnly: true,
        mountPropagation: "HostToContainer",
      });
      volumes.push({ name: volume, hostPath: { path: dir, type: "DirectoryOrCreate" } });
    });
  }
  container.volumeMounts = volumeMounts;

  // Time for every workload's own stopTimeout after SIGTERM, plus a margin.
  const stopMs = Math.max(0, ...input.running.map((w) => config.workloads[w].stopTimeout));
  const grace = Math.max(30, Math.ceil(stopMs / 1000) + 10);

  const spec: Json = {
    os: { name: platform },
    nodeSelector: { "kubernetes.io/os": platform },
    ...(platform === "windows" ? { tolerations: [{ ...WINDOWS_TOLERATION }] } : {}),
    serviceAccountName: input.name,
  };
  if (input.anchorPlans.length === 0) spec.automountServiceAccountToken = false;
  spec.hostNetwork = true;
  if (platform === "windows") {
    spec.securityContext = {
      windowsOptions: { hostProcess: true, runAsUserName: "NT AUTHORITY\\SYSTEM" },
    };
  } else {
    spec.hostPID = true;
    spec.dnsPolicy = "ClusterFirstWithHostNet";
  }
  if (input.anchorPlans.length > 0) {
    spec.affinity = {
      podAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: input.anchorPlans.map(affinityTerm),
      },
    };
  }
  spec.terminationGracePeriodSeconds = grace;
  spec.containers = [container];
  spec.volumes = volumes;

  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: input.metadata,
    spec: {
      replicas: input.replicas,
      selector: { matchLabels: { ...input.labels } },
      // One launcher per node when it has a host port; a surge pod could never schedule.
      strategy: { type: "Recreate" },
      template: {
        metadata: {
          labels: { ...input.labels },
          annotations: { [CONFIG_DIGEST_ANNOTATION]: input.digest },
        },
        spec,
      },
    },
  };
}
