/**
 * One real kube-apiserver shared by the discovery tests of a file, started on first use and
 * stopped by the file's last test (and killed on unload if a test run is interrupted).
 */
import { type KubeCluster, startKubeCluster } from "../support/kube_cluster.ts";
import {
  type LoadedKubeConfig,
  loadKubeConfig,
  type PodEvent,
  type PodList,
  type PodListerWatcher,
  type PodQuery,
  type PodWatchRequest,
} from "../../src/kube/mod.ts";
import type { LogRecord } from "@logtape/logtape";
import { setupLogging } from "../../src/log/mod.ts";

let cluster: Promise<KubeCluster> | undefined;

/** The shared cluster. */
export function sharedCluster(): Promise<KubeCluster> {
  cluster ??= startKubeCluster().then((c) => {
    globalThis.addEventListener("unload", () => c.killNow());
    return c;
  });
  return cluster;
}

/** Stops the shared cluster if it was started. */
export async function stopSharedCluster(): Promise<void> {
  if (cluster) await (await cluster).stop();
  cluster = undefined;
}

/** Admin credentials (client certificate + custom CA). */
export async function adminKube(): Promise<LoadedKubeConfig> {
  const c = await sharedCluster();
  return await loadKubeConfig(c.adminKubeconfigPath);
}

let counter = 0;
/** A fresh namespace name per test. */
export async function freshNamespace(prefix: string): Promise<string> {
  const c = await sharedCluster();
  const name = `${prefix}-${Date.now().toString(36)}-${counter++}`;
  await c.createNamespace(name);
  return name;
}

/** Collected log lines (text format) since the last call of {@linkcode captureLogs}. */
export async function captureLogs(level: "trace" | "debug" | "info" = "trace"): Promise<string[]> {
  const lines: string[] = [];
  const decoder = new TextDecoder();
  await setupLogging({
    level,
    format: "json",
    write: (bytes) => lines.push(decoder.decode(bytes)),
  });
  return lines;
}

/** Test options for tests that share the cluster's long-lived processes and timers. */
export const SHARED = { sanitizeOps: false, sanitizeResources: false } as const;

export type { LogRecord };

/** One pod event a {@linkcode RecordingSource} passed on. */
export interface RecordedEvent {
  readonly query: PodQuery;
  readonly type: "ADDED" | "MODIFIED" | "DELETED";
  readonly pod: string;
}

/**
 * A pod source that passes everything through to another one (the apiserver) and records
 * what was asked for and what came back: the queries of every list and watch request, how
 * many pods each list returned, and every pod event a watch delivered.
 */
export class RecordingSource implements PodListerWatcher {
  readonly #inner: PodListerWatcher;
  /** List requests: the query and how many pods the server returned. */
  readonly lists: { query: PodQuery; pods: number }[] = [];
  /** Queries of the watch requests. */
  readonly watches: PodQuery[] = [];
  /** Pod events delivered (bookmarks are not counted). */
  readonly events: RecordedEvent[] = [];

  /** Wraps `inner`. */
  constructor(inner: PodListerWatcher) {
    this.#inner = inner;
  }

  /** The inner source's server. */
  get server(): string {
    return this.#inner.server;
  }

  /** Lists through the inner source. */
  async list(query: PodQuery): Promise<PodList> {
    const list = await this.#inner.list(query);
    this.lists.push({ query, pods: list.pods.length });
    return list;
  }

  /** Watches through the inner source. */
  watch(
    query: PodQuery,
    resourceVersion: string,
    onEvent: (event: PodEvent) => void,
  ): PodWatchRequest {
    this.watches.push(query);
    return this.#inner.watch(query, resourceVersion, (event) => {
      if (event.type !== "BOOKMARK") {
        this.events.push({ query, type: event.type, pod: event.pod.name });
      }
      onEvent(event);
    });
  }
}
