/**
 * Drives `bench/client_probe.ts` inside the client namespace: one long-lived process, so a
 * probe costs no process start and its polling is already running when the clock starts.
 *
 * @module
 */
import { join } from "node:path";
import { BENCH_DIR } from "./paths.ts";

/** Answer of one probe: first-200 epoch time per URL (null: not within the timeout). */
export interface ProbeAnswer {
  readonly times: (number | null)[];
  readonly attempts: number;
}

/** A running prober. */
export interface Prober {
  /** Starts polling `urls` now; resolves when all answered 200 or `timeoutMs` passed. */
  probe(urls: string[], timeoutMs: number, intervalMs: number): Promise<ProbeAnswer>;
  /** Ends the prober process. Idempotent. */
  stop(): Promise<void>;
}

/** Starts the prober in network namespace `netns` (an `ip netns` name). */
export async function startProber(netns: string): Promise<Prober> {
  const child = new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      netns,
      Deno.execPath(),
      "run",
      "--allow-net",
      join(BENCH_DIR, "client_probe.ts"),
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
  const writer = child.stdin.getWriter();
  const waiting = new Map<number, (answer: ProbeAnswer) => void>();
  let nextId = 1;
  let ready!: () => void;
  const readyPromise = new Promise<void>((r) => ready = r);
  let errText = "";
  const errPump = (async () => {
    const d = new TextDecoder();
    for await (const c of child.stderr) errText += d.decode(c, { stream: true });
  })();
  const outPump = (async () => {
    const d = new TextDecoder();
    let buffered = "";
    for await (const chunk of child.stdout) {
      buffered += d.decode(chunk, { stream: true });
      let nl;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line === "ready") {
          ready();
          continue;
        }
        const answer = JSON.parse(line) as {
          id: number;
          times: (number | null)[];
          attempts: number;
        };
        waiting.get(answer.id)?.({ times: answer.times, attempts: answer.attempts });
        waiting.delete(answer.id);
      }
    }
  })();
  const ended = Promise.all([errPump, outPump]).then(() => child.status);
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      await writer.close().catch(() => {});
      const timer = setTimeout(() => {
        try {
          Deno.kill(-child.pid, "SIGKILL");
        } catch { /* gone */ }
      }, 3000);
      await ended;
      clearTimeout(timer);
    })();
    return stopped;
  };
  const failed = ended.then(() => {
    throw new Error(`the client prober exited: ${errText.slice(-2000)}`);
  });
  failed.catch(() => {});
  let startTimer: ReturnType<typeof setTimeout> | undefined;
  const tooSlow = new Promise<never>((_, reject) =>
    startTimer = setTimeout(
      () => reject(new Error("the client prober did not start in 30 s")),
      30_000,
    )
  );
  try {
    await Promise.race([readyPromise, failed, tooSlow]);
  } catch (e) {
    await stop();
    throw e;
  } finally {
    clearTimeout(startTimer);
  }
  const encoder = new TextEncoder();
  return {
    async probe(urls, timeoutMs, intervalMs) {
      const id = nextId++;
      const answer = new Promise<ProbeAnswer>((resolve) => waiting.set(id, resolve));
      await writer.write(
        encoder.encode(`${JSON.stringify({ id, urls, timeoutMs, intervalMs })}\n`),
      );
      return await Promise.race([answer, failed]);
    },
    stop,
  };
}
