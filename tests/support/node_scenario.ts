/**
 * The k2s albums scenario on the real single node (tests/support/node.ts):
 * `cplauncher render` → a small kustomize overlay → `kubectl apply -k` → the anchor
 * Deployment's pause pod gets a pod IP → the launcher pod finds it with its ServiceAccount
 * token, enters its network namespace and starts the albums service → a client pod calls
 * it. Used by `deno task demo:node` and the tests in tests/node/.
 *
 * The overlay is what a user adds on top of render's folder for their cluster; here it makes
 * the launcher pod run this checkout instead of a built image: the host's `/usr`, the Deno
 * binary and the repository are mounted read-only at their host paths (hostPath), the
 * working folder is the repository, and no image is ever pulled.
 *
 * @module
 */
import { parse as parseYaml, parseAllDocuments, stringify as toYaml } from "yaml";
import { type CommandResult, type KubeNode, NODE_IMAGES, run } from "./node.ts";

/** Repository root, without a trailing slash. */
export const REPO: string = decodeURIComponent(new URL("../../", import.meta.url).pathname)
  .replace(/\/$/, "");
/** The launcher command of the launcher pods (a wrapper running `src/main.ts`). */
export const LAUNCHER_PATH = `${REPO}/tests/node/launcher.sh`;
/** The Linux flavour of the albums config. */
export const ALBUMS_CONFIG = `${REPO}/tests/node/albums.yaml`;

/** A Kubernetes object as parsed from render's output. */
export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  // deno-lint-ignore no-explicit-any -- manifests are free-form JSON
  spec?: any;
  [key: string]: unknown;
}

/** Options of {@linkcode renderAndApply}. */
export interface DeployOptions {
  /** Folder for the overlay; render's folder goes into its `render/`. */
  readonly dir: string;
  /** The config to render. Default {@linkcode ALBUMS_CONFIG}. */
  readonly config?: string;
  /** `render --replicas`. Default 1. */
  readonly replicas?: number;
  /** `render --name`. Default `cplauncher`. */
  readonly name?: string;
  /** Extra JSON patches for the anchor Deployments (kustomize `patches`). */
  readonly anchorPatches?: unknown[];
  /** Apply only these files of render's folder (default: its whole kustomization). */
  readonly only?: string[];
  /** Progress messages. */
  readonly progress?: (message: string) => void;
}

/** What {@linkcode renderAndApply} produced. */
export interface Deployment {
  /** The namespace render put the objects in. */
  readonly namespace: string;
  /** `render --name`. */
  readonly name: string;
  /** The rendered objects, as render wrote them. */
  readonly objects: RenderedObject[];
  /** The `render` command line, for people reading along. */
  readonly renderCommand: string[];
  /** `kubectl apply -k` output. */
  readonly applied: string;
  /** The overlay folder applied. */
  readonly overlay: string;
}

/**
 * Renders the config with the node's images and the launcher wrapper, writes the overlay,
 * creates the namespace and applies everything with `kubectl apply -k`.
 */
export async function renderAndApply(node: KubeNode, options: DeployOptions): Promise<Deployment> {
  const say = options.progress ?? (() => {});
  const name = options.name ?? "cplauncher";
  const overlay = options.dir;
  // Inside the overlay: kustomize takes single files as resources only from below its root.
  const renderDir = `${overlay}/render`;
  await Deno.mkdir(overlay, { recursive: true });
  const renderArgs = [
    "render",
    "-c",
    options.config ?? ALBUMS_CONFIG,
    "--platform",
    "linux",
    "--image",
    NODE_IMAGES.launcher,
    "--launcher-path",
    LAUNCHER_PATH,
    "--pause-image",
    NODE_IMAGES.pause,
    "--replicas",
    String(options.replicas ?? 1),
    "--name",
    name,
    "--out",
    renderDir,
  ];
  const rendered = await run(Deno.execPath(), ["run", "-A", `${REPO}/src/main.ts`, ...renderArgs]);
  if (rendered.code !== 0) throw new Error(`cplauncher render failed: ${rendered.stderr.trim()}`);
  const objects = await readRendered(renderDir);
  const launcher = objects.find((o) => o.kind === "Deployment" && o.metadata.name === name);
  if (!launcher?.metadata.namespace) throw new Error(`render made no launcher Deployment ${name}`);
  const namespace = launcher.metadata.namespace;

  await writeOverlay(
    overlay,
    launcher,
    options.anchorPatches ?? [],
    options.only?.map((file) => `render/${file}`) ?? ["render"],
  );
  const ns = await node.kubectl(["create", "namespace", namespace]);
  if (ns.code !== 0 && !/AlreadyExists/.test(ns.stderr)) {
    throw new Error(`kubectl create namespace ${namespace}: ${ns.stderr.trim()}`);
  }
  say(`kubectl apply -k ${overlay}`);
  const applied = await node.mustKubectl(["apply", "-k", overlay]);
  return {
    namespace,
    name,
    objects,
    renderCommand: ["cplauncher", ...renderArgs],
    applied,
    overlay,
  };
}

/** Reads every object of a rendered folder, in kustomization order. */
async function readRendered(dir: string): Promise<RenderedObject[]> {
  const kustomization = parseYaml(await Deno.readTextFile(`${dir}/kustomization.yaml`)) as {
    resources: string[];
  };
  const objects: RenderedObject[] = [];
  for (const file of kustomization.resources) {
    for (const doc of parseAllDocuments(await Deno.readTextFile(`${dir}/${file}`))) {
      const obj = doc.toJS() as RenderedObject | null;
      if (obj) objects.push(obj);
    }
  }
  return objects;
}

async function writeOverlay(
  overlay: string,
  launcher: RenderedObject,
  anchorPatches: unknown[],
  resources: string[],
): Promise<void> {
  const deno = Deno.execPath();
  const denoDir = deno.slice(0, deno.lastIndexOf("/"));
  const launcherPatch = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: launcher.metadata.name, namespace: launcher.metadata.namespace },
    spec: {
      template: {
        spec: {
          containers: [{
            name: "launcher",
            workingDir: REPO,
            env: [
              {
                name: "PATH",
                value: `${denoDir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin`,
              },
              // Deno's caches, inside the container (the host's stay untouched).
              { name: "DENO_DIR", value: "/tmp/deno" },
              { name: "DENO_NO_UPDATE_CHECK", value: "1" },
            ],
            volumeMounts: [
              { name: "host-usr", mountPath: "/usr", readOnly: true },
              { name: "deno", mountPath: denoDir, readOnly: true },
              { name: "project", mountPath: REPO, readOnly: true },
            ],
          }],
          volumes: [
            { name: "host-usr", hostPath: { path: "/usr", type: "Directory" } },
            { name: "deno", hostPath: { path: denoDir, type: "Directory" } },
            { name: "project", hostPath: { path: REPO, type: "Directory" } },
            // render's code-cache folder on the host (DENO_DIR): an emptyDir here, so the
            // test leaves nothing on this machine's disk.
            { name: "deno-dir", hostPath: null, emptyDir: {} },
          ],
        },
      },
    },
  };
  await Deno.writeTextFile(`${overlay}/launcher-from-host.yaml`, toYaml(launcherPatch));
  const neverPull = [{
    op: "add",
    path: "/spec/template/spec/containers/0/imagePullPolicy",
    value: "Never",
  }];
  const kustomization = {
    apiVersion: "kustomize.config.k8s.io/v1beta1",
    kind: "Kustomization",
    resources,
    patches: [
      // Images exist only in this node's containerd: never try a registry.
      { target: { kind: "Deployment" }, patch: toYaml(neverPull) },
      ...(resources.some((r) => r === "render" || r === "render/launcher.yaml")
        ? [{ path: "launcher-from-host.yaml" }]
        : []),
      ...(anchorPatches.length > 0
        ? [{
          target: { kind: "Deployment", name: `${launcher.metadata.name}-anchor-.*` },
          patch: toYaml(anchorPatches),
        }]
        : []),
    ],
  };
  await Deno.writeTextFile(`${overlay}/kustomization.yaml`, toYaml(kustomization));
}

/** A pod as far as the scenario reads it. */
export interface PodInfo {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  // deno-lint-ignore no-explicit-any -- free-form
  spec: any;
  status: {
    phase?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    // deno-lint-ignore no-explicit-any -- free-form
    containerStatuses?: any[];
  };
}

/** Lists pods matching a label selector. */
export async function listPods(
  node: KubeNode,
  namespace: string,
  selector: string,
): Promise<PodInfo[]> {
  const out = await node.mustKubectl([
    "get",
    "pods",
    "-n",
    namespace,
    "-l",
    selector,
    "-o",
    "json",
  ]);
  return (JSON.parse(out) as { items: PodInfo[] }).items;
}

/** Whether a pod's Ready condition is True. */
export function isPodReady(pod: PodInfo): boolean {
  return (pod.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
}

/** Labels selecting the pods of the anchor Deployment `deployment` in render's output. */
export function anchorSelector(objects: RenderedObject[], deployment: string): string {
  const d = objects.find((o) => o.kind === "Deployment" && o.metadata.name === deployment);
  if (!d) throw new Error(`no Deployment ${deployment} in render's output`);
  return selectorText(d.spec.selector.matchLabels);
}

/** Labels selecting the launcher pods. */
export function launcherSelector(deployment: Deployment): string {
  return anchorSelector(deployment.objects, deployment.name);
}

function selectorText(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${k}=${v}`).join(",");
}

/** Polls `check` until it returns a value (not undefined) or `ms` pass. */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  ms = 120_000,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + ms;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out after ${ms} ms waiting for ${what}${
      lastError
        ? ` (last error: ${lastError instanceof Error ? lastError.message : lastError})`
        : ""
    }`,
  );
}

/** The client pod: busybox, `sleep`, in `namespace`. */
export async function startClient(node: KubeNode, namespace: string): Promise<string> {
  const name = "client";
  await node.mustKubectl(
    ["apply", "-f", "-"],
    toYaml({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace, labels: { app: "client" } },
      spec: {
        terminationGracePeriodSeconds: 0,
        automountServiceAccountToken: false,
        containers: [{
          name: "client",
          image: NODE_IMAGES.busybox,
          imagePullPolicy: "Never",
          command: ["sleep", "86400"],
        }],
      },
    }),
  );
  await waitUntil(`client pod ${namespace}/${name} Ready`, async () => {
    const [pod] = await listPods(node, namespace, "app=client");
    return pod && isPodReady(pod) ? true : undefined;
  });
  return name;
}

/** An HTTP answer as the client pod saw it (status 0: no answer). */
export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

/**
 * An HTTP/1.0 GET from inside the client pod (`kubectl exec … nc`: the wget of Debian 12's
 * busybox-static crashes with SIGSEGV, on the host as well).
 */
export async function httpFromClient(
  node: KubeNode,
  namespace: string,
  url: string,
  timeoutSeconds = 2,
): Promise<HttpAnswer> {
  const { hostname, port, pathname, search } = new URL(url);
  const request = `GET ${pathname}${search} HTTP/1.0\r\nHost: ${hostname}\r\n\r\n`;
  const r: CommandResult = await node.kubectl([
    "exec",
    "-n",
    namespace,
    "client",
    "--",
    "sh",
    "-c",
    `printf '%s' "$1" | nc -w "$2" "$3" "$4"`,
    "sh",
    request,
    String(timeoutSeconds),
    hostname,
    port || "80",
  ]);
  const split = r.stdout.indexOf("\r\n\r\n");
  const head = split < 0 ? r.stdout : r.stdout.slice(0, split);
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
  return { status, body: split < 0 ? "" : r.stdout.slice(split + 4) };
}

/** Polls the URL from the client pod until it answers 200. */
export function waitForHttp200(
  node: KubeNode,
  namespace: string,
  url: string,
  ms = 120_000,
): Promise<HttpAnswer> {
  return waitUntil(
    `HTTP 200 from ${url}`,
    async () => {
      const answer = await httpFromClient(node, namespace, url, 1);
      return answer.status === 200 ? answer : undefined;
    },
    ms,
    200,
  );
}

/** The ClusterIP of a Service. */
export async function clusterIp(
  node: KubeNode,
  namespace: string,
  service: string,
): Promise<string> {
  return (await node.mustKubectl([
    "get",
    "service",
    "-n",
    namespace,
    service,
    "-o",
    "jsonpath={.spec.clusterIP}",
  ])).trim();
}

/** Ready endpoint addresses of a Service, from its EndpointSlices. */
export async function readyEndpoints(
  node: KubeNode,
  namespace: string,
  service: string,
): Promise<string[]> {
  const out = await node.mustKubectl([
    "get",
    "endpointslices",
    "-n",
    namespace,
    "-l",
    `kubernetes.io/service-name=${service}`,
    "-o",
    "json",
  ]);
  const slices = JSON.parse(out) as {
    items: { endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] }[];
  };
  return slices.items.flatMap((s) => s.endpoints ?? [])
    .filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses).sort();
}

/** The logs of a pod's container so far. */
export async function podLogs(node: KubeNode, namespace: string, pod: string): Promise<string> {
  const r = await node.kubectl(["logs", "-n", namespace, pod]);
  return r.stdout + r.stderr;
}

/** Removes the namespace and waits until its pods are gone. */
export async function deleteNamespace(node: KubeNode, namespace: string): Promise<void> {
  await node.kubectl(["delete", "namespace", namespace, "--wait=true", "--timeout=120s"]);
}

/**
 * Writes a variant of the albums config to `path`: `change` edits the parsed config (e.g.
 * another namespace, `pick: claim`), the rest stays as in {@linkcode ALBUMS_CONFIG}.
 */
export async function writeAlbumsVariant(
  path: string,
  // deno-lint-ignore no-explicit-any -- the config as parsed YAML
  change: (config: any) => void,
): Promise<string> {
  const config = parseYaml(await Deno.readTextFile(ALBUMS_CONFIG));
  change(config);
  await Deno.writeTextFile(path, toYaml(config));
  return path;
}

/** One ServiceAccount request in the apiserver's audit log (see the node's audit policy). */
export interface AuditedRequest {
  readonly verb: string;
  readonly requestURI: string;
  readonly username: string;
  /** The pod the token is bound to. */
  readonly pod?: string;
  /** `JTI=<token id>`: which token authenticated the request. */
  readonly credentialId?: string;
  readonly time: string;
  readonly code?: number;
}

/** The ServiceAccount requests audited so far, oldest first. */
export async function auditedRequests(node: KubeNode): Promise<AuditedRequest[]> {
  const text = await Deno.readTextFile(`${node.dir}/logs/audit.log`).catch(() => "");
  return text.split("\n").filter(Boolean).map((line) => {
    const e = JSON.parse(line);
    const extra = e.user?.extra ?? {};
    return {
      verb: e.verb,
      requestURI: e.requestURI,
      username: e.user?.username ?? "",
      pod: extra["authentication.kubernetes.io/pod-name"]?.[0],
      credentialId: extra["authentication.kubernetes.io/credential-id"]?.[0],
      time: e.requestReceivedTimestamp,
      code: e.responseStatus?.code,
    };
  });
}

/** The claims of the ServiceAccount token projected into a pod (read with `kubectl exec`). */
export async function projectedTokenClaims(
  node: KubeNode,
  namespace: string,
  pod: string,
  // deno-lint-ignore no-explicit-any -- JWT claims
): Promise<any> {
  const token = (await node.mustKubectl([
    "exec",
    "-n",
    namespace,
    pod,
    "--",
    "cat",
    "/var/run/secrets/kubernetes.io/serviceaccount/token",
  ])).trim();
  const payload = token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
  return JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, "=")));
}

/** Host pid of a pod's first container, from containerd's task list. */
export async function containerPid(node: KubeNode, pod: PodInfo): Promise<number> {
  const id = String(pod.status.containerStatuses?.[0]?.containerID ?? "").replace(
    /^containerd:\/\//,
    "",
  );
  if (!id) throw new Error(`pod ${pod.metadata.name} has no container id yet`);
  const tasks = await node.ctr(["-n", "k8s.io", "tasks", "ls"]);
  for (const line of tasks.stdout.split("\n")) {
    const [task, pid] = line.trim().split(/\s+/);
    if (task === id) return Number(pid);
  }
  throw new Error(`containerd has no task for container ${id} of pod ${pod.metadata.name}`);
}
