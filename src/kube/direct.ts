/**
 * The launcher's first pod list without `@kubernetes/client-node`: with Deno's `fetch`, the
 * list that usually decides an anchor is answered before client-node (the largest part of
 * the launcher's start) is loaded, and client-node takes over for everything after it
 * (watches, claims, relists, every failure).
 *
 * Only credentials that both clients turn into the same request are used this way; anything
 * else (exec plugins, auth providers such as OIDC, basic auth, impersonation, a proxy,
 * `insecure-skip-tls-verify`, `tls-server-name`, plain HTTP, environment that changes how
 * client-node's TLS or proxying behaves) leaves the list to client-node. The kubeconfig is
 * read with the YAML parser client-node itself uses (js-yaml, the same version) and run
 * through the same validation and lookups, so a file either yields the exact server, CA,
 * client certificate and key, and token client-node would send, or is left to client-node,
 * which then reports its own errors. tests/kube_discovery/direct_test.ts compares both on
 * every kubeconfig form the tests use, and against the real apiserver.
 *
 * @module
 */
import { dirname, isAbsolute, join } from "node:path";
import { load as loadYaml } from "js-yaml";
import { ALL_NAMESPACES } from "../config/mod.ts";
import type { KubeconfigSource } from "./kubeconfig.ts";
import { type AnchorPod, toAnchorPod } from "./pods.ts";

/** What a request needs when client-node would send exactly this. */
export interface DirectAccess {
  /** API server URL, without a trailing slash (as client-node keeps it). */
  readonly server: string;
  /** PEM of the CA to trust besides the runtime's roots (client-node's `ca` option). */
  readonly caCert?: string;
  /** PEM client certificate and key (mutual TLS). */
  readonly clientCert?: string;
  /** PEM private key of {@linkcode DirectAccess.clientCert}. */
  readonly clientKey?: string;
  /** Bearer token. */
  readonly token?: string;
}

/** Either direct access, or why the request is left to client-node. */
export type DirectAccessResult =
  | { readonly access: DirectAccess }
  | { readonly refused: string };

/** What {@linkcode directAccess} may consult; tests pass fakes. */
export interface DirectAccessEnvironment {
  /** Reads an environment variable. */
  readonly env: (name: string) => string | undefined;
  /** Reads a file's bytes (throws when it cannot). */
  readonly readFile: (path: string) => Uint8Array;
}

const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

/**
 * Variables that change how client-node's requests are made (proxies, turning TLS
 * verification off) in ways a plain `fetch` might not follow the same way. The runtime's
 * certificate store (`DENO_CERT`, `DENO_TLS_CA_STORE`, `NODE_EXTRA_CA_CERTS`) is not among
 * them: Deno applies it below both clients.
 */
const INTERFERING_VARIABLES = [
  "HTTPS_PROXY",
  "HTTP_PROXY",
  "ALL_PROXY",
  "https_proxy",
  "http_proxy",
  "all_proxy",
  "NODE_TLS_REJECT_UNAUTHORIZED",
];

function defaultEnvironment(): DirectAccessEnvironment {
  return { env: (name) => Deno.env.get(name), readFile: (path) => Deno.readFileSync(path) };
}

/** Bytes as text the way Node's `Buffer.toString("utf-8")` reads them (a BOM is kept). */
function utf8(bytes: Uint8Array): string {
  return new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
}

class Refusal extends Error {}

function refuse(reason: string): never {
  throw new Refusal(reason);
}

type Entry = Record<string, unknown>;

function isEntry(value: unknown): value is Entry {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An optional string field: absent (undefined/null/"") or a string; anything else refuses. */
function optionalString(entry: Entry | undefined, key: string): string | undefined {
  const value = entry?.[key];
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") refuse(`${key} is not a string`);
  return value;
}

/** A field that must be absent (or empty) for the request to be the same. */
function absent(entry: Entry | undefined, key: string): void {
  const value = entry?.[key];
  if (value !== undefined && value !== null && value !== "" && value !== false) {
    refuse(`the kubeconfig uses ${key}`);
  }
}

/** Well-formed base64 decoded (Node's decoder is lenient; anything unusual refuses). */
function base64(text: string, what: string): Uint8Array {
  const compact = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    refuse(`${what} is not plain base64`);
  }
  return Uint8Array.from(atob(compact), (c) => c.charCodeAt(0));
}

function pem(bytes: Uint8Array, what: string): string {
  const text = utf8(bytes);
  if (!text.includes("-----BEGIN ")) refuse(`${what} is not PEM`);
  return text;
}

/**
 * client-node's `bufferFromFileOrString`: the file wins over the inline data. Files are
 * made absolute against the kubeconfig's folder as client-node's `makePathsAbsolute` does.
 */
function fileOrData(
  root: string | undefined,
  file: string | undefined,
  data: string | undefined,
  what: string,
  read: (path: string) => Uint8Array,
): string | undefined {
  if (file) {
    const path = !root || isAbsolute(file) ? file : join(root, file);
    let bytes: Uint8Array;
    try {
      bytes = read(path);
    } catch {
      refuse(`${what} file ${path} cannot be read`);
    }
    return pem(bytes, what);
  }
  return data ? pem(base64(data, what), what) : undefined;
}

/** A path client-node makes absolute on load for every entry (a non-string throws there). */
function pathField(entry: Entry, key: string): void {
  const value = entry[key];
  if (value && typeof value !== "string") refuse(`${key} is not a string`);
}

/** client-node's `findObject`: the first entry whose `name` is strictly equal. */
function named(list: Entry[], name: unknown): Entry | undefined {
  return list.find((entry) => entry.name === name);
}

/** The validation client-node applies to every entry of a list on load (any failure throws). */
function entries(document: Entry, key: "clusters" | "users" | "contexts"): Entry[] {
  const list = document[key];
  if (!Array.isArray(list)) return [];
  return list.map((item, i) => {
    if (!isEntry(item)) refuse(`${key}[${i}] is not a mapping`);
    if (!item.name) refuse(`${key}[${i}].name is missing`);
    if (key === "clusters") {
      if (
        !isEntry(item.cluster) || typeof item.cluster.server !== "string" || !item.cluster.server
      ) {
        refuse(`${key}[${i}].cluster.server is missing or not a string`);
      }
      pathField(item.cluster, "certificate-authority");
    } else if (key === "contexts") {
      if (!isEntry(item.context) || !item.context.cluster) {
        refuse(`${key}[${i}].context.cluster is missing`);
      }
    } else if (item.user !== undefined && item.user !== null) {
      if (!isEntry(item.user)) refuse(`${key}[${i}].user is not a mapping`);
      pathField(item.user, "client-certificate");
      pathField(item.user, "client-key");
    }
    return item;
  });
}

/** client-node's `findToken`, run on load for every user: `token`, else `token-file`. */
function tokenOf(user: Entry | undefined, read: (path: string) => Uint8Array): unknown {
  if (!user) return undefined;
  if (user.token) return user.token;
  const file = user["token-file"];
  if (!file) return undefined;
  if (typeof file !== "string") refuse("token-file is not a string");
  try {
    return utf8(read(file));
  } catch {
    return refuse(`token-file ${file} cannot be read`);
  }
}

function fromFile(path: string, environment: DirectAccessEnvironment): DirectAccess {
  const read = environment.readFile;
  let document: unknown;
  try {
    document = loadYaml(utf8(read(path)));
  } catch {
    refuse("the kubeconfig does not parse");
  }
  if (!isEntry(document)) refuse("the kubeconfig is not a mapping");
  const clusters = entries(document, "clusters");
  const users = entries(document, "users");
  const contexts = entries(document, "contexts");
  const tokens = new Map(
    users.map((u) => [u, tokenOf(isEntry(u.user) ? u.user : undefined, read)]),
  );
  const context = named(contexts, document["current-context"]);
  if (!context) refuse("no current context");
  const contextFields = context.context as Entry;
  const clusterEntry = named(clusters, contextFields.cluster);
  if (!clusterEntry) refuse("the current context's cluster is not defined");
  const userEntry = contextFields.user ? named(users, contextFields.user) : undefined;
  if (!userEntry) refuse("the current context has no user");
  const cluster = clusterEntry.cluster as Entry;
  const user = isEntry(userEntry.user) ? userEntry.user : undefined;

  const server = (cluster.server as string).replace(/\/$/, "");
  if (!server.startsWith("https://")) refuse("the server is not https");
  if (cluster["insecure-skip-tls-verify"] === true) refuse("insecure-skip-tls-verify is set");
  absent(cluster, "tls-server-name");
  absent(cluster, "proxy-url");
  for (
    const key of ["exec", "auth-provider", "username", "password", "as", "as-groups", "as-uid"]
  ) {
    absent(user, key);
  }
  const token = tokens.get(userEntry);
  if (token !== undefined && typeof token !== "string") refuse("the token is not a string");
  const root = dirname(path);
  const caCert = fileOrData(
    root,
    optionalString(cluster, "certificate-authority"),
    optionalString(cluster, "certificate-authority-data"),
    "certificate-authority",
    read,
  );
  const clientCert = fileOrData(
    root,
    optionalString(user, "client-certificate"),
    optionalString(user, "client-certificate-data"),
    "client-certificate",
    read,
  );
  const clientKey = fileOrData(
    root,
    optionalString(user, "client-key"),
    optionalString(user, "client-key-data"),
    "client-key",
    read,
  );
  if (!clientCert !== !clientKey) refuse("a client certificate without its key (or the reverse)");
  return {
    server,
    ...(caCert ? { caCert } : {}),
    ...(clientCert ? { clientCert, clientKey } : {}),
    ...(token ? { token } : {}),
  };
}

/** client-node's `loadFromCluster(prefix)`, for the HTTPS ports. */
function fromCluster(prefix: string, environment: DirectAccessEnvironment): DirectAccess {
  const host = environment.env("KUBERNETES_SERVICE_HOST");
  const port = environment.env("KUBERNETES_SERVICE_PORT");
  if (!host || !port) refuse("KUBERNETES_SERVICE_HOST or _PORT is unset");
  if (["80", "8080", "8001"].includes(port)) refuse(`port ${port} means plain HTTP`);
  // client-node brackets IPv6 addresses itself; such a cluster is left to it.
  if (host.includes(":")) refuse("an IPv6 service address");
  const read = (path: string, what: string) => {
    try {
      return environment.readFile(path);
    } catch {
      return refuse(`${what} ${path} cannot be read`);
    }
  };
  const token = utf8(read(`${prefix}${SERVICE_ACCOUNT}/token`, "the token"));
  const caCert = pem(read(`${prefix}${SERVICE_ACCOUNT}/ca.crt`, "the CA"), "the CA");
  return { server: `https://${host}:${port}`, caCert, ...(token ? { token } : {}) };
}

/**
 * The request client-node would make with the credentials of `source`, when a plain `fetch`
 * makes exactly the same one; otherwise why not.
 */
export function directAccess(
  source: KubeconfigSource,
  environment: DirectAccessEnvironment = defaultEnvironment(),
): DirectAccessResult {
  const interfering = INTERFERING_VARIABLES.find((name) => environment.env(name));
  if (interfering) return { refused: `$${interfering} is set` };
  try {
    return {
      access: source.kind === "in-cluster"
        ? fromCluster(source.prefix, environment)
        : fromFile(source.path, environment),
    };
  } catch (error) {
    if (error instanceof Refusal) return { refused: error.message };
    throw error;
  }
}

/** A pod list answer: pods and the resourceVersion a watch continues from. */
export interface DirectPodList {
  readonly pods: readonly AnchorPod[];
  readonly resourceVersion: string;
}

/** Where the list request goes: `namespace`'s pods (or every namespace's), filtered by the server. */
export function podListUrl(
  server: string,
  query: { namespace: string; labelSelector: string; fieldSelector?: string },
): string {
  const path = query.namespace === ALL_NAMESPACES
    ? "/api/v1/pods"
    : `/api/v1/namespaces/${encodeURIComponent(query.namespace)}/pods`;
  const params = new URLSearchParams();
  if (query.fieldSelector) params.set("fieldSelector", query.fieldSelector);
  if (query.labelSelector) params.set("labelSelector", query.labelSelector);
  const search = params.toString();
  return `${server}${path}${search ? `?${search}` : ""}`;
}

/** Lists pods with {@linkcode DirectAccess}: one HTTP client (and connection) for all lists. */
export class DirectPodLister {
  readonly #access: DirectAccess;
  #client?: Deno.HttpClient;
  #inFlight = 0;
  #closing = false;

  /** Creates a lister; nothing is opened before the first list. */
  constructor(access: DirectAccess) {
    this.#access = access;
  }

  /**
   * Lists the pods `query` matches.
   *
   * @throws on any failure (network, TLS, a status other than 200, a body that is not a pod
   *   list); the caller then asks client-node, which reports failures its own way.
   */
  async list(
    query: { namespace: string; labelSelector: string; fieldSelector?: string },
  ): Promise<DirectPodList> {
    const access = this.#access;
    this.#client ??= Deno.createHttpClient({
      ...(access.caCert ? { caCerts: [access.caCert] } : {}),
      ...(access.clientCert && access.clientKey
        ? { cert: access.clientCert, key: access.clientKey }
        : {}),
    });
    this.#inFlight++;
    try {
      const response = await fetch(podListUrl(access.server, query), {
        client: this.#client,
        headers: {
          Accept: "application/json",
          ...(access.token ? { Authorization: `Bearer ${access.token}` } : {}),
        },
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      const body = await response.json() as {
        kind?: string;
        items?: unknown[];
        metadata?: { resourceVersion?: string };
      };
      if (body.kind !== "PodList" || !Array.isArray(body.items)) throw new Error("not a PodList");
      return {
        pods: body.items.map((item) => toAnchorPod(item as Parameters<typeof toAnchorPod>[0])),
        resourceVersion: body.metadata?.resourceVersion ?? "",
      };
    } finally {
      this.#inFlight--;
      if (this.#closing && this.#inFlight === 0) this.#closeClient();
    }
  }

  /** Closes the HTTP client once the lists in flight have ended. */
  close(): void {
    this.#closing = true;
    if (this.#inFlight === 0) this.#closeClient();
  }

  #closeClient(): void {
    this.#client?.close();
    this.#client = undefined;
  }
}
