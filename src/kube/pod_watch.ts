/**
 * A live view of the pods matching a selector: list, then watch from the list's
 * resourceVersion; relist on 410 Gone; reconnect with capped backoff when the connection
 * drops or the apiserver restarts. Refusals (401/403) end the watch with an error.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { sleep } from "../util/sleep.ts";
import { isTransient, type KubeError } from "./errors.ts";
import type { PodListerWatcher, PodQuery } from "./pod_source.ts";
import type { AnchorPod } from "./pods.ts";

const log = getLogger(["cplauncher", "kube"]);

/** Options of {@linkcode PodSetWatch}. */
export interface PodSetWatchOptions {
  /** Where pods are listed and watched (see clientNodePodSource). */
  readonly source: PodListerWatcher;
  /** Namespace, or `*` for all namespaces. */
  readonly namespace: string;
  /** Label selector the server filters by. */
  readonly labelSelector: string;
  /** Field selector the server filters by (e.g. `nodeFieldSelector(node)`); default none. */
  readonly fieldSelector?: string;
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
  /** List requests made. */
  lists: number;
  /** Watch requests made. */
  watches: number;
  /** Events received, bookmarks included. */
  events: number;
  /** Reconnections after a failure or a quiet end. */
  reconnects: number;
  /** 410 Gone answers (each followed by a new list). */
  gone: number;
}

/** Keeps a map of the pods matching a label selector up to date. */
export class PodSetWatch {
  readonly #options: PodSetWatchOptions;
  readonly #query: PodQuery;
  readonly #pods = new Map<string, AnchorPod>();
  readonly #stop = new AbortController();
  #resourceVersion = "";
  #request?: { abort(): void };
  #loop?: Promise<void>;
  /** Counters of lists, watches and reconnects. */
  readonly stats: PodSetWatchStats = { lists: 0, watches: 0, events: 0, reconnects: 0, gone: 0 };

  /** Creates the watch; call {@linkcode start} to run it. */
  constructor(options: PodSetWatchOptions) {
    this.#options = options;
    this.#query = {
      namespace: options.namespace,
      labelSelector: options.labelSelector,
      ...(options.fieldSelector ? { fieldSelector: options.fieldSelector } : {}),
    };
  }

  /** What this watch asks the server for. */
  get query(): PodQuery {
    return this.#query;
  }

  /** Current pods, in no particular order. */
  pods(): AnchorPod[] {
    return [...this.#pods.values()];
  }

  /** Starts listing and watching in the background. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /**
   * Stops watching and waits for the background loop to end. No request starts after this
   * call; with `deferAbort`, the one in flight is aborted a turn of the event loop later
   * (aborting costs a few milliseconds that the caller need not wait for).
   */
  async stop(options: { readonly deferAbort?: boolean } = {}): Promise<void> {
    this.#stop.abort();
    if (options.deferAbort) await new Promise((resolve) => setTimeout(resolve, 0));
    this.#request?.abort();
    await this.#loop;
  }

  get #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  async #run(): Promise<void> {
    const maxBackoff = this.#options.maxBackoffMs ?? 5_000;
    let backoff = 100;
    let needList = true;
    while (!this.#stopped) {
      try {
        if (needList) {
          await this.#list();
          needList = false;
          if (this.#stopped) return;
        }
        const eventsBefore = this.stats.events;
        const end = await this.#watchOnce();
        if (end === "gone") {
          this.stats.gone++;
          needList = true;
          log.debug("watch expired (410 Gone); listing again");
          continue;
        }
        if (this.stats.events > eventsBefore) backoff = 100;
      } catch (error) {
        const kubeError = error as KubeError;
        if (!isTransient(kubeError)) {
          if (!this.#stopped) this.#options.onFatal(kubeError);
          return;
        }
        if (this.#stopped) return;
        this.#options.onRetry?.(kubeError);
        log.warn("Kubernetes API unavailable ({message}); retrying in {delay} ms", {
          message: kubeError.message,
          delay: backoff,
        });
      }
      if (this.#stopped) return;
      this.stats.reconnects++;
      await sleep(backoff, this.#stop.signal);
      backoff = Math.min(backoff * 2, maxBackoff);
    }
  }

  async #list(): Promise<void> {
    const list = await this.#options.source.list(this.#query);
    this.stats.lists++;
    this.#pods.clear();
    for (const pod of list.pods) this.#pods.set(pod.uid, pod);
    this.#resourceVersion = list.resourceVersion;
    if (!this.#stopped) this.#options.onChange(this.pods());
  }

  /** Runs one watch request to its end. */
  async #watchOnce(): Promise<"gone" | "closed"> {
    this.stats.watches++;
    const request = this.#options.source.watch(this.#query, this.#resourceVersion, (event) => {
      this.stats.events++;
      if (event.type === "BOOKMARK") {
        log.trace("watch bookmark at resourceVersion {resourceVersion}", {
          resourceVersion: event.resourceVersion,
        });
        if (event.resourceVersion) this.#resourceVersion = event.resourceVersion;
        return;
      }
      const pod = event.pod;
      log.trace("watch event {type} {namespace}/{pod} at resourceVersion {resourceVersion}", {
        type: event.type,
        namespace: pod.namespace,
        pod: pod.name,
        resourceVersion: pod.resourceVersion,
      });
      if (pod.resourceVersion) this.#resourceVersion = pod.resourceVersion;
      if (event.type === "DELETED") this.#pods.delete(pod.uid);
      else this.#pods.set(pod.uid, pod);
      if (!this.#stopped) this.#options.onChange(this.pods());
    });
    this.#request = request;
    if (this.#stopped) request.abort();
    try {
      return await request.done;
    } finally {
      this.#request = undefined;
    }
  }
}
