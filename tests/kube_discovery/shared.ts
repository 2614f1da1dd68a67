/**
 * One real kube-apiserver shared by the discovery tests of a file, started on first use and
 * stopped by the file's last test (and killed on unload if a test run is interrupted).
 */
import { type KubeCluster, startKubeCluster } from "../support/kube_cluster.ts";
import { type LoadedKubeConfig, loadKubeConfig } from "../../src/kube/mod.ts";
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
