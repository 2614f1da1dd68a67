/**
 * Readiness, liveness and startup probes against the anchor's IP: HTTP GET (2xx/3xx is a
 * success) or a TCP connect, with kubelet's thresholds.
 *
 * @module
 */
import type { Probe } from "../config/mod.ts";

/** One probe attempt's outcome. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly detail: string;
}

function hostPart(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Runs one probe attempt against `host`. Never throws. */
export async function probeOnce(probe: Probe, host: string): Promise<ProbeResult> {
  const signal = AbortSignal.timeout(probe.timeout);
  try {
    if (probe.http) {
      const url = `http://${hostPart(host)}:${probe.http.port}${probe.http.path}`;
      const response = await fetch(url, { signal, redirect: "manual" });
      await response.body?.cancel();
      const ok = response.status >= 200 && response.status < 400;
      return { ok, detail: `GET ${url} → ${response.status}` };
    }
    const port = probe.tcp!.port;
    const connection = await Promise.race([
      Deno.connect({ hostname: host, port }),
      new Promise<never>((_, reject) =>
        signal.addEventListener("abort", () => reject(new Error("timed out")), { once: true })
      ),
    ]);
    connection.close();
    return { ok: true, detail: `tcp ${host}:${port} connected` };
  } catch (error) {
    const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
    return { ok: false, detail: signal.aborted ? `timed out after ${probe.timeout} ms` : message };
  }
}

/** Consecutive-result bookkeeping of one probe. */
export class ProbeState {
  readonly #probe: Probe;
  #successes = 0;
  #failures = 0;
  /** Current verdict: undefined until a threshold is crossed. */
  healthy: boolean | undefined;

  /** Tracks results of `probe`. */
  constructor(probe: Probe) {
    this.#probe = probe;
  }

  /** Records a result; returns true when the verdict changed. */
  record(ok: boolean): boolean {
    const before = this.healthy;
    if (ok) {
      this.#failures = 0;
      this.#successes++;
      if (this.#successes >= this.#probe.successThreshold) this.healthy = true;
    } else {
      this.#successes = 0;
      this.#failures++;
      if (this.#failures >= this.#probe.failureThreshold) this.healthy = false;
    }
    return before !== this.healthy;
  }
}
