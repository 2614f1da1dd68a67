/**
 * Measures the Linux backend's costs on this machine (needs root); not part of the tests.
 *
 *   deno run --allow-all tests/linux/bench.ts
 *
 * - namespace scan time for N extra namespaces (N = 0, 10, 50, 100);
 * - spawn + verify time of a launch (`true`, in a fixture namespace);
 * - parent-death latency: SIGKILL of a launcher process → its workload gone.
 *
 * @module
 */

import { scanNamespaces } from "../../src/platform/linux/netns.ts";
import { launchInNetns } from "../../src/platform/linux/launch.ts";
import { isAlive } from "../../src/platform/linux/proc.ts";
import { createTestNetwork, ip } from "../support/netns.ts";

const out = (s: string) => Deno.stdout.writeSync(new TextEncoder().encode(`${s}\n`));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x: number) => x.toFixed(2);

const net = await createTestNetwork("cplbn");
const extra: string[] = [];
try {
  const pod = await net.addHost("pod", net.addr(10));
  scanNamespaces(); // warm up (dlopen, JIT)
  for (const n of [0, 10, 50, 100]) {
    while (extra.length < n) {
      const name = `${net.stem}-x${extra.length}`;
      await ip("netns", "add", name);
      extra.push(name);
      await ip("-n", name, "link", "set", "lo", "up");
    }
    const times: number[] = [];
    let scanned = 0;
    for (let i = 0; i < 20; i++) {
      const s = scanNamespaces();
      times.push(s.elapsedMs);
      scanned = s.scanned;
    }
    out(`scan: ${scanned} namespaces: median ${fmt(median(times))} ms (20 runs)`);
  }

  const domain = { kind: "netns" as const, path: pod.path, inode: Deno.statSync(pod.path).ino! };
  const spawn: number[] = [];
  const switched: number[] = [];
  for (let i = 0; i < 20; i++) {
    const p = await launchInNetns(domain, { name: "bench", command: ["sleep", "5"], env: {} });
    spawn.push(p.timings.totalMs);
    switched.push(p.timings.switchedUs);
    p.kill();
    await p.status;
    await Promise.all([p.stdout.cancel(), p.stderr.cancel()]);
  }
  out(
    `launch (setpriv + sleep): spawn+verify median ${fmt(median(spawn))} ms, ` +
      `max ${fmt(Math.max(...spawn))} ms; thread switched median ${fmt(median(switched))} µs`,
  );

  const script = new URL("./launch_albums.ts", import.meta.url).pathname;
  const lat: number[] = [];
  for (let i = 0; i < 5; i++) {
    const l = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", script, "exit", pod.path, "sleep", "60"],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = l.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    while (!buf.includes('"launched"')) buf += (await reader.read()).value ?? "";
    const pid = JSON.parse(buf.split("\n").find((x) => x.includes('"launched"'))!).pid;
    const t0 = performance.now();
    l.kill("SIGKILL");
    while (isAlive(pid) && performance.now() - t0 < 3000) {
      await new Promise((r) => setTimeout(r, 1));
    }
    lat.push(performance.now() - t0);
    if (isAlive(pid)) Deno.kill(pid, "SIGKILL");
    await reader.cancel();
    await l.status;
  }
  out(`pdeathsig: launcher SIGKILL → workload dead: ${lat.map(fmt).join(", ")} ms`);
} finally {
  for (const name of extra) await ip("netns", "del", name).catch(() => {});
  await net.remove();
}
