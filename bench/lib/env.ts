/**
 * What the results were measured on: the machine and the versions of everything involved.
 *
 * @module
 */
import { VERSION } from "../../src/version.ts";
import { ROOT } from "./paths.ts";
import { runCommand } from "./procs.ts";

/** Machine facts. */
export async function machineInfo(): Promise<Record<string, unknown>> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKiB = Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0);
  return {
    os: Deno.build.os,
    arch: Deno.build.arch,
    kernel: Deno.osRelease(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    cpus: navigator.hardwareConcurrency,
    memoryMB: Math.round(memKiB / 1024),
    loadAverageAtStart: Deno.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

async function firstLine(cmd: string, args: string[]): Promise<string> {
  try {
    const r = await runCommand(cmd, args);
    return (r.stdout || r.stderr).trim().split("\n")[0] ?? "";
  } catch {
    return "not found";
  }
}

/** The launcher's source as measured: commit, uncommitted changes, digest of `src/`. */
export interface SourceState {
  readonly commit: string;
  /** `git status --porcelain src/` lines (uncommitted changes to the launcher). */
  readonly srcChanges: string[];
  /** sha256 over every file under `src/` (path and content), first 16 hex digits. */
  readonly srcDigest: string;
}

/** Reads the source state (to record it, and to notice `src/` changing during a run). */
export async function sourceState(): Promise<SourceState> {
  const head = await runCommand("git", ["rev-parse", "--short=12", "HEAD"], { cwd: ROOT })
    .catch(() => null);
  const status = await runCommand("git", ["status", "--porcelain", "--", "src/"], { cwd: ROOT })
    .catch(() => null);
  const files: string[] = [];
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.isFile) files.push(path);
    }
  };
  await walk(`${ROOT}src`);
  files.sort();
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const f of files) {
    parts.push(encoder.encode(`${f.slice(ROOT.length)}\0`), await Deno.readFile(f));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return {
    commit: head?.code === 0 ? head.stdout.trim() : "unknown",
    srcChanges: status?.code === 0 ? status.stdout.split("\n").filter(Boolean) : [],
    srcDigest: Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join(""),
  };
}

/** Versions of the launcher, the runtime, the control plane and the baseline's tools. */
export async function versionInfo(
  binDir: string,
  apiserverVersion: string,
  workload: string,
  source: SourceState,
): Promise<Record<string, unknown>> {
  const kubectl = await runCommand(`${binDir}/kubectl`, ["version", "--client", "-o", "json"])
    .then((r) => (JSON.parse(r.stdout).clientVersion?.gitVersion as string) ?? "unknown")
    .catch(() => "unknown");
  const goMod = await Deno.readTextFile(`${ROOT}tests/kube/go.mod`).catch(() => "");
  const denoJson = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)) as {
    imports: Record<string, string>;
  };
  return {
    cplauncher: VERSION,
    cplauncherCommit: source.commit,
    cplauncherSrcChanges: source.srcChanges.join("; ") || "none",
    cplauncherSrcDigest: source.srcDigest,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
    kubernetesClientNode: denoJson.imports["@kubernetes/client-node"]?.replace(/^npm:/, ""),
    k8sModule: /^\s*k8s\.io\/kubernetes (v\S+)/m.exec(goMod)?.[1] ?? "unknown",
    kubeApiserver: apiserverVersion,
    kubectl,
    etcd: await firstLine(`${binDir}/etcd`, ["--version"]),
    bash: await firstLine("bash", ["--version"]),
    iproute2: await firstLine("ip", ["-V"]),
    nsenter: await firstLine("nsenter", ["--version"]),
    setpriv: await firstLine("setpriv", ["--version"]),
    lightWorkload: workload,
  };
}
