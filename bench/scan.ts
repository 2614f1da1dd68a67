/**
 * Resolution scan: the time to map an IP to the network namespace holding it, with 1, 10
 * and 100 namespaces (made here, on a bridge of their own) present besides whatever else
 * runs on the machine. Ours: `findNamespaceOwning` (rtnetlink over FFI, every namespace
 * from `/var/run/netns` and `/proc/*\/ns/net`), called in this process. Baseline: the
 * operator's loop from `bench/find_netns.sh` (`ip -n NS -o -4 addr` per named namespace,
 * first match), as a process. Targets rotate over the namespaces made, so the baseline's
 * early exit averages out.
 *
 * @module
 */
import { findNamespaceOwning } from "../src/platform/linux/netns.ts";
import { createTestNetwork, type TestHost } from "../tests/support/netns.ts";
import { FIND_NETNS_SCRIPT } from "./lib/context.ts";
import { runCommand } from "./lib/procs.ts";

/** Figures for one size. */
export interface ScanSize {
  /** Namespaces made by the benchmark. */
  readonly made: number;
  /** Distinct namespaces our scan looked at (all on the machine, incl. the host's). */
  readonly scanned: number;
  /** Named namespaces in `/var/run/netns` (what the baseline loop walks). */
  readonly named: number;
  /** Our scan + match, ms per call. */
  readonly oursMs: number[];
  /** The baseline loop, wall ms per run. */
  readonly baselineMs: number[];
}

/** Runs the scan benchmark; removes its namespaces before returning. */
export async function runScan(
  sizes: readonly number[],
  repetitions: number,
  log: (message: string) => void,
): Promise<ScanSize[]> {
  const network = await createTestNetwork("cplbs");
  const hosts: TestHost[] = [];
  const out: ScanSize[] = [];
  try {
    for (const size of sizes) {
      while (hosts.length < size) {
        hosts.push(await network.addHost(`n${hosts.length}`, network.addr(10 + hosts.length)));
      }
      const oursMs: number[] = [];
      const baselineMs: number[] = [];
      let scanned = 0;
      findNamespaceOwning(hosts[0].ip); // warm-up: the first call loads libc over FFI
      for (let i = 0; i < repetitions; i++) {
        const target = hosts[(i * 7) % hosts.length];
        const t0 = performance.now();
        const owner = findNamespaceOwning(target.ip);
        oursMs.push(performance.now() - t0);
        scanned = owner.scanned;
        if (!owner.namespace.netnsPaths.includes(target.path)) {
          throw new Error(`scan found ${target.ip} in ${owner.namespace.path}, not ${target.path}`);
        }
        const b = await runCommand("bash", [FIND_NETNS_SCRIPT, target.ip]);
        if (b.stdout.trim() !== target.netns) {
          throw new Error(`find_netns.sh answered '${b.stdout.trim()}' for ${target.ip}`);
        }
        baselineMs.push(b.ms);
      }
      let named = 0;
      for (const _ of Deno.readDirSync("/var/run/netns")) named++;
      out.push({ made: size, scanned, named, oursMs, baselineMs });
      log(
        `scan with ${size} namespaces made (${scanned} scanned): ours ${
          median(oursMs).toFixed(2)
        } ms, baseline loop ${median(baselineMs).toFixed(1)} ms`,
      );
    }
    return out;
  } finally {
    await network.remove();
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
