/**
 * The list/watch seam between pod discovery and the Kubernetes API. Discovery (the pod
 * watch, the shared hub, anchor resolution) only ever sees {@linkcode AnchorPod} snapshots
 * and events through a {@linkcode PodListerWatcher}; the default one talks to the apiserver
 * through client-node, and tests drive the same code with a scripted source in memory.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { ALL_NAMESPACES } from "../config/mod.ts";
import type { V1Pod } from "@kubernetes/client-node";
import { clientNodeRequested, loadClientNode } from "./client_node.ts";
import { classifyApiError } from "./errors.ts";
import { clientKubeConfig, directListerOf, type LoadedKubeConfig } from "./kubeconfig.ts";
import { type AnchorPod, isUsable, toAnchorPod } from "./pods.ts";

const log = getLogger(["cplauncher", "kube"]);

/**
 * When a list made without client-node found a usable anchor, how long the watch after it
 * waits before loading client-node: resolution usually ends with that list, and loading
 * client-node in between would hold up the launch it decided. The watch continues from the
 * list's resourceVersion, so it misses nothing; a change is only noticed this much later.
 */
const DEFERRED_WATCH_MS = 1000;

export { ALL_NAMESPACES };

/**
 * Which pods to list and watch; the apiserver does the filtering.
 *
 * See the {@linkcode PodWatchHub} example, whose source implements
 * {@linkcode PodListerWatcher}.
 */
export interface PodQuery {
  /** A namespace, or {@linkcode ALL_NAMESPACES}. */
  readonly namespace: string;
  /** Label selector passed to the server (`""` for all pods). */
  readonly labelSelector: string;
  /**
   * Field selector passed to the server, such as {@linkcode nodeFieldSelector}'s
   * `spec.nodeName=n1` (`""` or absent: no field filter).
   */
  readonly fieldSelector?: string;
}

/**
 * The field selector of the pods bound to `node`: a list or watch with it hears nothing
 * about other nodes' pods (the apiserver's watch cache indexes pods by node, as every
 * kubelet watches its own pods this way).
 */
export function nodeFieldSelector(node: string): string {
  // Field selector values escape `\`, `,` and `=` with a backslash (node names never have
  // them, but a config value is passed on as written).
  return `spec.nodeName=${node.replace(/[\\,=]/g, (c) => `\\${c}`)}`;
}

/**
 * A consistent snapshot of the pods a query matches.
 *
 * See the {@linkcode PodWatchHub} example, whose source implements
 * {@linkcode PodListerWatcher}.
 */
export interface PodList {
  /** The matching pods. */
  readonly pods: readonly AnchorPod[];
  /** Where a watch continues from. */
  readonly resourceVersion: string;
}

/**
 * One change reported by a watch.
 *
 * See the {@linkcode PodWatchHub} example, whose source implements
 * {@linkcode PodListerWatcher}.
 */
export type PodEvent =
  | { readonly type: "ADDED" | "MODIFIED" | "DELETED"; readonly pod: AnchorPod }
  | { readonly type: "BOOKMARK"; readonly resourceVersion: string };

/**
 * How one watch request ended.
 *
 * See the {@linkcode PodWatchHub} example, whose source implements
 * {@linkcode PodListerWatcher}.
 */
export type WatchEnd =
  /** The resourceVersion is too old (410 Gone): list again. */
  | "gone"
  /** The server closed the stream normally (its timeout); continue from the last version. */
  | "closed";

/**
 * A running watch request.
 *
 * See the {@linkcode PodWatchHub} example, whose source implements
 * {@linkcode PodListerWatcher}.
 */
export interface PodWatchRequest {
  /** Settles when the request ends; rejects with a {@linkcode KubeError} on failures. */
  readonly done: Promise<WatchEnd>;
  /** Ends the request; `done` then resolves with `closed`. */
  abort(): void;
}

/**
 * Lists and watches pods, in the manner of client-go's ListerWatcher. Errors are thrown
 * (or rejected) as {@linkcode KubeError}s naming the operation.
 */
export interface PodListerWatcher {
  /** API server address, for messages. */
  readonly server: string;
  /** Lists the pods `query` matches. */
  list(query: PodQuery): Promise<PodList>;
  /** Watches for changes after `resourceVersion`, calling `onEvent` for each one. */
  watch(
    query: PodQuery,
    resourceVersion: string,
    onEvent: (event: PodEvent) => void,
  ): PodWatchRequest;
}

/** Describes where a query looks, for messages: `namespace "x"` or `all namespaces`. */
export function describeNamespace(namespace: string): string {
  return namespace === ALL_NAMESPACES ? "all namespaces" : `namespace ${namespace}`;
}

/**
 * The default source: the apiserver, through client-node with `kube`'s credentials. Lists
 * made before client-node is loaded go through `fetch` when the credentials allow it
 * (`direct.ts`); every failure of those is retried through client-node.
 */
export function clientNodePodSource(kube: LoadedKubeConfig): PodListerWatcher {
  let api: Promise<import("@kubernetes/client-node").CoreV1Api> | undefined;
  let watcher: Promise<import("@kubernetes/client-node").Watch> | undefined;
  let direct = directListerOf(kube);
  let deferWatches = false;
  const operation = (verb: "list" | "watch", query: PodQuery) => ({
    verb,
    resource: "pods",
    namespace: query.namespace,
  });
  const listDirectly = async (query: PodQuery): Promise<PodList | undefined> => {
    if (!direct || clientNodeRequested()) return undefined;
    try {
      const list = await direct.list(query);
      if (list.pods.some(isUsable)) deferWatches = true;
      log.debug("listed {query} without client-node: {pods} pods", {
        query: describeQuery(query),
        pods: list.pods.length,
      });
      return list;
    } catch (error) {
      log.debug("the list without client-node failed ({message}); asking client-node", {
        message: error instanceof Error ? error.message : String(error),
      });
      return undefined;
    }
  };
  return {
    server: kube.server,
    async list(query) {
      const listed = await listDirectly(query);
      if (listed) return listed;
      try {
        api ??= Promise.all([loadClientNode(), clientKubeConfig(kube)]).then((
          [{ CoreV1Api }, kubeConfig],
        ) => kubeConfig.makeApiClient(CoreV1Api));
        const client = await api;
        const filters = serverFilters(query);
        const list = query.namespace === ALL_NAMESPACES
          ? await client.listPodForAllNamespaces(filters)
          : await client.listNamespacedPod({ namespace: query.namespace, ...filters });
        return {
          pods: list.items.map(toAnchorPod),
          resourceVersion: list.metadata?.resourceVersion ?? "",
        };
      } catch (error) {
        throw classifyApiError(error, operation("list", query), kube.server);
      }
    },
    watch(query, resourceVersion, onEvent) {
      let controller: AbortController | undefined;
      let aborted = false;
      let deferred: ReturnType<typeof setTimeout> | undefined;
      let closeDeferred: (() => void) | undefined;
      const done = new Promise<WatchEnd>((resolve, reject) => {
        const fail = (error: unknown) =>
          reject(classifyApiError(error, operation("watch", query), kube.server));
        let gone = false;
        const path = query.namespace === ALL_NAMESPACES
          ? "/api/v1/pods"
          : `/api/v1/namespaces/${encodeURIComponent(query.namespace)}/pods`;
        // A server-side timeout bounds each request so a half-open connection cannot hang
        // the watch forever; the next request continues from the last resourceVersion.
        const timeoutSeconds = 240 + Math.floor(Math.random() * 60);
        const begin = () => {
          deferred = undefined;
          // From here on client-node makes every request.
          direct?.close();
          direct = undefined;
          watcher ??= Promise.all([loadClientNode(), clientKubeConfig(kube)]).then((
            [{ Watch }, kubeConfig],
          ) => new Watch(kubeConfig));
          startWatch();
        };
        const startWatch = () =>
          watcher!.then((watch) =>
            watch.watch(
              path,
              {
                ...serverFilters(query),
                resourceVersion,
                allowWatchBookmarks: true,
                timeoutSeconds,
              },
              (type: string, object: unknown) => {
                if (type === "ERROR") {
                  const status = object as { code?: number; message?: string };
                  if (status.code === 410) gone = true;
                  else log.warn("watch error event: {message}", { message: status.message ?? "" });
                  return;
                }
                const pod = object as V1Pod;
                if (type === "BOOKMARK") {
                  onEvent({ type, resourceVersion: pod.metadata?.resourceVersion ?? "" });
                } else if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") {
                  onEvent({ type, pod: toAnchorPod(pod) });
                }
              },
              (error: unknown) => {
                if (gone) resolve("gone");
                else if (error && !aborted) {
                  const status = (error as { statusCode?: number }).statusCode;
                  if (status === 410) resolve("gone");
                  else fail(error);
                } else resolve("closed");
              },
            )
          ).then((c: AbortController) => {
            controller = c;
            if (aborted) c.abort();
          }, fail);
        if (deferWatches && !clientNodeRequested()) {
          closeDeferred = () => resolve("closed");
          deferred = setTimeout(begin, DEFERRED_WATCH_MS);
        } else begin();
      });
      return {
        done,
        abort() {
          aborted = true;
          if (deferred !== undefined) {
            clearTimeout(deferred);
            deferred = undefined;
            closeDeferred?.();
          }
          controller?.abort();
        },
      };
    },
  };
}

/** A query for log lines: `app=x in namespace y`. */
function describeQuery(query: PodQuery): string {
  return `${query.labelSelector || "all pods"}${
    query.fieldSelector ? `, ${query.fieldSelector}` : ""
  } in ${describeNamespace(query.namespace)}`;
}

/** The query's selectors as request parameters; empty ones are not sent. */
function serverFilters(query: PodQuery): { labelSelector?: string; fieldSelector?: string } {
  return {
    ...(query.labelSelector ? { labelSelector: query.labelSelector } : {}),
    ...(query.fieldSelector ? { fieldSelector: query.fieldSelector } : {}),
  };
}
