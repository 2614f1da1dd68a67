/**
 * An in-memory pod source for fast discovery tests, in the manner of client-go's fake
 * ListerWatcher: tests add, change and delete pods, and script failures; every list and
 * watch request is counted. It filters the way the apiserver does — label and field
 * selectors, and a pod whose change makes it start or stop matching a watch arrives there as
 * ADDED or DELETED — so tests can count what a query lets through.
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
  /** Requests seen, and the events delivered to watches (bookmarks excluded). */
  readonly calls = { lists: 0, watches: 0, events: 0 };
  /** Queries of the list requests, in order. */
  readonly listQueries: PodQuery[] = [];
  /** Queries of the watch requests, in order. */
  readonly watchQueries: PodQuery[] = [];
  /** The resourceVersion each watch request continued from, in order. */
  readonly watchVersions: string[] = [];

  /** Queries of the watches currently open. */
  get openQueries(): PodQuery[] {
    return [...this.#watches].map((w) => w.query);
  }

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

  watch(query: PodQuery, rv: string, onEvent: (event: PodEvent) => void): PodWatchRequest {
    this.calls.watches++;
    this.watchQueries.push(query);
    this.watchVersions.push(rv);
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

  /** Adds or replaces a pod and tells the watches it matched before or matches now. */
  upsert(pod: AnchorPod): AnchorPod {
    const version = String(++this.#version);
    const stored = { ...pod, resourceVersion: version };
    const before = this.#pods.get(stored.uid);
    this.#pods.set(stored.uid, stored);
    for (const w of this.#watches) {
      const was = before !== undefined && matches(w.query, before);
      const is = matches(w.query, stored);
      if (was || is) {
        this.#deliver(w, { type: was && is ? "MODIFIED" : is ? "ADDED" : "DELETED", pod: stored });
      }
    }
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
        this.#deliver(w, { type: "DELETED", pod: { ...pod, resourceVersion: version } });
      }
    }
  }

  /** Sends every open watch a bookmark at a new resourceVersion, which it returns. */
  bookmark(): string {
    const resourceVersion = String(++this.#version);
    for (const w of this.#watches) w.onEvent({ type: "BOOKMARK", resourceVersion });
    return resourceVersion;
  }

  #deliver(watch: OpenWatch, event: PodEvent): void {
    this.calls.events++;
    watch.onEvent(event);
  }

  /** Ends the open watches (those `where` picks) with `end`: 410 Gone, a quiet close, or an error. */
  endWatches(end: WatchEnd | KubeError, where: (query: PodQuery) => boolean = () => true): void {
    for (const w of [...this.#watches]) if (where(w.query)) w.end(end);
  }
}

function matches(query: PodQuery, pod: AnchorPod): boolean {
  if (query.namespace !== ALL_NAMESPACES && query.namespace !== pod.namespace) return false;
  if (!fieldsMatch(query.fieldSelector ?? "", pod)) return false;
  if (query.labelSelector === "") return true;
  const parsed = parseSelector(query.labelSelector);
  if (!parsed.ok) throw new Error(`fake source: bad selector ${query.labelSelector}`);
  return selectorMatches(parsed.requirements, pod.labels);
}

/** The pod fields the apiserver can select pods by that an AnchorPod has. */
const FIELDS: Record<string, (pod: AnchorPod) => string> = {
  "spec.nodeName": (pod) => pod.node ?? "",
  "metadata.name": (pod) => pod.name,
  "metadata.namespace": (pod) => pod.namespace,
  "status.phase": (pod) => pod.phase ?? "",
};

/** `field=value`, `field==value` and `field!=value` terms joined by commas, like the server. */
function fieldsMatch(selector: string, pod: AnchorPod): boolean {
  if (selector === "") return true;
  return selector.split(/(?<!\\),/).every((term) => {
    const parsed = /^([^!=]+)(==|=|!=)(.*)$/.exec(term);
    const field = parsed && FIELDS[parsed[1]];
    if (!parsed || !field) throw new Error(`fake source: unsupported field selector ${term}`);
    const value = parsed[3].replace(/\\(.)/g, "$1");
    return parsed[2] === "!=" ? field(pod) !== value : field(pod) === value;
  });
}
