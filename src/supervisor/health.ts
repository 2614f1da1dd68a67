/**
 * The launcher's health endpoint. HostProcess pods share the host network, so kubelet
 * cannot probe a workload inside a compartment; it probes the launcher instead:
 * `/healthz` (launcher alive), `/readyz` (all, or `?workload=a,b`, ready) and `/metrics`
 * (Prometheus text format).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { WorkloadStatus } from "./types.ts";

const log = getLogger(["cplauncher", "health"]);

/** Renders workload states as Prometheus text exposition format. */
export function renderMetrics(workloads: readonly WorkloadStatus[]): string {
  const lines: string[] = [];
  const family = (
    name: string,
    type: string,
    help: string,
    value: (w: WorkloadStatus) => number | undefined,
  ) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const w of workloads) {
      const v = value(w);
      if (v !== undefined) {
        lines.push(
          `${name}{workload="${escapeLabel(w.name)}",anchor="${escapeLabel(w.anchor)}"} ${v}`,
        );
      }
    }
  };
  family(
    "cplauncher_workload_up",
    "gauge",
    "1 when the workload process is running.",
    (w) => (w.pid !== undefined ? 1 : 0),
  );
  family(
    "cplauncher_workload_ready",
    "gauge",
    "1 when the workload is ready.",
    (w) => (w.ready ? 1 : 0),
  );
  family(
    "cplauncher_workload_restarts_total",
    "counter",
    "Restarts of the workload.",
    (w) => w.restarts,
  );
  family(
    "cplauncher_workload_last_exit_code",
    "gauge",
    "Exit code of the last run.",
    (w) => w.lastExitCode,
  );
  family(
    "cplauncher_anchor_resolution_seconds",
    "gauge",
    "Time the workload's anchor took to resolve to a network domain.",
    (w) => w.anchorResolutionSeconds,
  );
  return `${lines.join("\n")}\n`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Answers one health request. Exported for tests; {@linkcode serveHealth} wires it up. */
export function handleHealth(
  request: Request,
  workloads: () => readonly WorkloadStatus[],
): Response {
  const url = new URL(request.url);
  const text = (body: string, status = 200) =>
    new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
  switch (url.pathname) {
    case "/healthz":
      return text("ok\n");
    case "/readyz": {
      const wanted = url.searchParams.get("workload")?.split(",").filter(Boolean);
      const all = workloads();
      const selected = wanted ? all.filter((w) => wanted.includes(w.name)) : all;
      const unknown = wanted?.filter((name) => !all.some((w) => w.name === name)) ?? [];
      if (unknown.length > 0) return text(`unknown workload: ${unknown.join(", ")}\n`, 404);
      const notReady = selected.filter((w) => !w.ready);
      return notReady.length === 0 && selected.length > 0
        ? text("ready\n")
        : text(`not ready: ${notReady.map((w) => `${w.name} (${w.state})`).join(", ")}\n`, 503);
    }
    case "/metrics":
      return new Response(renderMetrics(workloads()), {
        headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
      });
    default:
      return text("not found\n", 404);
  }
}

/**
 * A running health server.
 *
 * See the {@linkcode serveHealth} example.
 */
export interface HealthServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  /** Stops serving. */
  shutdown(): Promise<void>;
}

/**
 * Serves the health endpoint on `address:port`.
 *
 * @example Serve /healthz, /readyz and /metrics for a supervisor
 * ```ts
 * import { createPlatform, loadConfig, serveHealth, Supervisor } from "@cplauncher/cplauncher";
 *
 * const config = await loadConfig("compartments.yaml");
 * const supervisor = new Supervisor({ config, platform: await createPlatform() });
 * const health = serveHealth("127.0.0.1", 0, () => supervisor.status());
 * console.log(`readiness: http://127.0.0.1:${health.port}/readyz`);
 * await supervisor.start();
 * await health.shutdown();
 * ```
 */
export function serveHealth(
  address: string,
  port: number,
  workloads: () => readonly WorkloadStatus[],
): HealthServer {
  const server = Deno.serve(
    { hostname: address, port, onListen: () => {} },
    (request) => handleHealth(request, workloads),
  );
  const bound = (server.addr as Deno.NetAddr).port;
  log.info("health endpoint on http://{address}:{port} (/healthz, /readyz, /metrics)", {
    address,
    port: bound,
  });
  return { port: bound, shutdown: () => server.shutdown() };
}
