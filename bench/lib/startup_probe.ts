/**
 * Run by the P2 breakdown in a fresh process: prints `{"importMs", "hwmKiB"}`, the time
 * `await import("@kubernetes/client-node")` takes (what `cplauncher exec` pays before its
 * first API request) and the process's peak RSS after it. With `--empty` it imports
 * nothing and prints only `{"hwmKiB"}` (the wall time of that run is a bare Deno start).
 *
 * @module
 */
const encoder = new TextEncoder();

function hwmKiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0);
}

if (Deno.args.includes("--empty")) {
  Deno.stdout.writeSync(encoder.encode(`${JSON.stringify({ hwmKiB: hwmKiB() })}\n`));
} else {
  const t0 = performance.now();
  await import("@kubernetes/client-node");
  const importMs = performance.now() - t0;
  Deno.stdout.writeSync(encoder.encode(`${JSON.stringify({ importMs, hwmKiB: hwmKiB() })}\n`));
}
