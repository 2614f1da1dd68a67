/**
 * One pod watch per namespace, shared by every anchor in it. A launcher with 50 anchors in
 * one namespace then holds one list+watch against the apiserver instead of 50 (each a TLS
 * connection and a stream), and each anchor sees the pods matching its own selector.
 *
 * @module
 */
import { parseSelector, selectorMatches, type SelectorRequirement } from "../config/selector.ts";
import type { KubeError } from "./errors.ts";
import type { PodListerWatcher } from "./pod_source.ts";
import { PodSetWatch } from "./pod_watch.ts";
import type { AnchorPod } from "./pods.ts";

/** What a subscriber is told. */
export interface PodSubscriber {
  /** The pods matching the subscriber's selector, after every change in the namespace. */
  readonly onChange: (pods: readonly AnchorPod[]) => void;
  /** The shared watch gave up (e.g. 403); the subscription is over. */
  readonly onFatal: (error: KubeError) => void;
  /** A transient failure; the shared watch retries. */
  readonly onRetry?: (error: KubeError) => void;
}

interface Subscription extends PodSubscriber {
  readonly requirements: readonly SelectorRequirement[];
}

interface SharedWatch {
  readonly watch: PodSetWatch;
  readonly subscribers: Set<Subscription>;
  listed: boolean;
}

/** Shares pod watches by namespace. */
export class PodWatchHub {
  readonly #source: PodListerWatcher;
  readonly #maxBackoffMs?: number;
  readonly #namespaces = new Map<string, SharedWatch>();

  /**
   * Creates a hub over a pod source (`clientNodePodSource(kube)` for the apiserver); watches
   * start with the first subscriber.
   */
  constructor(source: PodListerWatcher, options: { maxBackoffMs?: number } = {}) {
    this.#source = source;
    if (options.maxBackoffMs !== undefined) this.#maxBackoffMs = options.maxBackoffMs;
  }

  /**
   * Follows the pods of `namespace` matching `selector`.
   *
   * @throws {Error} when the selector does not parse (configs are validated before this).
   * @returns a function that ends the subscription (and the watch, after the last one).
   */
  subscribe(namespace: string, selector: string, subscriber: PodSubscriber): () => Promise<void> {
    const parsed = parseSelector(selector);
    if (!parsed.ok) throw new Error(`bad selector ${JSON.stringify(selector)}: ${parsed.message}`);
    const subscription: Subscription = { ...subscriber, requirements: parsed.requirements };
    let shared = this.#namespaces.get(namespace);
    if (!shared) shared = this.#start(namespace);
    else if (shared.listed) {
      // Late subscribers get the current state at once, as a fresh watch would after listing.
      const current = shared.watch.pods();
      queueMicrotask(() => subscription.onChange(matching(current, subscription)));
    }
    shared.subscribers.add(subscription);
    const owner = shared;
    return async () => {
      owner.subscribers.delete(subscription);
      if (owner.subscribers.size === 0 && this.#namespaces.get(namespace) === owner) {
        this.#namespaces.delete(namespace);
        await owner.watch.stop();
      }
    };
  }

  /** How many namespace watches are running (one per namespace with subscribers). */
  get watchCount(): number {
    return this.#namespaces.size;
  }

  /** Stops every watch. */
  async close(): Promise<void> {
    const all = [...this.#namespaces.values()];
    this.#namespaces.clear();
    await Promise.all(all.map((shared) => shared.watch.stop()));
  }

  #start(namespace: string): SharedWatch {
    const subscribers = new Set<Subscription>();
    const shared: SharedWatch = {
      subscribers,
      listed: false,
      watch: new PodSetWatch({
        source: this.#source,
        namespace,
        labelSelector: "",
        ...(this.#maxBackoffMs !== undefined ? { maxBackoffMs: this.#maxBackoffMs } : {}),
        onChange: (pods) => {
          shared.listed = true;
          for (const s of subscribers) s.onChange(matching(pods, s));
        },
        onFatal: (error) => {
          if (this.#namespaces.get(namespace) === shared) this.#namespaces.delete(namespace);
          for (const s of subscribers) s.onFatal(error);
        },
        onRetry: (error) => {
          for (const s of subscribers) s.onRetry?.(error);
        },
      }),
    };
    this.#namespaces.set(namespace, shared);
    shared.watch.start();
    return shared;
  }
}

function matching(pods: readonly AnchorPod[], subscription: Subscription): AnchorPod[] {
  return pods.filter((pod) => selectorMatches(subscription.requirements, pod.labels));
}
