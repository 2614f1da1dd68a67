/**
 * An in-memory pod source for fast discovery tests, in the manner of client-go's fake
 * ListerWatcher: tests add, change and delete pods, and script failures; every list and
 * watch request is counted.
 */
import { KubeError } from "../../src/kube/errors.ts";
import {
  ALL_NAMESPACES,
  type PodEvent,
  type PodList,
  type PodListerWatcher,
  type PodQuery,
  type PodWatchRequest,
  type WatchEnd,
} from "../../src/kube/pod_source.ts";
import type { AnchorPod } from "../../src/kube/pods.ts";
import { parseSelector, selectorMatches } from "../../src/config/selector.ts";

/** Builds an AnchorPod with sensible defaults: Running, Ready, one IP. */
export function fakePod(fields: Partial<AnchorPod> & { name: string; ip?: string }): AnchorPod {
  const { ip, ...rest } = fields;
  return {
    namespace: "default",
    uid: `uid-${fields.name}`,
    resourceVersion: "1",
    phase: "Running",
    ready: true,
    deleting: false,
    ips: ip ? [ip] : [],
    createdAt: 0,
    annotations: {},
    labels: {},
    ...rest,
  };
}

interface OpenWatch {
  readonly query: PodQuery;
  readonly onEvent: (event: PodEvent) => void;
  readonly end: (end: WatchEnd | KubeError) => void;
}

/** A scripted pod source. */
export class FakePodSource implements PodListerWatcher {
  readonly server = "https://fake-apiserver";
  readonly #pods = new Map<string, AnchorPod>();
  readonly #watches = new Set<OpenWatch>();
  #version = 1;
  /** Errors thrown by the next list calls, first first. */
  readonly listFailures: KubeError[] = [];
  /** Requests seen. */
  readonly calls = { lists: 0, watches: 0 };
  /** Queries of the list requests, in order. */
  readonly listQueries: PodQuery[] = [];

  /** Watches currently open. */
  get openWatches(): number {
    return this.#watches.size;
  }

  list(query: PodQuery): Promise<PodList> {
    this.calls.lists++;
    this.listQueries.push(query);
    const failure = this.listFailures.shift();
    if (failure) return Promise.reject(failure);
    return Promise.resolve({
      pods: [...this.#pods.values()].filter((pod) => matches(query, pod)),
      resourceVersion: String(this.#version),
    });
  }

  watch(query: PodQuery, _rv: string, onEvent: (event: PodEvent) => void): PodWatchRequest {
    this.calls.watches++;
    let end!: (end: WatchEnd | KubeError) => void;
    const done = new Promise<WatchEnd>((resolve, reject) => {
      end = (value) => {
        this.#watches.delete(open);
        if (value instanceof KubeError) reject(value);
        else resolve(value);
      };
    });
    const open: OpenWatch = { query, onEvent, end };
    this.#watches.add(open);
    return { done, abort: () => end("closed") };
  }

  /** Adds or replaces a pod and tells the watches. */
  upsert(pod: AnchorPod): AnchorPod {
    const version = String(++this.#version);
    const stored = { ...pod, resourceVersion: version };
    const type = this.#pods.has(stored.uid) ? "MODIFIED" : "ADDED";
    this.#pods.set(stored.uid, stored);
    for (const w of this.#watches) if (matches(w.query, stored)) w.onEvent({ type, pod: stored });
    return stored;
  }

  /** Deletes a pod and tells the watches. */
  remove(uid: string): void {
    const pod = this.#pods.get(uid);
    if (!pod) return;
    this.#pods.delete(uid);
    const version = String(++this.#version);
    for (const w of this.#watches) {
      if (matches(w.query, pod)) {
        w.onEvent({ type: "DELETED", pod: { ...pod, resourceVersion: version } });
      }
    }
  }

  /** Ends every open watch with `end` (410 Gone, a quiet close, or an error). */
  endWatches(end: WatchEnd | KubeError): void {
    for (const w of [...this.#watches]) w.end(end);
  }
}

function matches(query: PodQuery, pod: AnchorPod): boolean {
  if (query.namespace !== ALL_NAMESPACES && query.namespace !== pod.namespace) return false;
  if (query.labelSelector === "") return true;
  const parsed = parseSelector(query.labelSelector);
  if (!parsed.ok) throw new Error(`fake source: bad selector ${query.labelSelector}`);
  return selectorMatches(parsed.requirements, pod.labels);
}
