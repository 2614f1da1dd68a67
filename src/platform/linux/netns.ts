/**
 * Discovering the node's network namespaces and the addresses inside them.
 *
 * How addresses are read — and why not `/proc/net/fib_trie`:
 * the obvious `/proc`-only route (read `/proc/PID/net/fib_trie` for IPv4 `/32 host LOCAL`
 * entries plus `/proc/PID/net/if_inet6`) was measured on this kernel and is not good enough
 * to decide "configured and up": an IPv4 address added to an interface that is *down* (or
 * left behind after `ip link set … down`) still has its `/32 host LOCAL` entry, and
 * fib_trie names no interface, so the interface's state can't be looked up next to it.
 * So the scan uses rtnetlink over FFI instead: for each namespace, one synchronous sequence
 * on the calling thread opens the namespace, `setns`es into it, creates a `NETLINK_ROUTE`
 * socket (a netlink socket stays bound to the namespace it was created in), and `setns`es
 * back from a saved fd of `/proc/thread-self/ns/net` in a `finally`. The address and link
 * dumps then run on that socket from the launcher's own namespace. This gives, per address,
 * the interface, its `IFF_UP`/`IFF_RUNNING` state and the IPv6 DAD flags, with the same
 * code for `/var/run/netns/*` bind mounts (which have no `/proc/PID` to read from) and for
 * `/proc/PID/ns/net`. The launcher's own namespace needs no switch at all.
 *
 * Everything here is synchronous and thread-local: `setns` affects only the calling
 * thread, and `/proc/thread-self` (not `/proc/self`, which is the main thread's view) is
 * used wherever "the namespace I am in right now" matters.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { isPlatformError, PlatformError } from "../errors.ts";
import type { NetnsDomain } from "../types.ts";
import { closeFd, LibcError, openReadOnly, setnsNet } from "./libc.ts";
import {
  closeRouteSocket,
  dumpAddresses,
  dumpLinks,
  IFA_F_DADFAILED,
  IFA_F_TENTATIVE,
  IFF_RUNNING,
  IFF_UP,
  openRouteSocket,
} from "./netlink.ts";
import { canonicalIp } from "../ip.ts";
import { sleep } from "../../util/sleep.ts";

const log = getLogger(["cplauncher", "linux"]);

/** Where named namespaces (`ip netns add`, CNI plugins) are bind-mounted. */
export const NETNS_RUN_DIR = "/var/run/netns";

/** One address inside a namespace, with the state needed to decide whether it's usable. */
export interface NetnsAddress {
  /** Canonical address text. */
  readonly address: string;
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** Prefix length. */
  readonly prefixLength: number;
  /** Name of the interface carrying the address. */
  readonly interface: string;
  /** Interface is administratively up (`IFF_UP`). */
  readonly up: boolean;
  /** Interface has carrier (`IFF_RUNNING`; for a veth: the peer is up too). */
  readonly running: boolean;
  /** IPv6 duplicate address detection not finished (or failed). */
  readonly tentative: boolean;
  /** Configured, interface up and running, and not tentative: traffic can use it. */
  readonly usable: boolean;
}

/** One distinct network namespace on the node. */
export interface NetnsInfo {
  /** nsfs inode; equal inodes mean the same namespace. */
  readonly inode: number;
  /** The path used to open it: a `/var/run/netns` entry if any, else `/proc/PID/ns/net`. */
  readonly path: string;
  /** Its `/var/run/netns/*` names (full paths), possibly empty. */
  readonly netnsPaths: readonly string[];
  /** Pids of processes in it, ascending (may be empty for a bind-mounted namespace). */
  readonly pids: readonly number[];
  /** True for the launcher's own namespace (the host namespace for a HostProcess launcher). */
  readonly isLauncherNamespace: boolean;
  /** Its addresses (empty when `error` is set). */
  readonly addresses: readonly NetnsAddress[];
  /** Why its addresses could not be read (e.g. the last process in it just exited). */
  readonly error?: string;
}

/** Result of scanning all namespaces. */
export interface NetnsScan {
  /** The distinct namespaces found. */
  readonly namespaces: readonly NetnsInfo[];
  /** How many distinct namespaces were looked at. */
  readonly scanned: number;
  /** Wall time of the scan, milliseconds. */
  readonly elapsedMs: number;
}

/** The single namespace owning an address. */
export interface NetnsOwner {
  /** The domain to launch into. */
  readonly domain: NetnsDomain;
  /** The namespace's full scan entry. */
  readonly namespace: NetnsInfo;
  /** The matching address entry (with its interface state). */
  readonly address: NetnsAddress;
  /** How many distinct namespaces the scan looked at. */
  readonly scanned: number;
  /** Wall time of the scan that found it, milliseconds. */
  readonly elapsedMs: number;
}

/** Why an address did not resolve to one usable namespace. */
export type AddressResolutionKind = "address-not-found" | "address-ambiguous" | "address-not-ready";

/** An address that did not resolve to one usable namespace; `kind` says why. */
export class AddressResolutionError extends PlatformError {
  /** Why the address did not resolve. */
  declare readonly kind: AddressResolutionKind;
  /** The address looked for. */
  readonly ip: string;
  /** Namespaces scanned by the last scan. */
  readonly scanned: number;

  /**
   * Create an error for `ip`.
   *
   * @param kind reason
   * @param ip the address
   * @param scanned namespaces looked at
   * @param message human-readable text
   */
  constructor(kind: AddressResolutionKind, ip: string, scanned: number, message: string) {
    super(kind, message);
    this.name = "AddressResolutionError";
    this.ip = ip;
    this.scanned = scanned;
  }
}

interface Candidate {
  inode: number;
  netnsPaths: string[];
  pids: number[];
}

/** Inode of the namespace the *calling thread* is in right now. */
export function currentThreadNetnsInode(): number {
  return Deno.statSync("/proc/thread-self/ns/net").ino ?? 0;
}

/** Enumerates distinct namespaces from `/var/run/netns/*` and `/proc/*\/ns/net`. */
function enumerate(): Map<number, Candidate> {
  const byInode = new Map<number, Candidate>();
  const get = (ino: number) => {
    let c = byInode.get(ino);
    if (c === undefined) byInode.set(ino, c = { inode: ino, netnsPaths: [], pids: [] });
    return c;
  };
  try {
    for (const e of Deno.readDirSync(NETNS_RUN_DIR)) {
      const path = `${NETNS_RUN_DIR}/${e.name}`;
      try {
        const st = Deno.statSync(path);
        // An entry that is not (or no longer) a bind mount is an empty regular file on the
        // tmpfs; nsfs inodes are what we want. Their dev matches /proc/self/ns/net's.
        if (st.dev === nsfsDev() && st.ino) get(st.ino).netnsPaths.push(path);
      } catch {
        // Removed while we listed it.
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const st = Deno.statSync(`/proc/${e.name}/ns/net`);
      if (st.ino) get(st.ino).pids.push(Number(e.name));
    } catch {
      // Exited (or a zombie, which has no namespaces any more): skip.
    }
  }
  for (const c of byInode.values()) {
    c.pids.sort((a, b) => a - b);
    c.netnsPaths.sort();
  }
  return byInode;
}

let cachedNsfsDev: number | undefined;
/** st_dev of the nsfs pseudo filesystem, learned from our own namespace file. */
export function nsfsDev(): number {
  cachedNsfsDev ??= Deno.statSync("/proc/self/ns/net").dev;
  return cachedNsfsDev;
}

/**
 * Opens a netlink route socket inside the namespace at `path` (expected inode `inode`).
 * One synchronous sequence: open → verify inode → setns → socket → setns back (finally).
 */
function routeSocketIn(path: string, inode: number, savedFd: number): number {
  const fd = openReadOnly(path);
  try {
    // The path may have been reused (pid recycled) since enumeration: check the fd.
    const ino = Deno.statSync(`/proc/thread-self/fd/${fd}`).ino;
    if (ino !== inode) {
      throw new PlatformError("domain-changed", `${path} now refers to another namespace`);
    }
    setnsNet(fd, path);
    try {
      return openRouteSocket();
    } finally {
      restore(savedFd);
    }
  } finally {
    closeFd(fd);
  }
}

/**
 * Returns the calling thread to the namespace of `savedFd`. If even that fails the thread
 * is stranded in a foreign namespace, and anything it does next would be wrong, so this is
 * a `stranded` {@linkcode PlatformError} rather than something to log and carry on from.
 */
export function restore(savedFd: number): void {
  try {
    setnsNet(savedFd, "restoring the launcher's own network namespace");
  } catch (e) {
    throw new PlatformError(
      "stranded",
      `FATAL: could not return to the launcher's network namespace: ${(e as Error).message}`,
      { cause: e },
    );
  }
}

function readAddresses(sock: number): NetnsAddress[] {
  const links = new Map(dumpLinks(sock).map((l) => [l.index, l]));
  return dumpAddresses(sock).map((a) => {
    const link = links.get(a.ifindex);
    const up = ((link?.flags ?? 0) & IFF_UP) !== 0;
    const running = ((link?.flags ?? 0) & IFF_RUNNING) !== 0;
    const tentative = (a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) !== 0;
    return {
      address: a.address,
      family: a.family,
      prefixLength: a.prefixLength,
      interface: link?.name ?? `if${a.ifindex}`,
      up,
      running,
      tentative,
      usable: up && running && !tentative,
    };
  });
}

/**
 * Scans every distinct network namespace on the node and reads its addresses.
 *
 * Needs root (CAP_SYS_ADMIN) for every namespace but the caller's own; an `EPERM` from
 * `setns` aborts the scan with an error naming the capability, since every other
 * namespace would fail the same way.
 */
export function scanNamespaces(): NetnsScan {
  const t0 = performance.now();
  const candidates = enumerate();
  const own = currentThreadNetnsInode();
  const namespaces: NetnsInfo[] = [];
  let savedFd = -1;
  try {
    for (const c of candidates.values()) {
      const paths = [...c.netnsPaths, ...c.pids.map((p) => `/proc/${p}/ns/net`)];
      const base = {
        inode: c.inode,
        path: paths[0],
        netnsPaths: c.netnsPaths,
        pids: c.pids,
        isLauncherNamespace: c.inode === own,
      };
      let sock = -1;
      let lastError = "no path to open it";
      if (c.inode === own) {
        sock = openRouteSocket();
      } else {
        if (savedFd < 0) savedFd = openReadOnly("/proc/thread-self/ns/net");
        for (const path of paths) {
          try {
            sock = routeSocketIn(path, c.inode, savedFd);
            base.path = path;
            break;
          } catch (e) {
            if (e instanceof LibcError && e.codeName === "EPERM") throw e;
            if (isPlatformError(e, "stranded")) throw e;
            lastError = (e as Error).message; // e.g. that process exited; try the next path
          }
        }
      }
      if (sock < 0) {
        namespaces.push({ ...base, addresses: [], error: lastError });
        continue;
      }
      try {
        namespaces.push({ ...base, addresses: readAddresses(sock) });
      } catch (e) {
        namespaces.push({ ...base, addresses: [], error: (e as Error).message });
      } finally {
        closeRouteSocket(sock);
      }
    }
  } finally {
    if (savedFd >= 0) closeFd(savedFd);
  }
  const elapsedMs = performance.now() - t0;
  log.debug("scanned {scanned} network namespaces in {elapsedMs} ms", {
    scanned: namespaces.length,
    elapsedMs: Math.round(elapsedMs * 100) / 100,
  });
  return { namespaces, scanned: namespaces.length, elapsedMs };
}

/**
 * Lists the node's distinct network namespaces with their paths, pids and addresses, for
 * `cplauncher compartments`. Same data as {@linkcode scanNamespaces}.
 */
export function listNamespaces(): NetnsScan {
  return scanNamespaces();
}

function describe(ns: NetnsInfo): string {
  return `${ns.path} (inode ${ns.inode})`;
}

/** Matches `ip` against a scan: the owners (namespace + address entry) holding it. */
function owners(scan: NetnsScan, ip: string): { ns: NetnsInfo; addr: NetnsAddress }[] {
  const out: { ns: NetnsInfo; addr: NetnsAddress }[] = [];
  for (const ns of scan.namespaces) {
    // The same address on two interfaces of one namespace is still one owner; prefer the
    // usable entry.
    const hits = ns.addresses.filter((a) => a.address === ip);
    if (hits.length > 0) out.push({ ns, addr: hits.find((a) => a.usable) ?? hits[0] });
  }
  return out;
}

function toOwner(scan: NetnsScan, ns: NetnsInfo, addr: NetnsAddress): NetnsOwner {
  return {
    domain: { kind: "netns", path: ns.path, inode: ns.inode },
    namespace: ns,
    address: addr,
    scanned: scan.scanned,
    elapsedMs: scan.elapsedMs,
  };
}

function ambiguous(ip: string, scan: NetnsScan, found: { ns: NetnsInfo }[]) {
  return new AddressResolutionError(
    "address-ambiguous",
    ip,
    scan.scanned,
    `address ${ip} is configured in ${found.length} network namespaces (${
      found.map((f) => describe(f.ns)).join(", ")
    }); refusing to guess which one is the anchor's`,
  );
}

/**
 * Finds the one namespace where `ip` is configured (in any state). Throws an
 * {@linkcode AddressResolutionError} when no namespace or several hold it.
 */
export function findNamespaceOwning(ip: string): NetnsOwner {
  const want = canonicalIp(ip);
  const scan = scanNamespaces();
  const found = owners(scan, want);
  if (found.length === 0) {
    throw new AddressResolutionError(
      "address-not-found",
      want,
      scan.scanned,
      `address ${want} is not configured in any of the ${scan.scanned} network namespaces on ` +
        `this node (scan took ${scan.elapsedMs.toFixed(1)} ms)`,
    );
  }
  if (found.length > 1) throw ambiguous(want, scan, found);
  return toOwner(scan, found[0].ns, found[0].addr);
}

/** Options of {@linkcode waitForAddress}. */
export interface WaitOptions {
  /** Poll interval, milliseconds (default 100). */
  readonly intervalMs?: number;
}

/** The owner plus how long the wait took. */
export interface WaitResult extends NetnsOwner {
  /** Milliseconds from the call until the address was usable. */
  readonly waitedMs: number;
  /** How many scans it took. */
  readonly polls: number;
}

/**
 * Polls until `ip` is configured in exactly one namespace *and* usable there (interface up
 * with carrier, IPv6 DAD done), or `signal` aborts. An address present in several
 * namespaces fails at once (that does not fix itself by waiting). On abort the error says
 * what was last seen: not present anywhere, or present but not yet usable (and why).
 */
export async function waitForAddress(
  ip: string,
  signal?: AbortSignal,
  options: WaitOptions = {},
): Promise<WaitResult> {
  const want = canonicalIp(ip);
  const interval = options.intervalMs ?? 100;
  const t0 = performance.now();
  let polls = 0;
  for (;;) {
    const scan = recentScan();
    polls++;
    const found = owners(scan, want);
    if (found.length > 1) throw ambiguous(want, scan, found);
    if (found.length === 1 && found[0].addr.usable) {
      return {
        ...toOwner(scan, found[0].ns, found[0].addr),
        waitedMs: performance.now() - t0,
        polls,
      };
    }
    if (signal?.aborted) {
      const waited = ((performance.now() - t0) / 1000).toFixed(1);
      if (found.length === 0) {
        throw new AddressResolutionError(
          "address-not-found",
          want,
          scan.scanned,
          `address ${want} did not appear in any of the ${scan.scanned} network namespaces ` +
            `on this node within ${waited} s`,
        );
      }
      const a = found[0].addr;
      const why = !a.up
        ? `interface ${a.interface} is down`
        : !a.running
        ? `interface ${a.interface} has no carrier (veth peer down?)`
        : `IPv6 duplicate address detection has not completed on ${a.interface}`;
      throw new AddressResolutionError(
        "address-not-ready",
        want,
        scan.scanned,
        `address ${want} is configured in ${describe(found[0].ns)} but not usable after ` +
          `${waited} s: ${why}`,
      );
    }
    await sleep(interval, signal);
  }
}

/**
 * Scans younger than this are reused: when many anchors resolve at once (a launcher starting
 * with 50 workloads), one scan answers all of them instead of 50 back-to-back scans of every
 * namespace on the node. Short enough that a waiting anchor's next poll always sees fresh
 * state; the launch itself re-checks the namespace inode.
 */
const SCAN_REUSE_MS = 25;
let lastScan: { at: number; scan: NetnsScan } | undefined;

function recentScan(): NetnsScan {
  if (lastScan && performance.now() - lastScan.at < SCAN_REUSE_MS) return lastScan.scan;
  const scan = scanNamespaces();
  lastScan = { at: performance.now(), scan };
  return scan;
}
