/**
 * Pod watches shared by the anchors of one launcher, asking the apiserver for as little as
 * possible. Anchors are grouped by namespace and node filter; within a group each distinct
 * label selector gets a watch of its own, filtered by the server on labels and, when the
 * anchors name a node, on `spec.nodeName`. A launcher with a handful of anchors then hears
 * only about its anchor pods, however many other pods share their namespace.
 *
 * Beyond {@linkcode DEFAULT_SELECTOR_WATCHES} distinct selectors in a group, one watch of
 * the whole group (still node-filtered when a node is named) replaces them and selectors are
 * matched on the client: every watch is a connection and a watcher in the apiserver, and
 * past a few of them one stream is cheaper than many (see the constant for the figures).
 *
 * @module
 */
import {
  formatRequirement,
  parseSelector,
  selectorMatches,
  type SelectorRequirement,
} from "../config/selector.ts";
import type { KubeError } from "./errors.ts";
import {
  ALL_NAMESPACES,
  nodeFieldSelector,
  type PodListerWatcher,
  type PodQuery,
} from "./pod_source.ts";
import { PodSetWatch } from "./pod_watch.ts";
import type { AnchorPod } from "./pods.ts";

/**
 * Distinct selectors of one namespace (and node filter) that get a server-filtered watch
 * each before the hub falls back to one watch of the namespace, matched on the client.
 *
 * Measured (docs/benchmarks.md, P5; 3,000 pods of ~2 kB in the namespace, 301 of them on
 * the anchors' node): each selector watch past the first costs the launcher one connection,
 * ~0.55 MB and ~5 ms at start; one node-filtered namespace watch holding 301 pods costs
 * ~15 MB more than a selector watch (~49 kB per pod) and streams every change of those
 * pods (~2.2 kB per event). Eight selector watches (~3.8 MB, 7 connections more than one)
 * cost less than a namespace watch of a node at the kubelet's default 110 pods (~5.4 MB
 * before its stream): below that, connections are the cheaper price; above it, their number
 * grows with the anchors (on every node that runs a launcher) while the namespace watch's
 * stays bounded by one node's pods.
 */
export const DEFAULT_SELECTOR_WATCHES = 8;

/**
 * What a subscriber is told.
 *
 * See the {@linkcode PodWatchHub} example.
 */
export interface PodSubscriber {
  /** The pods matching the subscriber's selector (and node), after every change. */
  readonly onChange: (pods: readonly AnchorPod[]) => void;
  /** The watch gave up (e.g. 403); the subscription is over. */
  readonly onFatal: (error: KubeError) => void;
  /** A transient failure; the watch retries. */
  readonly onRetry?: (error: KubeError) => void;
}

/**
 * Where a subscriber's pods are.
 *
 * See the {@linkcode PodWatchHub} example.
 */
export interface SubscribeOptions {
  /** Only pods bound to this node: the server filters by `spec.nodeName`. */
  readonly node?: string;
}

/** Options of {@linkcode PodWatchHub}. */
export interface PodWatchHubOptions {
  /** Longest pause between reconnection attempts of each watch. */
  readonly maxBackoffMs?: number;
  /**
   * Distinct selectors per namespace and node that get a watch each (default
   * {@linkcode DEFAULT_SELECTOR_WATCHES}); beyond it the group shares one watch.
   */
  readonly maxSelectorWatches?: number;
}

/** The key of a group's single watch that serves every selector. */
const WHOLE_GROUP = "";

interface Subscription extends PodSubscriber {
  /** The selector in one canonical spelling, so equal selectors share a watch. */
  readonly selector: string;
  readonly requirements: readonly SelectorRequirement[];
  /** The watch currently serving it (none until its group is planned). */
  served?: SharedWatch;
}

interface SharedWatch {
  /** The selector it asks the server for, or {@linkcode WHOLE_GROUP}. */
  readonly key: string;
  readonly watch: PodSetWatch;
  readonly subscribers: Set<Subscription>;
  listed: boolean;
}

interface Group {
  readonly id: string;
  readonly namespace: string;
  readonly node?: string;
  readonly subscriptions: Set<Subscription>;
  readonly watches: Map<string, SharedWatch>;
}

/**
 * Shares server-filtered pod watches between subscribers.
 *
 * @example Follow the pods of a selector through a source of your own
 * ```ts
 * import { type AnchorPod, type PodListerWatcher, PodWatchHub } from "@cplauncher/cplauncher";
 *
 * // A fixed set of pods that never changes; the default source is the apiserver.
 * const web: AnchorPod = {
 *   name: "web-0",
 *   namespace: "shop",
 *   uid: "3f0c",
 *   resourceVersion: "7",
 *   node: "node-1",
 *   phase: "Running",
 *   ready: true,
 *   started: true,
 *   deleting: false,
 *   ips: ["10.1.0.7"],
 *   createdAt: 0,
 *   annotations: {},
 *   labels: { app: "web" },
 * };
 * const source: PodListerWatcher = {
 *   server: "https://apiserver.test",
 *   list: (query) =>
 *     Promise.resolve({
 *       pods: query.namespace === web.namespace ? [web] : [],
 *       resourceVersion: web.resourceVersion,
 *     }),
 *   watch: (_query, _resourceVersion, _onEvent) => {
 *     const { promise, resolve } = Promise.withResolvers<"closed">();
 *     return { done: promise, abort: () => resolve("closed") };
 *   },
 * };
 *
 * const hub = new PodWatchHub(source);
 * const seen = Promise.withResolvers<readonly AnchorPod[]>();
 * const unsubscribe = hub.subscribe("shop", "app=web", {
 *   onChange: (pods) => seen.resolve(pods),
 *   onFatal: (error) => seen.reject(error),
 * }, { node: "node-1" });
 * const pods = await seen.promise;
 * await unsubscribe();
 * await hub.close();
 * if (pods[0]?.ips[0] !== "10.1.0.7") throw new Error("unexpected");
 * ```
 */
export class PodWatchHub {
  readonly #source: PodListerWatcher;
  readonly #maxBackoffMs?: number;
  readonly #maxSelectorWatches: number;
  readonly #groups = new Map<string, Group>();
  readonly #unplanned = new Set<Group>();
  /** Watches being stopped (replaced by a plan, or left by their last subscriber). */
  readonly #stopping = new Set<Promise<void>>();
  #planTimer?: ReturnType<typeof setTimeout>;

  /**
   * Creates a hub over a pod source (`clientNodePodSource(kube)` for the apiserver); watches
   * start with the first subscriber.
   */
  constructor(source: PodListerWatcher, options: PodWatchHubOptions = {}) {
    this.#source = source;
    if (options.maxBackoffMs !== undefined) this.#maxBackoffMs = options.maxBackoffMs;
    this.#maxSelectorWatches = options.maxSelectorWatches ?? DEFAULT_SELECTOR_WATCHES;
  }

  /** The source the watches list and watch through. */
  get source(): PodListerWatcher {
    return this.#source;
  }

  /**
   * Follows the pods of `namespace` matching `selector` (and bound to `options.node`).
   *
   * @throws {Error} when the selector does not parse (configs are validated before this).
   * @returns a function that ends the subscription (and its watch, after the last one).
   */
  subscribe(
    namespace: string,
    selector: string,
    subscriber: PodSubscriber,
    options: SubscribeOptions = {},
  ): () => Promise<void> {
    const parsed = parseSelector(selector);
    if (!parsed.ok) throw new Error(`bad selector ${JSON.stringify(selector)}: ${parsed.message}`);
    const subscription: Subscription = {
      ...subscriber,
      selector: parsed.requirements.map(formatRequirement).join(","),
      requirements: parsed.requirements,
    };
    const id = `${namespace}\0${options.node ?? ""}`;
    let group = this.#groups.get(id);
    const fresh = !group;
    if (!group) {
      group = {
        id,
        namespace,
        ...(options.node ? { node: options.node } : {}),
        subscriptions: new Set(),
        watches: new Map(),
      };
      this.#groups.set(id, group);
    }
    group.subscriptions.add(subscription);
    const existing = group.watches.get(WHOLE_GROUP) ?? group.watches.get(subscription.selector);
    if (existing) this.#attach(subscription, existing);
    else if (fresh) this.#plan(group);
    else this.#deferPlan(group);
    const owner = group;
    return async () => {
      owner.subscriptions.delete(subscription);
      const served = subscription.served;
      subscription.served = undefined;
      served?.subscribers.delete(subscription);
      if (owner.subscriptions.size === 0 && this.#groups.get(owner.id) === owner) {
        this.#groups.delete(owner.id);
        this.#unplanned.delete(owner);
      }
      if (served && served.subscribers.size === 0) {
        // Out of the plan and stopped now; its request in flight is aborted a turn later
        // (that costs a few milliseconds, which the caller, e.g. a launch, should not wait
        // for).
        await this.#stopWatch(owner, served, { later: true });
      }
    };
  }

  /** How many watches are running. */
  get watchCount(): number {
    let count = 0;
    for (const group of this.#groups.values()) count += group.watches.size;
    return count;
  }

  /** What the running watches ask the server for. */
  queries(): PodQuery[] {
    return [...this.#groups.values()].flatMap((group) =>
      [...group.watches.values()].map((shared) => shared.watch.query)
    );
  }

  /** Stops every watch. */
  async close(): Promise<void> {
    clearTimeout(this.#planTimer);
    this.#planTimer = undefined;
    this.#unplanned.clear();
    const all = [...this.#groups.values()].flatMap((group) => [...group.watches.values()]);
    this.#groups.clear();
    await Promise.all([...all.map((shared) => shared.watch.stop()), ...this.#stopping]);
  }

  /**
   * Subscriptions made in the same turn of the event loop are planned together, so a
   * launcher resolving many anchors at once opens the watches it keeps rather than a few
   * selector watches first and the namespace watch after.
   */
  #deferPlan(group: Group): void {
    this.#unplanned.add(group);
    this.#planTimer ??= setTimeout(() => {
      this.#planTimer = undefined;
      const groups = [...this.#unplanned];
      this.#unplanned.clear();
      for (const g of groups) if (this.#groups.get(g.id) === g) this.#plan(g);
    }, 0);
  }

  /** Gives every subscription of `group` the watch it should have, stopping unused ones. */
  #plan(group: Group): void {
    this.#unplanned.delete(group);
    const selectors = new Set([...group.subscriptions].map((s) => s.selector));
    // Without a node, a watch of all namespaces would stream every pod of the cluster: there
    // selector watches are always the smaller price.
    const unbounded = group.namespace === ALL_NAMESPACES && !group.node;
    const whole = group.watches.has(WHOLE_GROUP) ||
      (!unbounded && selectors.size > this.#maxSelectorWatches);
    for (const subscription of group.subscriptions) {
      const key = whole ? WHOLE_GROUP : subscription.selector;
      if (subscription.served?.key === key) continue;
      subscription.served?.subscribers.delete(subscription);
      this.#attach(subscription, group.watches.get(key) ?? this.#startWatch(group, key));
    }
    for (const shared of group.watches.values()) {
      if (shared.subscribers.size === 0) void this.#stopWatch(group, shared);
    }
  }

  #attach(subscription: Subscription, shared: SharedWatch): void {
    subscription.served = shared;
    shared.subscribers.add(subscription);
    if (!shared.listed) return;
    // Late subscribers get the current state at once, as a fresh watch would after listing.
    const current = shared.watch.pods();
    queueMicrotask(() => {
      if (subscription.served === shared) {
        subscription.onChange(this.#view(shared, current, subscription));
      }
    });
  }

  #view(
    shared: SharedWatch,
    pods: readonly AnchorPod[],
    subscription: Subscription,
  ): readonly AnchorPod[] {
    // A selector watch holds only what the server matched; the whole-group one holds more.
    return shared.key === WHOLE_GROUP
      ? pods.filter((pod) => selectorMatches(subscription.requirements, pod.labels))
      : pods;
  }

  #startWatch(group: Group, key: string): SharedWatch {
    const subscribers = new Set<Subscription>();
    const shared: SharedWatch = {
      key,
      subscribers,
      listed: false,
      watch: new PodSetWatch({
        source: this.#source,
        namespace: group.namespace,
        labelSelector: key,
        ...(group.node ? { fieldSelector: nodeFieldSelector(group.node) } : {}),
        ...(this.#maxBackoffMs !== undefined ? { maxBackoffMs: this.#maxBackoffMs } : {}),
        onChange: (pods) => {
          shared.listed = true;
          for (const s of subscribers) s.onChange(this.#view(shared, pods, s));
        },
        onFatal: (error) => {
          if (group.watches.get(key) === shared) group.watches.delete(key);
          const ended = [...subscribers];
          subscribers.clear();
          for (const s of ended) {
            s.served = undefined;
            group.subscriptions.delete(s);
          }
          if (group.subscriptions.size === 0 && this.#groups.get(group.id) === group) {
            this.#groups.delete(group.id);
          }
          for (const s of ended) s.onFatal(error);
        },
        onRetry: (error) => {
          for (const s of subscribers) s.onRetry?.(error);
        },
      }),
    };
    group.watches.set(key, shared);
    shared.watch.start();
    return shared;
  }

  /**
   * Takes `shared` out of the plan and stops it. The stop is tracked, so close() waits for it
   * even when the caller does not.
   */
  #stopWatch(
    group: Group,
    shared: SharedWatch,
    options: { readonly later?: boolean } = {},
  ): Promise<void> {
    if (group.watches.get(shared.key) === shared) group.watches.delete(shared.key);
    const stopped = shared.watch.stop({ deferAbort: options.later === true });
    this.#stopping.add(stopped);
    stopped.finally(() => this.#stopping.delete(stopped));
    return stopped;
  }
}
