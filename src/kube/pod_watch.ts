/**
 * A live view of the pods matching a selector: list, then watch from the list's
 * resourceVersion; relist on 410 Gone; reconnect with capped backoff when the connection
 * drops or the apiserver restarts. Refusals (401/403) end the watch with an error.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { KubeConfig, V1Pod } from "@kubernetes/client-node";
import { loadClientNode } from "./client_node.ts";
import { classifyApiError, isTransient, type KubeError } from "./errors.ts";
import { type AnchorPod, toAnchorPod } from "./pods.ts";

const log = getLogger(["cplauncher", "kube"]);

/** Options of {@linkcode PodSetWatch}. */
export interface PodSetWatchOptions {
  readonly kubeConfig: KubeConfig;
  readonly server: string;
  readonly namespace: string;
  readonly labelSelector: string;
  /** Called after every change of the pod set (and after each list). */
  readonly onChange: (pods: readonly AnchorPod[]) => void;
  /** Called once when the watch gives up for good (e.g. 403). */
  readonly onFatal: (error: KubeError) => void;
  /** Called for each transient failure before the watch retries. */
  readonly onRetry?: (error: KubeError) => void;
  /** Longest pause between reconnection attempts. */
  readonly maxBackoffMs?: number;
}

/** Counters for tests and diagnostics. */
export interface PodSetWatchStats {
  lists: number;
  watches: number;
  events: number;
  reconnects: number;
  gone: number;
}

/** Keeps a map of the pods matching a label selector up to date. */
export class PodSetWatch {
  readonly #options: PodSetWatchOptions;
  readonly #pods = new Map<string, AnchorPod>();
  #resourceVersion = "";
  #stopped = false;
  #abort?: AbortController;
  #wake?: () => void;
  #loop?: Promise<void>;
  /** Counters of lists, watches and reconnects. */
  readonly stats: PodSetWatchStats = { lists: 0, watches: 0, events: 0, reconnects: 0, gone: 0 };

  /** Creates the watch; call {@linkcode start} to run it. */
  constructor(options: PodSetWatchOptions) {
    this.#options = options;
  }

  /** Current pods, in no particular order. */
  pods(): AnchorPod[] {
    return [...this.#pods.values()];
  }

  /** Starts listing and watching in the background. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops watching and waits for the background loop to end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort?.abort();
    this.#wake?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const { CoreV1Api, Watch } = await loadClientNode();
    const api = this.#options.kubeConfig.makeApiClient(CoreV1Api);
    const watch = new Watch(this.#options.kubeConfig);
    const maxBackoff = this.#options.maxBackoffMs ?? 5_000;
    let backoff = 100;
    let needList = true;
    while (!this.#stopped) {
      try {
        if (needList) {
          await this.#list(api);
          needList = false;
        }
        const outcome = await this.#watchOnce(watch);
        if (outcome === "gone") {
          this.stats.gone++;
          needList = true;
          log.debug("watch expired (410 Gone); listing again");
          continue;
        }
        if (outcome === "progress") backoff = 100;
      } catch (error) {
        const op = {
          verb: needList ? "list" : "watch",
          resource: "pods",
          namespace: this.#options.namespace,
        } as const;
        const kubeError = classifyApiError(error, op, this.#options.server);
        if (!isTransient(kubeError)) {
          if (!this.#stopped) this.#options.onFatal(kubeError);
          return;
        }
        this.#options.onRetry?.(kubeError);
        log.warn("Kubernetes API unavailable ({message}); retrying in {delay} ms", {
          message: kubeError.message,
          delay: backoff,
        });
      }
      if (this.#stopped) return;
      this.stats.reconnects++;
      await this.#sleep(backoff);
      backoff = Math.min(backoff * 2, maxBackoff);
    }
  }

  async #list(api: import("@kubernetes/client-node").CoreV1Api): Promise<void> {
    const list = await api.listNamespacedPod({
      namespace: this.#options.namespace,
      labelSelector: this.#options.labelSelector,
    });
    this.stats.lists++;
    this.#pods.clear();
    for (const pod of list.items) {
      const view = toAnchorPod(pod);
      this.#pods.set(view.uid, view);
    }
    this.#resourceVersion = list.metadata?.resourceVersion ?? "";
    this.#options.onChange(this.pods());
  }

  /**
   * Runs one watch request to its end. Resolves `gone` on 410, `progress` when events
   * arrived, `closed` when the server ended the stream quietly; rejects on errors.
   */
  #watchOnce(
    watch: import("@kubernetes/client-node").Watch,
  ): Promise<"gone" | "progress" | "closed"> {
    return new Promise((resolve, reject) => {
      let sawEvent = false;
      let gone = false;
      const path = `/api/v1/namespaces/${encodeURIComponent(this.#options.namespace)}/pods`;
      this.stats.watches++;
      // A server-side timeout bounds each request so a half-open connection cannot hang the
      // watch forever; the next request continues from the last resourceVersion.
      const timeoutSeconds = 240 + Math.floor(Math.random() * 60);
      watch.watch(
        path,
        {
          labelSelector: this.#options.labelSelector,
          resourceVersion: this.#resourceVersion,
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
          sawEvent = true;
          this.stats.events++;
          const pod = object as V1Pod;
          const rv = pod.metadata?.resourceVersion;
          if (rv) this.#resourceVersion = rv;
          if (type === "BOOKMARK") return;
          const view = toAnchorPod(pod);
          if (type === "DELETED") this.#pods.delete(view.uid);
          else this.#pods.set(view.uid, view);
          this.#options.onChange(this.pods());
        },
        (error: unknown) => {
          this.#abort = undefined;
          if (gone) resolve("gone");
          else if (error && !this.#stopped) {
            const status = (error as { statusCode?: number }).statusCode;
            if (status === 410) resolve("gone");
            else reject(error);
          } else resolve(sawEvent ? "progress" : "closed");
        },
      ).then((controller: AbortController) => {
        this.#abort = controller;
        if (this.#stopped) controller.abort();
      }, reject);
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
