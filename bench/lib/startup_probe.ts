/**
 * Run by the P2 breakdown in a fresh process: prints `{"importMs", "hwmKiB"}`, the time
 * loading `@kubernetes/client-node` takes (what `cplauncher exec` pays when it needs the
 * client) and the process's peak RSS after it. Without arguments it imports the package
 * from source, as `deno run src/main.ts` does; with `--chunk FILE` it imports the bundle's
 * client-node chunk (run it with `--no-config`, as the bundle runs). With `--empty` it
 * imports nothing and prints only `{"hwmKiB"}` (the wall time of that run is a bare Deno
 * start).
 *
 * @module
 */
const encoder = new TextEncoder();

function hwmKiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0);
}

const chunk = Deno.args.indexOf("--chunk");
if (Deno.args.includes("--empty")) {
  Deno.stdout.writeSync(encoder.encode(`${JSON.stringify({ hwmKiB: hwmKiB() })}\n`));
} else {
  const t0 = performance.now();
  if (chunk >= 0) await import(new URL(Deno.args[chunk + 1], `file://${Deno.cwd()}/`).href);
  else await import("@kubernetes/client-node");
  const importMs = performance.now() - t0;
  Deno.stdout.writeSync(encoder.encode(`${JSON.stringify({ importMs, hwmKiB: hwmKiB() })}\n`));
}
