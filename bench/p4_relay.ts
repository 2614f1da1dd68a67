/**
 * P4 log relay: a workload writes a payload of log lines (100 bytes each) to stdout.
 *
 * Ours: `cplauncher run` (the bundle) with a static netns anchor relays `cat PAYLOAD` (text
 * format, `[w] ` before each line) to its stdout, which this process reads and counts:
 * payload bytes = bytes − 4 × lines, the bytes lost must be 0, and every line must be one
 * whole prefixed payload line (an interleaved or cut line has another length). Throughput
 * is measured from the first relayed byte to the end of the stream (the launcher's start is
 * P2's business); the end-to-end figure is kept too. The goal compares it with `cat
 * PAYLOAD` through the same kind of pipe into the same reader (which checks its lines the
 * same way). For reference also ours with its stdout on /dev/null (from the workload's exec
 * to the launcher's exit) and `cat PAYLOAD > /dev/null`. The payload is read once before
 * the trials so it sits in the page cache.
 *
 * @module
 */
import type { TestHost } from "../tests/support/netns.ts";
import {
  type BenchContext,
  markExec,
  readMarker,
  startOurs,
  waitNetnsEmpty,
  writeConfig,
} from "./lib/context.ts";
import { epochMs, procStatusKiB, spawn } from "./lib/procs.ts";

/** Length of one payload line, newline included. */
export const LINE_BYTES = 100;
const PREFIX_BYTES = "[w] ".length;

/** One P4 trial of one arm. */
export interface P4Trial {
  readonly arm: "ours" | "ours-devnull" | "cat-devnull" | "cat-counted";
  readonly index: number;
  readonly ok: boolean;
  /** Payload bytes per second (MB = 10^6 bytes), first byte → end of stream. */
  readonly mbPerSecond?: number;
  /** Payload bytes per second, process start → end of stream. */
  readonly endToEndMbPerSecond?: number;
  /** Payload bytes that did not come out. */
  readonly bytesLost?: number;
  /** Lines of another length than one (prefixed) payload line: interleaved or cut. */
  readonly badLines?: number;
  readonly linesReceived?: number;
  /** Peak RSS of the launcher while relaying, KiB (ours only). */
  readonly peakRssKiB?: number;
  readonly error?: string;
}

/**
 * Counts lines and the ones that are not exactly `lineBytes` long (newline included), across
 * chunk boundaries: the same per-byte work for every reader.
 */
function lineChecker(lineBytes: number) {
  let current = 0;
  const counts = { lines: 0, bad: 0 };
  return {
    counts,
    add(chunk: Uint8Array): void {
      let from = 0;
      let at = chunk.indexOf(0x0a);
      while (at !== -1) {
        counts.lines++;
        if (current + at - from + 1 !== lineBytes) counts.bad++;
        current = 0;
        from = at + 1;
        at = chunk.indexOf(0x0a, from);
      }
      current += chunk.length - from;
    },
  };
}

/** Writes `bytes` of 100-byte log lines to `path`. */
export async function writePayload(path: string, bytes: number): Promise<void> {
  const linesPerBlock = 10_000;
  const encoder = new TextEncoder();
  const block = new Uint8Array(linesPerBlock * LINE_BYTES);
  for (let i = 0; i < linesPerBlock; i++) {
    const text = `2025-01-01T00:00:00.${String(i % 1000).padStart(3, "0")}Z INFO relay-bench ` +
      `request handled seq=${String(i).padStart(6, "0")} status=200 `;
    const line = encoder.encode(text.padEnd(LINE_BYTES - 1, "x").slice(0, LINE_BYTES - 1) + "\n");
    block.set(line, i * LINE_BYTES);
  }
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    let left = bytes;
    while (left > 0) {
      const n = Math.min(left, block.length);
      let off = 0;
      while (off < n) off += await file.write(block.subarray(off, n));
      left -= n;
    }
  } finally {
    file.close();
  }
}

async function oursTrial(
  config: string,
  marker: string,
  bytes: number,
  index: number,
  counted: boolean,
): Promise<P4Trial> {
  const arm = counted ? "ours" : "ours-devnull";
  let total = 0;
  let first = 0;
  let last = 0;
  const checker = lineChecker(LINE_BYTES + PREFIX_BYTES);
  await Deno.remove(marker).catch(() => {});
  const t0 = epochMs();
  const proc = startOurs(["run", "-c", config], {
    stdout: counted ? "count" : "null",
    onStdout: (chunk) => {
      const now = epochMs();
      if (first === 0) first = now;
      last = now;
      total += chunk.length;
      checker.add(chunk);
    },
  });
  let peak = 0;
  const sampler = setInterval(() => peak = Math.max(peak, procStatusKiB(proc.pid, "VmHWM")), 100);
  try {
    const status = await proc.status;
    const t1 = epochMs();
    if (status.code !== 0) {
      return { arm, index, ok: false, error: `exit ${status.code}: ${proc.stderr()}` };
    }
    if (!counted) {
      // Nothing to count: from the workload's exec (its marker) to the launcher's exit.
      const exec = await readMarker(marker);
      if (!exec) return { arm, index, ok: false, error: "no exec marker" };
      return {
        arm,
        index,
        ok: true,
        mbPerSecond: bytes / 1e6 / ((t1 - exec.at) / 1000),
        endToEndMbPerSecond: bytes / 1e6 / ((t1 - t0) / 1000),
        peakRssKiB: peak,
      };
    }
    const { lines, bad } = checker.counts;
    const payload = total - PREFIX_BYTES * lines;
    return {
      arm,
      index,
      ok: true,
      mbPerSecond: bytes / 1e6 / ((last - first) / 1000),
      endToEndMbPerSecond: bytes / 1e6 / ((last - t0) / 1000),
      bytesLost: bytes - payload,
      badLines: bad,
      linesReceived: lines,
      peakRssKiB: peak,
    };
  } finally {
    clearInterval(sampler);
    await proc.stop();
  }
}

async function catTrial(
  path: string,
  bytes: number,
  index: number,
  counted: boolean,
): Promise<P4Trial> {
  let total = 0;
  let first = 0;
  let last = 0;
  // The same per-chunk work as ours' reader (lines checked), so the reader costs the same.
  const checker = lineChecker(LINE_BYTES);
  const t0 = epochMs();
  const proc = spawn("cat", [path], {
    stdout: counted ? "count" : "null",
    stderr: "null",
    onStdout: (chunk) => {
      const now = epochMs();
      if (first === 0) first = now;
      last = now;
      total += chunk.length;
      checker.add(chunk);
    },
  });
  const status = await proc.status;
  const t1 = epochMs();
  const arm = counted ? "cat-counted" : "cat-devnull";
  if (status.code !== 0) return { arm, index, ok: false, error: `cat exited ${status.code}` };
  const seconds = counted ? (last - first) / 1000 : (t1 - t0) / 1000;
  return {
    arm,
    index,
    ok: true,
    mbPerSecond: bytes / 1e6 / seconds,
    endToEndMbPerSecond: bytes / 1e6 / ((t1 - t0) / 1000),
    bytesLost: counted ? bytes - total : 0,
    ...(counted ? { badLines: checker.counts.bad, linesReceived: checker.counts.lines } : {}),
  };
}

/** Runs P4: `trials` rounds of ours, cat → /dev/null and cat → counter. */
export async function runP4(
  ctx: BenchContext,
  host: TestHost,
  bytes: number,
  trials: number,
): Promise<P4Trial[]> {
  const payload = `${ctx.dir}/p4-payload.log`;
  await writePayload(payload, bytes);
  try {
    await catTrial(payload, bytes, -1, false); // into the page cache
    const marker = `${ctx.dir}/p4.exec`;
    const config = await writeConfig(ctx, "p4", {
      anchors: { a: { netns: host.path } },
      workloads: {
        w: {
          anchor: "a",
          command: markExec(marker, ["cat", payload]),
          restart: { policy: "never" },
        },
      },
    });
    const out: P4Trial[] = [];
    for (let i = 0; i < trials; i++) {
      for (
        const t of [
          await oursTrial(config, marker, bytes, i, true),
          await oursTrial(config, marker, bytes, i, false),
          await catTrial(payload, bytes, i, false),
          await catTrial(payload, bytes, i, true),
        ]
      ) {
        out.push(t);
        ctx.log(
          `P4 ${t.arm} #${i + 1}: ${
            t.ok ? `${t.mbPerSecond!.toFixed(0)} MB/s, lost ${t.bytesLost}` : `FAILED ${t.error}`
          }`,
        );
      }
      await waitNetnsEmpty(host);
    }
    return out;
  } finally {
    await Deno.remove(payload).catch(() => {});
  }
}
