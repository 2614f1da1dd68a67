/**
 * Helper launcher for the Linux backend tests, run as its own process
 * (`deno run --allow-all tests/linux/launch_albums.ts MODE ...`) so that the launch
 * happens from a process whose main JS thread does the `setns` + spawn, exactly as in
 * `cplauncher`, and so that the test can SIGKILL it to check the parent-death signal.
 *
 * Reports JSON lines on stdout (`{"event": ...}`); backend logs go to stderr. A failure is
 * `{"event": "error", "message": ..., "kind": ...}` with the `PlatformError` kind, if any.
 *
 * Modes:
 *   albums IP PORT           resolve IP, launch examples/albums on PORT, wait until it
 *                            listens, report; on SIGTERM terminate it and report its exit
 *   exit NETNS_PATH CMD...   launch CMD in NETNS_PATH, report its exit status, exit
 *   stale NETNS_PATH         launch with a wrong inode for NETNS_PATH (must fail)
 *   resolve IP               only resolve IP (used without CAP_SYS_ADMIN)
 *   static PATH              only openStatic(PATH)
 *
 * @module
 */

import { configure, getTextFormatter, type LogRecord } from "@logtape/logtape";
import { createLinuxBackend, type LinuxLaunchedProcess } from "../../src/platform/linux/mod.ts";
import { PlatformError } from "../../src/platform/mod.ts";
import type { NetnsDomain } from "../../src/platform/types.ts";

const encoder = new TextEncoder();
const formatter = getTextFormatter();
await configure({
  sinks: { stderr: (r: LogRecord) => Deno.stderr.writeSync(encoder.encode(formatter(r))) },
  loggers: [
    { category: ["cplauncher"], lowestLevel: "debug", sinks: ["stderr"] },
    { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
  ],
});

function emit(event: Record<string, unknown>): void {
  Deno.stdout.writeSync(encoder.encode(`${JSON.stringify(event)}\n`));
}

const backend = createLinuxBackend();
const [mode, ...rest] = Deno.args;
const albums = new URL("../../examples/albums/main.ts", import.meta.url).pathname;

async function forward(stream: ReadableStream<Uint8Array>, name: string) {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      emit({ event: name, line: buf.slice(0, i) });
      buf = buf.slice(i + 1);
    }
  }
}

function launched(p: LinuxLaunchedProcess, domain: NetnsDomain) {
  let childInode: number | null = null;
  try {
    childInode = Deno.statSync(`/proc/${p.pid}/ns/net`).ino;
  } catch {
    // A short-lived command may already be gone.
  }
  emit({
    event: "launched",
    pid: p.pid,
    childInode,
    verifiedInode: p.netnsInode,
    domain,
    pdeathsig: p.pdeathsig,
    totalMs: p.timings.totalMs,
    switchedUs: p.timings.switchedUs,
  });
}

try {
  if (mode === "albums") {
    const [ip, port] = rest;
    const t0 = performance.now();
    const domain = await backend.resolveAddress(ip, { signal: AbortSignal.timeout(10_000) });
    emit({ event: "resolved", domain, ms: performance.now() - t0 });
    const p = await backend.launch(domain, {
      name: "albums",
      command: [Deno.execPath(), "run", "--allow-net", "--allow-env", albums, "--port", port],
      env: { NO_COLOR: "1" },
    }) as LinuxLaunchedProcess;
    launched(p, domain as NetnsDomain);
    const out = forward(p.stdout, "stdout");
    const err = forward(p.stderr, "stderr");
    Deno.addSignalListener("SIGTERM", () => p.terminate());
    const deadline = Date.now() + 20_000;
    for (;;) {
      const l = await backend.listening(domain, p, Number(port));
      if (l.inside || Date.now() > deadline) {
        emit({ event: "listening", ...l });
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const status = await p.status;
    await Promise.all([out, err]);
    emit({ event: "exit", status });
    Deno.exit(0);
  } else if (mode === "exit") {
    const [path, ...command] = rest;
    const domain = await backend.openStatic({ netns: path });
    const p = await backend.launch(domain, { name: "exit", command, env: {} });
    launched(p as LinuxLaunchedProcess, domain as NetnsDomain);
    await Promise.all([p.stdout.cancel(), p.stderr.cancel()]);
    emit({ event: "exit", status: await p.status });
  } else if (mode === "hold") {
    // Like "exit", but a failed launch leaves this launcher running until SIGTERM, so a test
    // can see what the failure left behind while the launcher (and its parent-death signal)
    // is still alive.
    const [path, ...command] = rest;
    const domain = await backend.openStatic({ netns: path });
    const stop = new Promise<void>((resolve) => Deno.addSignalListener("SIGTERM", resolve));
    try {
      const p = await backend.launch(domain, { name: "hold", command, env: {} });
      launched(p as LinuxLaunchedProcess, domain as NetnsDomain);
    } catch (e) {
      emit({
        event: "error",
        message: (e as Error).message,
        kind: e instanceof PlatformError ? e.kind : undefined,
      });
    }
    await stop;
    Deno.exit(0);
  } else if (mode === "stale") {
    const domain = await backend.openStatic({ netns: rest[0] }) as NetnsDomain;
    await backend.launch({ ...domain, inode: domain.inode + 1 }, {
      name: "stale",
      command: ["true"],
      env: {},
    });
    emit({ event: "launched-unexpectedly" });
  } else if (mode === "resolve") {
    const domain = await backend.resolveAddress(rest[0], { signal: AbortSignal.timeout(1000) });
    emit({ event: "resolved", domain });
  } else if (mode === "static") {
    emit({ event: "static", domain: await backend.openStatic({ netns: rest[0] }) });
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} catch (e) {
  emit({
    event: "error",
    message: (e as Error).message,
    kind: e instanceof PlatformError ? e.kind : undefined,
  });
  Deno.exit(2);
}
