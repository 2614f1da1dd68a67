/**
 * Kubernetes failures as one-line messages with a hint, the way an operator wants to read
 * them in `kubectl logs`.
 *
 * @module
 */

/**
 * What went wrong while talking to Kubernetes.
 *
 * See the {@linkcode KubeError} example.
 */
export type KubeFailure =
  | "config"
  | "unauthorized"
  | "forbidden"
  | "tls"
  | "unreachable"
  | "timeout"
  | "ambiguous"
  | "api";

/**
 * A Kubernetes failure; `message` is one line including the hint.
 *
 * @example Branch on the kind of failure
 * ```ts
 * import { KubeError, loadKubeConfig } from "@cplauncher/cplauncher";
 *
 * try {
 *   await loadKubeConfig("/nonexistent/kubeconfig");
 *   throw new Error("expected a KubeError");
 * } catch (error) {
 *   if (!(error instanceof KubeError) || error.failure !== "config") throw error;
 *   console.error(error.message); // one line, with a hint
 * }
 * ```
 */
export class KubeError extends Error {
  /** Category of the failure. */
  readonly failure: KubeFailure;
  /** HTTP status, when the API answered. */
  readonly status?: number;

  /** Creates an error of `failure` kind. */
  constructor(failure: KubeFailure, message: string, status?: number) {
    super(message);
    this.name = "KubeError";
    this.failure = failure;
    if (status !== undefined) this.status = status;
  }
}

/** Describes an API operation for error messages: verb, resource, namespace. */
export interface ApiOperation {
  readonly verb: "get" | "list" | "watch" | "patch";
  readonly resource: string;
  readonly namespace: string;
}

const RBAC_HINT = "grant it with a Role like examples/kubernetes/rbac.yaml";
const CLUSTER_RBAC_HINT =
  "searching every namespace needs a ClusterRole like examples/k2s/rbac-all-namespaces.yaml";

/** Status codes and messages from an error thrown by client-node or node-fetch. */
function statusOf(error: unknown): { code?: number; body?: string; errno?: string } {
  if (typeof error !== "object" || error === null) return {};
  const e = error as Record<string, unknown>;
  const code = typeof e.code === "number"
    ? e.code
    : typeof e.statusCode === "number"
    ? e.statusCode
    : undefined;
  const body = typeof e.body === "string" ? e.body : undefined;
  const errno = typeof e.code === "string"
    ? e.code
    : typeof e.errno === "string"
    ? e.errno
    : undefined;
  return { code, body, errno };
}

function apiMessage(body: string | undefined): string | undefined {
  if (!body) return undefined;
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    return typeof parsed.message === "string" ? parsed.message : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Turns any error from an API call into a {@linkcode KubeError} naming the operation.
 * Already-classified errors pass through unchanged.
 */
export function classifyApiError(error: unknown, op: ApiOperation, server: string): KubeError {
  if (error instanceof KubeError) return error;
  const { code, body, errno } = statusOf(error);
  // "*" is how a query across every namespace is written (see pod_source.ts).
  const what = op.namespace === "*"
    ? `${op.verb} ${op.resource} in all namespaces`
    : `${op.verb} ${op.resource} in namespace "${op.namespace}"`;
  if (code === 401) {
    return new KubeError(
      "unauthorized",
      `unauthorized (401) trying to ${what} at ${server}: the credentials were rejected (expired or wrong token or client certificate)`,
      401,
    );
  }
  if (code === 403) {
    const detail = apiMessage(body);
    const identity = detail?.match(/User "([^"]+)"/)?.[1];
    return new KubeError(
      "forbidden",
      `forbidden (403): ${identity ? `"${identity}"` : "this identity"} may not ${what}; ${
        op.namespace === "*" ? CLUSTER_RBAC_HINT : RBAC_HINT
      } (needs ${op.verb} on ${op.resource})`,
      403,
    );
  }
  if (typeof code === "number" && code >= 400) {
    const detail = apiMessage(body) ?? (error instanceof Error ? error.message : "");
    return new KubeError("api", `${what} failed with HTTP ${code}: ${detail}`.trim(), code);
  }
  const text = describe(error);
  if (
    /certificate|self[- ]signed|unable to verify|tls|ssl|UnknownIssuer|CERT/i.test(
      text + (errno ?? ""),
    )
  ) {
    return new KubeError(
      "tls",
      `TLS failure talking to ${server}: ${text} (check the kubeconfig's certificate-authority and the server address)`,
    );
  }
  if (
    /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ECONNRESET|ETIMEDOUT|EAI_AGAIN|connection refused|network|socket|fetch failed/i
      .test(text + (errno ?? ""))
  ) {
    return new KubeError(
      "unreachable",
      `cannot reach the Kubernetes API at ${server}: ${text}`,
    );
  }
  return new KubeError("api", `${what} failed: ${text}`);
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const base = error.message.split("\n")[0];
    return cause instanceof Error && !base.includes(cause.message)
      ? `${base}: ${cause.message.split("\n")[0]}`
      : base;
  }
  return String(error);
}

/** Whether retrying could help (server down, connection dropped) as opposed to a refusal. */
export function isTransient(error: KubeError): boolean {
  return error.failure === "unreachable" ||
    (error.failure === "api" &&
      (error.status === undefined || error.status >= 500 || error.status === 429));
}
