/**
 * The host state a Kubernetes node changes, read into a comparable form, and the steps that
 * put it back. A kubelet, containerd, the CNI bridge plugin and kube-proxy write sysctls,
 * iptables chains, cgroups, mounts, links, routes and fixed folders such as
 * `/var/lib/kubelet/device-plugins`; `tests/support/node.ts` takes a {@linkcode HostState}
 * before it starts anything and uses the helpers here to undo every change on teardown.
 *
 * Only what a node can touch is read: other tests on the same machine create namespaces,
 * veths and mounts of their own at the same time, and must not make the comparison flaky.
 *
 * @module
 */

/** Sysctls the kubelet, the bridge plugin and kube-proxy write (path under /proc/sys). */
export const NODE_SYSCTLS = [
  "kernel/panic",
  "kernel/panic_on_oops",
  "kernel/keys/root_maxkeys",
  "kernel/keys/root_maxbytes",
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "net/ipv4/ip_forward",
  "net/ipv4/conf/all/forwarding",
  "net/ipv4/conf/default/forwarding",
  "net/ipv4/conf/all/route_localnet",
  "net/ipv6/conf/all/forwarding",
  "net/bridge/bridge-nf-call-iptables",
  "net/bridge/bridge-nf-call-ip6tables",
  "net/netfilter/nf_conntrack_max",
  "net/netfilter/nf_conntrack_tcp_timeout_established",
  "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
  "net/netfilter/nf_conntrack_tcp_be_liberal",
] as const;

/** Folders with fixed paths that a kubelet, containerd or CNI may create. */
export const NODE_FIXED_PATHS = [
  "/var/lib/kubelet",
  "/var/log/containers",
  "/var/log/pods",
  "/run/containerd",
  "/var/lib/containerd",
  "/opt/containerd",
  "/var/lib/cni",
  "/etc/cni",
  "/opt/cni",
  "/etc/kubernetes",
  "/run/kubernetes",
] as const;

/** Binaries of a node; none of them runs on the machine unless a node is up. */
export const NODE_PROGRAMS = [
  "kubelet",
  "kube-proxy",
  "kube-scheduler",
  "kube-controller-manager",
  "containerd",
  "containerd-shim-runc-v2",
  "pause",
] as const;

/** What identifies this node's own objects on the host. */
export interface NodeFootprint {
  /** The node's working folder (containerd root and state, kubelet root, logs). */
  readonly dir: string;
  /** The CNI bridge. */
  readonly bridge: string;
  /** The port-less bridge the Service network is routed into. */
  readonly sink: string;
  /** Prefixes of the pod and Service networks, as `a.b.` text, e.g. `["10.244.", "10.96."]`. */
  readonly addressPrefixes: readonly string[];
  /** Name of the top-level cgroup holding every pod. */
  readonly cgroupRoot: string;
}

/** The part of the host state a node can change. Equal before start and after teardown. */
export interface HostState {
  /** Value of each of {@linkcode NODE_SYSCTLS}, or `(absent)`. */
  readonly sysctls: Record<string, string>;
  /** `iptables-save` / `ip6tables-save` without counters; tables with nothing in them left out. */
  readonly iptables: Record<"ipv4" | "ipv6", string[]>;
  /** `nft list tables` (empty when nft is not installed). */
  readonly nftTables: string[];
  /** The two bridges and CNI-style host veths (`vethXXXXXXXX`). */
  readonly links: string[];
  /** Routes into the pod or Service networks, or over the bridge. */
  readonly routes: string[];
  /** Mount points of the node: under its folder (or an earlier one's) and the kubelet's root. */
  readonly mounts: string[];
  /** Cgroups named like the node's root or `kubepods*`, at the top of every hierarchy. */
  readonly cgroups: string[];
  /** Which of {@linkcode NODE_FIXED_PATHS} exist. */
  readonly paths: Record<string, boolean>;
  /** Running {@linkcode NODE_PROGRAMS}, as `name pid`. */
  readonly processes: string[];
}

const CGROUP_BASE = "/sys/fs/cgroup";
const OWN_CHAIN = /^(KUBE-|CNI-)/;

/** Reads the node-related host state. */
export async function readHostState(footprint: NodeFootprint): Promise<HostState> {
  const sysctls: Record<string, string> = {};
  for (const key of NODE_SYSCTLS) sysctls[key] = await readSysctl(key);
  const paths: Record<string, boolean> = {};
  for (const path of NODE_FIXED_PATHS) paths[path] = await exists(path);
  return {
    sysctls,
    iptables: {
      ipv4: normalizeIptables(await tryRun("iptables-save", [])),
      ipv6: normalizeIptables(await tryRun("ip6tables-save", [])),
    },
    nftTables: (await tryRun("nft", ["list", "tables"])).split("\n").filter(Boolean).sort(),
    links: (await tryRun("ip", ["-o", "link", "show"])).split("\n")
      .map((line) => /^\d+:\s+([^:@]+)/.exec(line)?.[1] ?? "")
      .filter((name) =>
        name === footprint.bridge || name === footprint.sink || /^veth[0-9a-f]{8}$/.test(name)
      ).sort(),
    routes: (await tryRun("ip", ["-o", "route", "show", "table", "all"])).split("\n")
      .filter((r) =>
        footprint.addressPrefixes.some((p) => r.includes(p)) ||
        r.includes(`dev ${footprint.bridge} `) || r.includes(`dev ${footprint.sink} `)
      ).sort(),
    mounts: (await mountPoints()).filter((m) => isNodeMount(m, footprint.dir)).sort(),
    cgroups: await nodeCgroups(footprint.cgroupRoot),
    paths,
    processes: await nodeProcesses(),
  };
}

/** Lines that differ between two states, `-` before and `+` after; empty when equal. */
export function diffHostStates(before: HostState, after: HostState): string[] {
  const flatten = (s: HostState) =>
    new Set([
      ...Object.entries(s.sysctls).map(([k, v]) => `sysctl ${k} = ${v}`),
      ...s.iptables.ipv4.map((l) => `iptables ${l}`),
      ...s.iptables.ipv6.map((l) => `ip6tables ${l}`),
      ...s.nftTables.map((l) => `nft ${l}`),
      ...s.links.map((l) => `link ${l}`),
      ...s.routes.map((l) => `route ${l}`),
      ...s.mounts.map((l) => `mount ${l}`),
      ...s.cgroups.map((l) => `cgroup ${l}`),
      ...Object.entries(s.paths).map(([k, v]) => `path ${k} ${v ? "exists" : "absent"}`),
      ...s.processes.map((l) => `process ${l}`),
    ]);
  const a = flatten(before);
  const b = flatten(after);
  return [
    ...[...a].filter((l) => !b.has(l)).map((l) => `- ${l}`),
    ...[...b].filter((l) => !a.has(l)).map((l) => `+ ${l}`),
  ];
}

/** Writes back every sysctl whose value differs from `before`. */
export async function restoreSysctls(before: Record<string, string>): Promise<void> {
  for (const [key, value] of Object.entries(before)) {
    if (value === "(absent)") continue;
    if (await readSysctl(key) === value) continue;
    try {
      await Deno.writeTextFile(`/proc/sys/${key}`, `${value}\n`);
    } catch { /* read-only in this kernel: it cannot have changed either */ }
  }
}

/**
 * Removes the node's iptables rules (both families): the jumps from built-in chains into
 * `KUBE-*` / `CNI-*` chains, then those chains, except what `before` already had. Tables that did not exist in `before` and
 * are empty afterwards are deleted too (iptables-nft keeps them as nftables tables).
 */
export async function removeIptables(before: HostState): Promise<void> {
  for (const family of ["ipv4", "ipv6"] as const) {
    const tool = family === "ipv4" ? "iptables" : "ip6tables";
    const saved = await tryRun(`${tool}-save`, []);
    // Chains and rules that were there before belong to someone else (podman uses CNI-*).
    const old = new Set<string>();
    let current = "";
    for (const line of before.iptables[family]) {
      if (line.startsWith("*")) current = line.slice(1);
      else old.add(`${current} ${line}`);
    }
    const script: string[] = [];
    for (const table of parseIptables(saved)) {
      const own = table.chains.filter((c) =>
        OWN_CHAIN.test(c) && !old.has(`${table.name} :${c} -`)
      );
      const jumps = table.rules.filter((r) =>
        !OWN_CHAIN.test(r.chain) && /(?:^|\s)-[jg] (KUBE-|CNI-)/.test(r.text) &&
        !old.has(`${table.name} -A ${r.chain} ${r.text}`)
      );
      if (own.length === 0 && jumps.length === 0) continue;
      script.push(`*${table.name}`);
      for (const rule of jumps) script.push(`-D ${rule.chain} ${rule.text}`);
      for (const chain of own) script.push(`-F ${chain}`);
      for (const chain of own) script.push(`-X ${chain}`);
      script.push("COMMIT");
    }
    if (script.length > 0) await run(`${tool}-restore`, ["--noflush"], script.join("\n") + "\n");
    if (!await hasCommand("nft")) continue;
    const existedBefore = new Set(
      before.iptables[family].filter((l) => l.startsWith("*")).map((l) => l.slice(1)),
    );
    for (const table of parseIptables(await tryRun(`${tool}-save`, []))) {
      if (existedBefore.has(table.name) || !isEmptyTable(table)) continue;
      await tryRun("nft", ["delete", "table", family === "ipv4" ? "ip" : "ip6", table.name]);
    }
  }
}

/** Unmounts every mount of the node (see `isNodeMount`), deepest first. */
export async function unmountNode(dir: string): Promise<void> {
  for (let pass = 0; pass < 3; pass++) {
    const mounts = (await mountPoints()).filter((m) => isNodeMount(m, dir))
      .sort((a, b) => b.length - a.length);
    if (mounts.length === 0) return;
    for (const m of mounts) {
      if (!await tryUmount(m, [])) await tryUmount(m, ["-l"]);
    }
  }
}

/**
 * Kills every process in the node's cgroups (containers and what they started), then
 * removes the cgroups, deepest first, in every hierarchy.
 */
export async function removeCgroups(root: string): Promise<void> {
  const trees = await cgroupTrees(root);
  for (let pass = 0; pass < 50; pass++) {
    let alive = 0;
    for (const dir of trees.flat()) {
      for (const pid of await cgroupPids(dir)) {
        alive++;
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* already gone */ }
      }
    }
    if (alive === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const tree of trees) {
    for (const dir of [...tree].sort((a, b) => b.length - a.length)) {
      for (let attempt = 0; attempt < 20; attempt++) {
        try {
          await Deno.remove(dir);
          break;
        } catch (e) {
          if (e instanceof Deno.errors.NotFound) break;
          await new Promise((r) => setTimeout(r, 100)); // a dying process still holds it
        }
      }
    }
  }
}

/** Creates the cgroup `root` in every hierarchy (the kubelet wants it to exist). */
export async function createCgroups(root: string): Promise<void> {
  for (const hierarchy of await hierarchies()) {
    await Deno.mkdir(`${hierarchy}/${root}`, { recursive: true });
  }
}

/** Pids of the processes in the node's cgroups. */
export async function nodeCgroupPids(root: string): Promise<number[]> {
  const pids = new Set<number>();
  for (const dir of (await cgroupTrees(root)).flat()) {
    for (const pid of await cgroupPids(dir)) pids.add(pid);
  }
  return [...pids].sort((a, b) => a - b);
}

/** Running {@linkcode NODE_PROGRAMS}, as `name pid`. */
export async function nodeProcesses(): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const exe = await Deno.readLink(`/proc/${entry.name}/exe`);
      const name = exe.replace(/ \(deleted\)$/, "").split("/").pop() ?? "";
      if ((NODE_PROGRAMS as readonly string[]).includes(name)) found.push(`${name} ${entry.name}`);
    } catch { /* gone, or a kernel thread */ }
  }
  return found.sort();
}

/** Reads `/proc/sys/<key>`, `(absent)` when the kernel has no such setting. */
export async function readSysctl(key: string): Promise<string> {
  try {
    return (await Deno.readTextFile(`/proc/sys/${key}`)).trim().replace(/\s+/g, " ");
  } catch {
    return "(absent)";
  }
}

interface IptablesTable {
  name: string;
  /** User-defined chains. */
  chains: string[];
  /** Built-in chains with their policy, e.g. `INPUT ACCEPT`. */
  builtins: string[];
  rules: { chain: string; text: string }[];
}

function parseIptables(saved: string): IptablesTable[] {
  const tables: IptablesTable[] = [];
  let current: IptablesTable | undefined;
  for (const line of saved.split("\n")) {
    if (line.startsWith("*")) {
      current = { name: line.slice(1).trim(), chains: [], builtins: [], rules: [] };
      tables.push(current);
    } else if (current && line.startsWith(":")) {
      const [chain, policy] = line.slice(1).split(" ");
      if (policy === "-") current.chains.push(chain);
      else current.builtins.push(`${chain} ${policy}`);
    } else if (current && line.startsWith("-A ")) {
      const rest = line.slice(3);
      const space = rest.indexOf(" ");
      current.rules.push({ chain: rest.slice(0, space), text: rest.slice(space + 1) });
    }
  }
  return tables;
}

function isEmptyTable(table: IptablesTable): boolean {
  return table.chains.length === 0 && table.rules.length === 0 &&
    table.builtins.every((b) => b.endsWith(" ACCEPT"));
}

/** Save output without comments and counters, and without tables that hold nothing. */
function normalizeIptables(saved: string): string[] {
  const lines: string[] = [];
  for (const table of parseIptables(saved)) {
    if (isEmptyTable(table)) continue;
    lines.push(`*${table.name}`);
    for (const b of table.builtins) lines.push(`:${b}`);
    for (const c of table.chains) lines.push(`:${c} -`);
    for (const r of table.rules) lines.push(`-A ${r.chain} ${r.text}`);
  }
  return lines;
}

/**
 * Mounts of this node: containerd's root and state (snapshots, sandbox netns and shm) and the
 * kubelet's root are all in the node folder. Also those of an earlier node folder
 * (`cplauncher-node-*`) left behind, and the kubelet's default root. Not `/run/containerd` or
 * `/var/lib/containerd`: those may belong to another containerd (Docker's).
 */
function isNodeMount(mountPoint: string, dir: string): boolean {
  const under = (p: string) => mountPoint === p || mountPoint.startsWith(`${p}/`);
  return under(dir) || under("/var/lib/kubelet") || /\/cplauncher-node-[^/]*\//.test(mountPoint);
}

async function mountPoints(): Promise<string[]> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  return text.split("\n").filter(Boolean).map((line) =>
    // Field 5 is the mount point, with spaces and such written as octal escapes.
    line.split(" ")[4].replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)))
  );
}

async function tryUmount(path: string, flags: string[]): Promise<boolean> {
  const out = await new Deno.Command("umount", {
    args: [...flags, path],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}

async function hierarchies(): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir(CGROUP_BASE)) {
    if (e.isDirectory) found.push(`${CGROUP_BASE}/${e.name}`);
  }
  if (found.length === 0) found.push(CGROUP_BASE); // a pure cgroup v2 mount
  return found.sort();
}

async function nodeCgroups(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const h of await hierarchies()) {
    try {
      for await (const e of Deno.readDir(h)) {
        if (e.isDirectory && (e.name === root || e.name.startsWith("kubepods"))) {
          found.push(`${h}/${e.name}`);
        }
      }
    } catch { /* not readable */ }
  }
  return found.sort();
}

/** Every cgroup folder under `root`, one list per hierarchy. */
async function cgroupTrees(root: string): Promise<string[][]> {
  const trees: string[][] = [];
  for (const h of await hierarchies()) {
    const top = `${h}/${root}`;
    if (!await exists(top)) continue;
    const tree: string[] = [];
    const walk = async (dir: string) => {
      tree.push(dir);
      try {
        for await (const e of Deno.readDir(dir)) if (e.isDirectory) await walk(`${dir}/${e.name}`);
      } catch { /* removed meanwhile */ }
    };
    await walk(top);
    trees.push(tree);
  }
  return trees;
}

async function cgroupPids(dir: string): Promise<number[]> {
  try {
    return (await Deno.readTextFile(`${dir}/cgroup.procs`)).split("\n").filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

async function hasCommand(cmd: string): Promise<boolean> {
  for (const dir of (Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin").split(":")) {
    if (await exists(`${dir}/${cmd}`)) return true;
  }
  return false;
}

/** Runs a command and returns stdout; an empty string when it fails or is missing. */
async function tryRun(cmd: string, args: string[]): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout) : "";
  } catch {
    return "";
  }
}

async function run(cmd: string, args: string[], input: string): Promise<void> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}\n${input}`,
    );
  }
}
