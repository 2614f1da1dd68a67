/**
 * Builders of the objects `render` generates, one per kind of object. Each takes the
 * validated {@linkcode RenderPlan} and returns plain objects; none of them can fail. Keys
 * are written in output order.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { containsPlaceholder } from "./config.ts";
import { compareStrings } from "./names.ts";
import type { AnchorPlan, PodAccess, RenderPlan, ServicePlan } from "./plan.ts";
import {
  CONFIG_DIGEST_ANNOTATION,
  CONFIG_KEY,
  CONFIG_MOUNT_PATH,
  type KubeObject,
  POD_VARIABLES,
  type RenderPlatform,
  WINDOWS_TOLERATION,
} from "./types.ts";

type Json = Record<string, unknown>;
type Labels = Readonly<Record<string, string>>;

const RBAC_API = "rbac.authorization.k8s.io";

/** Metadata of a generated object; without `namespace` for cluster-scoped objects. */
function objectMeta(plan: RenderPlan, name: string, namespace?: string): KubeObject["metadata"] {
  return {
    name,
    ...(namespace === undefined ? {} : { namespace }),
    labels: { ...plan.commonLabels },
  };
}

/**
 * Name of the ClusterRole and ClusterRoleBinding. Cluster-wide names are shared by every
 * namespace, so the launcher's namespace is part of it: two renders with the same `name` in
 * different namespaces must not take each other's binding.
 */
export function clusterRoleName(plan: RenderPlan): string {
  return `${plan.namespace}:${plan.name}`;
}

/** The ServiceAccount, then a role and its binding per scope where anchors live. */
export function rbacObjects(plan: RenderPlan): KubeObject[] {
  return [
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: objectMeta(plan, plan.name, plan.namespace),
    },
    ...plan.podAccess.flatMap((access) => podAccessObjects(plan, access)),
  ];
}

/**
 * Reading pods (and patching them where an anchor claims) in one scope: a Role and
 * RoleBinding in a namespace, or a ClusterRole and ClusterRoleBinding for every namespace.
 */
function podAccessObjects(plan: RenderPlan, access: PodAccess): KubeObject[] {
  const cluster = access.namespace === undefined;
  const kind = cluster ? "ClusterRole" : "Role";
  const roleName = cluster ? clusterRoleName(plan) : plan.name;
  return [
    {
      apiVersion: `${RBAC_API}/v1`,
      kind,
      metadata: objectMeta(plan, roleName, access.namespace),
      rules: [{
        apiGroups: [""],
        resources: ["pods"],
        verbs: access.claims ? ["get", "list", "patch", "watch"] : ["get", "list", "watch"],
      }],
    },
    {
      apiVersion: `${RBAC_API}/v1`,
      kind: `${kind}Binding`,
      metadata: objectMeta(plan, roleName, access.namespace),
      roleRef: { apiGroup: RBAC_API, kind, name: roleName },
      subjects: [{ kind: "ServiceAccount", name: plan.name, namespace: plan.namespace }],
    },
  ];
}

/** Name of the ConfigMap holding the config. */
export function configMapName(plan: RenderPlan): string {
  return `${plan.name}-config`;
}

/** The ConfigMap holding the config text as written. */
export function configMapObject(plan: RenderPlan): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: objectMeta(plan, configMapName(plan), plan.namespace),
    data: { [CONFIG_KEY]: plan.configText },
  };
}

/** The start of every generated pod spec: the target OS, and on Windows its toleration. */
export function podSpecBase(platform: RenderPlatform): Json {
  return {
    os: { name: platform },
    nodeSelector: { "kubernetes.io/os": platform },
    ...(platform === "windows" ? { tolerations: [{ ...WINDOWS_TOLERATION }] } : {}),
  };
}

/** A required same-node affinity term to the generated pods of `anchor`. */
function affinityTerm(anchor: AnchorPlan): Json {
  return {
    labelSelector: { matchLabels: { ...anchor.podLabels } },
    namespaces: [anchor.namespace],
    topologyKey: "kubernetes.io/hostname",
  };
}

interface DeploymentParts {
  readonly metadata: KubeObject["metadata"];
  readonly replicas: number;
  /** Labels of the pods, also the Deployment's selector. */
  readonly podLabels: Labels;
  readonly strategy?: Json;
  readonly podAnnotations?: Labels;
  readonly podSpec: Json;
}

function deploymentObject(parts: DeploymentParts): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: parts.metadata,
    spec: {
      replicas: parts.replicas,
      selector: { matchLabels: { ...parts.podLabels } },
      ...(parts.strategy ? { strategy: parts.strategy } : {}),
      template: {
        metadata: {
          labels: { ...parts.podLabels },
          ...(parts.podAnnotations ? { annotations: { ...parts.podAnnotations } } : {}),
        },
        spec: parts.podSpec,
      },
    },
  };
}

/**
 * The Deployment of pause pods for the `index`th anchor of the plan. All anchors of a
 * launcher must share its node, so every anchor after the first follows the first one.
 */
export function anchorDeployment(plan: RenderPlan, index: number): KubeObject {
  const anchor = plan.anchors[index];
  const spec: Json = { ...podSpecBase(plan.platform), automountServiceAccountToken: false };
  const affinity: Json = {};
  const node = anchor.anchor.node;
  if (node !== undefined && !containsPlaceholder(node)) {
    // A fixed `node:` in the config: the anchor pods must run there to be found.
    affinity.nodeAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{
          matchFields: [{ key: "metadata.name", operator: "In", values: [node] }],
        }],
      },
    };
  }
  if (index > 0) {
    affinity.podAffinity = {
      requiredDuringSchedulingIgnoredDuringExecution: [affinityTerm(plan.anchors[0])],
    };
  }
  if (Object.keys(affinity).length > 0) spec.affinity = affinity;
  spec.containers = [{
    name: "pause",
    image: plan.pauseImage,
    resources: { requests: { cpu: "10m", memory: "16Mi" } },
    ...(anchor.ports.length > 0
      ? {
        ports: anchor.ports.map((port) => ({ containerPort: port, protocol: "TCP" })),
        readinessProbe: workloadPortProbe(anchor.ports[0]),
      }
      : {}),
  }];
  return deploymentObject({
    metadata: objectMeta(plan, anchor.deployment, anchor.namespace),
    replicas: plan.replicas,
    podLabels: anchor.podLabels,
    // exactly-one: a surge pod would make two matches and fail resolution.
    ...(anchor.anchor.pick === "exactly-one" ? { strategy: { type: "Recreate" } } : {}),
    ...(Object.keys(plan.anchorAnnotations).length > 0
      ? { podAnnotations: plan.anchorAnnotations }
      : {}),
    podSpec: spec,
  });
}

/**
 * The anchor's readinessProbe: a TCP connect to the workload's port on the pod IP, which lands
 * in the anchor's own network, where the workload listens. The anchor, and so every Service
 * selecting it, is Ready only once the workload accepts connections (the launcher still takes
 * a started anchor that is not Ready yet). With several workload ports the lowest one counts.
 */
function workloadPortProbe(port: number): Json {
  return { tcpSocket: { port }, periodSeconds: 5, failureThreshold: 1 };
}

/** Directory to mount for a static netns path, or undefined for /proc paths (hostPID). */
function netnsDirectory(path: string): string | undefined {
  if (!path.includes("/")) return "/var/run/netns"; // a bare `ip netns` name
  if (path.startsWith("/proc/")) return undefined;
  const dir = path.slice(0, path.lastIndexOf("/"));
  return dir === "" ? "/" : dir;
}

/**
 * Where the launcher keeps Deno's code cache (`DENO_DIR`): a host folder, so a restarted
 * launcher does not compile its code again (a HostProcess container sees the host's disk; on
 * Linux the folder is mounted from the host).
 */
const LAUNCHER_DENO_DIR: Readonly<Record<RenderPlan["platform"], string>> = {
  windows: "C:\\var\\lib\\cplauncher\\deno",
  linux: "/var/lib/cplauncher/deno",
};

/** The launcher container: `run -c <mounted config>`, probes, mounts. */
function launcherContainer(plan: RenderPlan): { container: Json; volumes: Json[] } {
  const { config, platform } = plan;
  const configPath = platform === "windows"
    ? `%CONTAINER_SANDBOX_MOUNT_POINT%${CONFIG_MOUNT_PATH.replaceAll("/", "\\")}\\${CONFIG_KEY}`
    : `${CONFIG_MOUNT_PATH}/${CONFIG_KEY}`;
  const command = [plan.launcherPath, "run", "-c", configPath];
  if (plan.skipped.length > 0) command.push("-w", ...plan.running);

  const env: Json[] = [
    { name: "DENO_DIR", value: LAUNCHER_DENO_DIR[platform] },
    ...Object.entries(POD_VARIABLES).sort(([a], [b]) => compareStrings(a, b)).map((
      [variable, fieldPath],
    ) => ({ name: variable, valueFrom: { fieldRef: { fieldPath } } })),
  ];

  const container: Json = { name: "launcher", image: plan.image, command, env };
  if (config.health) {
    const { port, address } = config.health;
    container.ports = [{ name: "health", containerPort: port, hostPort: port, protocol: "TCP" }];
    // The kubelet probes the pod IP (the node's, with host network) unless told otherwise.
    const wildcard = ["0.0.0.0", "::", "[::]", ""].includes(address);
    const probe = (path: string, periodSeconds: number) => ({
      httpGet: { ...(wildcard ? {} : { host: address }), path, port },
      periodSeconds,
      timeoutSeconds: 5,
      failureThreshold: 3,
    });
    container.readinessProbe = probe("/readyz", 10);
    container.livenessProbe = probe("/healthz", 20);
  }
  const volumeMounts: Json[] = [{ name: "config", mountPath: CONFIG_MOUNT_PATH, readOnly: true }];
  const volumes: Json[] = [{ name: "config", configMap: { name: configMapName(plan) } }];
  if (platform === "linux") {
    container.securityContext = { privileged: true };
    const denoDir = LAUNCHER_DENO_DIR.linux;
    volumeMounts.push({ name: "deno-dir", mountPath: denoDir });
    volumes.push({ name: "deno-dir", hostPath: { path: denoDir, type: "DirectoryOrCreate" } });
    const dirs = [
      ...new Set(plan.staticNetns.map(netnsDirectory).filter((d): d is string => !!d)),
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
  return { container, volumes };
}

/**
 * The launcher Deployment: HostProcess (Windows) or privileged with hostPID (Linux), host
 * network, next to every anchor it enters.
 */
export function launcherDeployment(plan: RenderPlan): KubeObject {
  const { platform } = plan;
  const { container, volumes } = launcherContainer(plan);
  // Time for every workload's own stopTimeout after SIGTERM, plus a margin.
  const stopMs = Math.max(0, ...plan.running.map((w) => plan.config.workloads[w].stopTimeout));
  const grace = Math.max(30, Math.ceil(stopMs / 1000) + 10);

  const spec: Json = { ...podSpecBase(platform), serviceAccountName: plan.name };
  if (plan.anchors.length === 0) spec.automountServiceAccountToken = false;
  spec.hostNetwork = true;
  if (platform === "windows") {
    spec.securityContext = {
      windowsOptions: { hostProcess: true, runAsUserName: "NT AUTHORITY\\SYSTEM" },
    };
  } else {
    spec.hostPID = true;
    spec.dnsPolicy = "ClusterFirstWithHostNet";
  }
  if (plan.anchors.length > 0) {
    spec.affinity = {
      podAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: plan.anchors.map(affinityTerm),
      },
    };
  }
  spec.terminationGracePeriodSeconds = grace;
  spec.containers = [container];
  spec.volumes = volumes;

  return deploymentObject({
    metadata: objectMeta(plan, plan.name, plan.namespace),
    replicas: plan.replicas,
    podLabels: plan.launcherLabels,
    // One launcher per node when it has a host port; a surge pod could never schedule.
    strategy: { type: "Recreate" },
    podAnnotations: {
      [CONFIG_DIGEST_ANNOTATION]: createHash("sha256").update(plan.configText).digest("hex"),
    },
    podSpec: spec,
  });
}

/** The Service of a workload, selecting its anchor's pods on the workload's port. */
export function serviceObject(plan: RenderPlan, service: ServicePlan): KubeObject {
  const { port } = service;
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: objectMeta(plan, service.name, service.namespace),
    spec: {
      selector: { ...service.selector },
      ports: [{ name: `tcp-${port}`, port, targetPort: port, protocol: "TCP" }],
    },
  };
}
