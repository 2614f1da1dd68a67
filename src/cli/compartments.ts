/**
 * `cplauncher compartments`: the node's network namespaces or compartments, their addresses,
 * and which pods own them when the API is reachable. `cplauncher doctor` without `--selftest`
 * shows the same (see doctor.ts).
 *
 * @module
 */
import { type Command, Option } from "@commander-js/extra-typings";
import { loadConfig } from "../config/mod.ts";
import { loadClientNode } from "../kube/client_node.ts";
import { clientKubeConfig, loadKubeConfig } from "../kube/mod.ts";
import { type CommandContext, resolveConfigPath } from "./options.ts";
import { CliError, EXIT_RESOLVE } from "./exit_codes.ts";

interface DomainRow {
  readonly id: string;
  readonly paths: readonly string[];
  readonly pids: number;
  readonly addresses: readonly string[];
  readonly launcher: boolean;
  pods?: string[];
}

async function linuxRows(): Promise<DomainRow[]> {
  const { listNamespaces } = await import("../platform/linux/mod.ts");
  const scan = listNamespaces();
  return scan.namespaces.map((ns) => ({
    id: `netns:${ns.inode}`,
    paths: ns.netnsPaths.length > 0 ? ns.netnsPaths : [ns.path],
    pids: ns.pids.length,
    addresses: ns.addresses.map((a) =>
      `${a.address}/${a.prefixLength} ${a.interface}${a.up ? "" : " (down)"}`
    ),
    launcher: ns.isLauncherNamespace,
  }));
}

async function windowsRows(): Promise<DomainRow[]> {
  const { listCompartments } = await import("../platform/windows/mod.ts");
  // HCN's namespaces, whatever their ids, and every id up to the scan's limit.
  return (await listCompartments()).map((c) => ({
    id: `compartment:${c.id}`,
    paths: [],
    pids: 0,
    addresses: c.addresses.map((a) => `${a.address} if${a.ifIndex} ${a.state}`),
    launcher: c.id === 1,
  }));
}

/** Maps pod IPs to `namespace/name` (best effort; empty when the API is not reachable). */
async function podsByIp(kubeconfig: string): Promise<{ map: Map<string, string>; note?: string }> {
  const map = new Map<string, string>();
  try {
    const kube = await loadKubeConfig(kubeconfig);
    const { CoreV1Api } = await loadClientNode();
    const api = (await clientKubeConfig(kube)).makeApiClient(CoreV1Api);
    const list = await Promise.race([
      api.listPodForAllNamespaces(),
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("timed out after 5s")), 5000)
      ),
    ]);
    for (const pod of list.items) {
      for (const ip of pod.status?.podIPs?.map((p) => p.ip) ?? []) {
        if (ip) map.set(ip, `${pod.metadata?.namespace}/${pod.metadata?.name}`);
      }
    }
    return { map };
  } catch (error) {
    return {
      map,
      note: `pods not shown: ${error instanceof Error ? error.message.split("\n")[0] : error}`,
    };
  }
}

/** What {@linkcode showDomains} needs from the command line. */
export interface DomainListOptions {
  /** The config to read `kubernetes.kubeconfig` from. */
  readonly config?: string;
  /** `text` or `json`. */
  readonly output: "text" | "json";
  /** Whether to ask the Kubernetes API which pods own the addresses. */
  readonly pods: boolean;
}

/** Installs the command(s) of this module. */
export function compartmentsCommand(program: Command, context: () => CommandContext): void {
  program.command("compartments")
    .description(
      "list this node's network namespaces (Linux) or compartments (Windows) and the pods owning them",
    )
    .option("-c, --config <file>", "read kubernetes.kubeconfig from this config")
    .addOption(
      new Option("--output <format>", "output format").choices(["text", "json"] as const).default(
        "text" as const,
      ),
    )
    .option("--no-pods", "do not ask the Kubernetes API which pods own the addresses")
    .action((options) => showDomains(options, context()));
}

/** Print the node's namespaces or compartments (the `compartments` command). */
export async function showDomains(
  options: DomainListOptions,
  context: CommandContext,
): Promise<void> {
  let rows: DomainRow[];
  try {
    rows = Deno.build.os === "windows" ? await windowsRows() : await linuxRows();
  } catch (error) {
    throw new CliError(
      error instanceof Error ? error.message.split("\n")[0] : String(error),
      EXIT_RESOLVE,
    );
  }
  let note: string | undefined;
  if (options.pods) {
    const kubeconfig = options.config || Deno.env.get("CPLAUNCHER_CONFIG")
      ? (await loadConfig(resolveConfigPath(options.config))).kubernetes.kubeconfig
      : "auto";
    const pods = await podsByIp(kubeconfig);
    note = pods.note;
    for (const row of rows) {
      row.pods = row.addresses.map((a) => pods.map.get(a.split(/[/ ]/)[0])).filter((
        p,
      ): p is string => !!p);
    }
  }
  const { io } = context;
  if (options.output === "json") {
    io.out(`${JSON.stringify({ domains: rows, ...(note ? { note } : {}) }, null, 2)}\n`);
    return;
  }
  for (const row of rows) {
    const where = row.paths.join(", ");
    io.out(
      `${row.id}  ${where}${row.launcher ? "  (launcher's own)" : ""}  ${row.pids} process${
        row.pids === 1 ? "" : "es"
      }\n`,
    );
    for (const address of row.addresses) io.out(`    ${address}\n`);
    if (row.pods && row.pods.length > 0) io.out(`    pod: ${row.pods.join(", ")}\n`);
  }
  if (note) io.err(`note: ${note}\n`);
}
