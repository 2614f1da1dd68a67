/**
 * Server-side dry runs of rendered objects against the real test kube-apiserver
 * (tests/support/kube_cluster.ts): `POST …?dryRun=All` of each object, and of a Pod made
 * from each Deployment's pod template (pod validation and admission are stricter than a
 * Deployment's). Collects the apiserver's `Warning` headers too.
 *
 * @module
 */
import type { KubeCluster } from "../support/kube_cluster.ts";
import type { KubeObject } from "../../src/render/mod.ts";

/** The answer to one dry-run request. */
export interface DryRunOutcome {
  /** `Kind namespace/name` (pods made from templates: `Pod (template of Deployment ns/name)`). */
  readonly object: string;
  readonly status: number;
  /** The apiserver's message when it refused. */
  readonly message?: string;
  /** `Warning` response headers (deprecations, ignored fields…). */
  readonly warnings: readonly string[];
}

const PLURALS: Record<string, string> = {
  ClusterRole: "clusterroles",
  ClusterRoleBinding: "clusterrolebindings",
  ConfigMap: "configmaps",
  Deployment: "deployments",
  Pod: "pods",
  Role: "roles",
  RoleBinding: "rolebindings",
  Service: "services",
  ServiceAccount: "serviceaccounts",
};

/** Kinds that live outside namespaces. */
const CLUSTER_SCOPED = new Set(["ClusterRole", "ClusterRoleBinding"]);

/** The collection URL an object is created at. */
export function collectionPath(object: KubeObject): string {
  const plural = PLURALS[object.kind];
  if (!plural) throw new Error(`no REST path known for kind ${object.kind}`);
  const base = object.apiVersion === "v1" ? "/api/v1" : `/apis/${object.apiVersion}`;
  if (CLUSTER_SCOPED.has(object.kind)) return `${base}/${plural}`;
  const ns = object.metadata.namespace ?? "default";
  return `${base}/namespaces/${ns}/${plural}`;
}

/** `Kind namespace/name`, or `Kind name` for a cluster-scoped object. */
function describe(object: KubeObject): string {
  const { namespace, name } = object.metadata;
  return `${object.kind} ${namespace === undefined ? name : `${namespace}/${name}`}`;
}

/** A client that sends requests as the cluster admin and exposes response headers. */
export class AdminClient {
  readonly #server: string;
  readonly #client: Deno.HttpClient;

  private constructor(server: string, client: Deno.HttpClient) {
    this.#server = server;
    this.#client = client;
  }

  /** Reads the admin certificate the cluster generated. */
  static async for(cluster: KubeCluster): Promise<AdminClient> {
    const pki = `${cluster.dir}/pki`;
    const client = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(`${pki}/ca.crt`)],
      cert: await Deno.readTextFile(`${pki}/admin.crt`),
      key: await Deno.readTextFile(`${pki}/admin.key`),
    });
    return new AdminClient(cluster.server, client);
  }

  /** POSTs `object` to `path` and returns status, message and warnings. */
  async post(path: string, object: unknown, label: string): Promise<DryRunOutcome> {
    const res = await fetch(`${this.#server}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(object),
      client: this.#client,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let message: string | undefined;
    if (!res.ok) {
      try {
        message = JSON.parse(text).message;
      } catch {
        message = text;
      }
    }
    const warnings = (res.headers.get("warning") ?? "").split(/,(?=\s*\d{3} )/).map((w) => w.trim())
      .filter(Boolean);
    return { object: label, status: res.status, ...(message ? { message } : {}), warnings };
  }

  /** Closes the connection pool. */
  close(): void {
    this.#client.close();
  }
}

/** Creates the namespaces the objects live in, unless they exist. */
export async function ensureNamespaces(
  cluster: KubeCluster,
  objects: readonly KubeObject[],
): Promise<void> {
  const namespaces = new Set(
    objects.filter((o) => !CLUSTER_SCOPED.has(o.kind)).map((o) =>
      o.metadata.namespace ?? "default"
    ),
  );
  for (const ns of [...namespaces].sort()) {
    const res = await cluster.api("GET", `/api/v1/namespaces/${ns}`);
    if (res.status === 404) await cluster.createNamespace(ns);
    else if (!res.ok) throw new Error(`GET namespace ${ns}: ${res.status}`);
  }
}

/** The Pod a Deployment's template would make (named after the Deployment). */
export function podFromTemplate(deployment: KubeObject): KubeObject {
  const spec = deployment.spec as { template: { metadata: KubeObject["metadata"]; spec: unknown } };
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      ...spec.template.metadata,
      name: `${deployment.metadata.name}-dry-run`,
      namespace: deployment.metadata.namespace,
    },
    spec: spec.template.spec,
  };
}

const DRY_RUN = "?dryRun=All&fieldValidation=Strict";

/**
 * Dry-runs every object, then a Pod from every Deployment's template. Pod admission needs
 * the pod's ServiceAccount to exist, so the rendered ServiceAccounts are created for real
 * between the two passes (after their own dry run) and deleted again at the end.
 */
export async function dryRunAll(
  cluster: KubeCluster,
  client: AdminClient,
  objects: readonly KubeObject[],
): Promise<DryRunOutcome[]> {
  const outcomes: DryRunOutcome[] = [];
  for (const object of objects) {
    const label = describe(object);
    outcomes.push(await client.post(`${collectionPath(object)}${DRY_RUN}`, object, label));
  }
  const accounts = objects.filter((o) => o.kind === "ServiceAccount");
  for (const sa of accounts) {
    const res = await cluster.api("POST", collectionPath(sa), sa);
    if (!res.ok) {
      throw new Error(`creating ${sa.metadata.namespace}/${sa.metadata.name}: ${res.status}`);
    }
  }
  try {
    for (const deployment of objects.filter((o) => o.kind === "Deployment")) {
      const pod = podFromTemplate(deployment);
      const label = `Pod (template of ${describe(deployment)})`;
      outcomes.push(await client.post(`${collectionPath(pod)}${DRY_RUN}`, pod, label));
    }
  } finally {
    for (const sa of accounts) {
      await cluster.api("DELETE", `${collectionPath(sa)}/${sa.metadata.name}`);
    }
  }
  return outcomes;
}
