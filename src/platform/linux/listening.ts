/**
 * Is the workload listening on its TCP port inside its namespace — and not outside?
 *
 * `/proc/PID/net/tcp{,6}` show the TCP sockets of *PID's* network namespace, so the child's
 * own entry gives the domain's table and `/proc/self/net/tcp{,6}` (the launcher's main
 * thread, which never leaves its namespace) gives the host's. A LISTEN row counts for the
 * workload only if its socket inode is held open by the child or one of its descendants
 * (`/proc/PID/fd/* -> socket:[INODE]`), so another process listening on the same port in
 * the host namespace is not blamed on the workload.
 *
 * @module
 */

import type { NetnsDomain } from "../types.ts";
import { processTree } from "./proc.ts";

const TCP_LISTEN = 0x0a;

/** One LISTEN socket from a `/proc/.../net/tcp{,6}` table. */
export interface ListenSocket {
  /** Local port. */
  readonly port: number;
  /** Socket inode, matching `socket:[INODE]` fd links. */
  readonly inode: number;
  /** 4 for `tcp`, 6 for `tcp6`. */
  readonly family: 4 | 6;
}

/** Parses one `/proc/net/tcp`-format table, returning its LISTEN sockets. */
export function parseTcpTable(text: string, family: 4 | 6): ListenSocket[] {
  const out: ListenSocket[] = [];
  for (const line of text.split("\n").slice(1)) {
    // "sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ..."
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    if (parseInt(f[3], 16) !== TCP_LISTEN) continue;
    const port = parseInt(f[1].slice(f[1].lastIndexOf(":") + 1), 16);
    out.push({ port, inode: Number(f[9]), family });
  }
  return out;
}

/** LISTEN sockets of the namespace seen through `/proc/<who>/net` (who = pid or `self`). */
export function listenSockets(who: number | "self"): ListenSocket[] {
  const out: ListenSocket[] = [];
  for (const [file, fam] of [["tcp", 4], ["tcp6", 6]] as const) {
    try {
      out.push(...parseTcpTable(Deno.readTextFileSync(`/proc/${who}/net/${file}`), fam));
    } catch (e) {
      // tcp6 is absent when IPv6 is disabled; a vanished pid means no sockets.
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return out;
}

/** Socket inodes held open by `pids`. */
export function socketInodes(pids: readonly number[]): Set<number> {
  const out = new Set<number>();
  for (const pid of pids) {
    let entries: Iterable<Deno.DirEntry>;
    try {
      entries = Deno.readDirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // exited
    }
    for (const e of entries) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`));
        if (m) out.add(Number(m[1]));
      } catch {
        // fd closed meanwhile
      }
    }
  }
  return out;
}

/**
 * Whether the process tree of `pid` has a TCP socket listening on `port` inside `domain`
 * and/or in the launcher's own (host) namespace. When the domain *is* the launcher's
 * namespace (a host-network pod), both flags are the same.
 */
export function listeningOn(
  domain: NetnsDomain,
  pid: number,
  port: number,
): { inside: boolean; outside: boolean } {
  const tree = processTree(pid);
  const mine = socketInodes(tree);
  const held = (s: ListenSocket) => s.port === port && mine.has(s.inode);
  // Read the domain's table through a pid of the tree that is actually in the domain.
  let inside = false;
  for (const p of tree) {
    try {
      if (Deno.statSync(`/proc/${p}/ns/net`).ino !== domain.inode) continue;
    } catch {
      continue;
    }
    inside = listenSockets(p).some(held);
    break;
  }
  const outside = listenSockets("self").some(held);
  return { inside, outside };
}
