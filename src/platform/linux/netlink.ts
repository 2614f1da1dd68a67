/**
 * Minimal rtnetlink client over FFI: dumps a network namespace's links (with their up /
 * carrier state) and addresses (with their IPv6 DAD state).
 *
 * A netlink socket belongs to the network namespace its creating thread was in at
 * `socket()` time and keeps talking to that namespace afterwards. So a caller can switch
 * into a namespace, create the socket, switch back at once, and only then run the dumps:
 * the window spent in the foreign namespace is a handful of syscalls.
 *
 * @module
 */

import { PlatformError } from "../errors.ts";
import {
  AF_NETLINK,
  check,
  closeFd,
  libc,
  LibcError,
  NETLINK_ROUTE,
  SOCK_CLOEXEC,
  SOCK_RAW,
} from "./libc.ts";
import { formatIp } from "../ip.ts";

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP = 0x300;
const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_NEWADDR = 20;
const RTM_GETADDR = 22;
const IFLA_IFNAME = 3;
const IFLA_OPERSTATE = 16;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_FLAGS = 8;
const AF_INET = 2;
const AF_INET6 = 10;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;

/** `IFF_UP`: administratively up. */
export const IFF_UP = 0x1;
/** `IFF_RUNNING`: operationally up (has carrier; for a veth, its peer is up too). */
export const IFF_RUNNING = 0x40;
/** `IFA_F_DADFAILED`: IPv6 duplicate address detection failed; the address is unusable. */
export const IFA_F_DADFAILED = 0x08;
/** `IFA_F_TENTATIVE`: IPv6 DAD still running; the address cannot be used yet. */
export const IFA_F_TENTATIVE = 0x40;

/** One network interface as reported by `RTM_GETLINK`. */
export interface NetlinkLink {
  /** Interface index. */
  readonly index: number;
  /** Interface name. */
  readonly name: string;
  /** `IFF_*` flags. */
  readonly flags: number;
  /** `IF_OPER_*` operational state (6 = up). */
  readonly operstate: number;
}

/** One address as reported by `RTM_GETADDR`. */
export interface NetlinkAddress {
  /** 4 or 6. */
  readonly family: 4 | 6;
  /** Canonical text form. */
  readonly address: string;
  /** Prefix length. */
  readonly prefixLength: number;
  /** Index of the interface carrying it. */
  readonly ifindex: number;
  /** `IFA_F_*` flags (the 32-bit `IFA_FLAGS` attribute when present). */
  readonly flags: number;
  /** `RT_SCOPE_*` (0 universe, 253 link, 254 host). */
  readonly scope: number;
}

let seq = Math.floor(Math.random() * 0x7fffffff);

/**
 * Creates an `AF_NETLINK`/`NETLINK_ROUTE` socket in the calling thread's current network
 * namespace, with a 2 s receive timeout so a misbehaving kernel reply can never hang the
 * (synchronous) launcher thread.
 */
export function openRouteSocket(): number {
  const fd = check(
    "socket(AF_NETLINK)",
    libc().socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE),
  );
  const timeval = new BigInt64Array([2n, 0n]);
  libc().setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, new Uint8Array(timeval.buffer), 16);
  return fd;
}

/** Closes a socket from {@linkcode openRouteSocket}. */
export function closeRouteSocket(fd: number): void {
  closeFd(fd);
}

/**
 * The receive buffer, shared by every dump: dumps are synchronous, so one buffer serves them
 * all, and a scan of many namespaces does not leave 128 KiB of garbage per namespace.
 */
const receiveBuffer = new Uint8Array(65536);

/** Sends one dump request and collects the payloads of all reply messages of `replyType`. */
function dump(fd: number, type: number, body: Uint8Array, replyType: number): DataView[] {
  const mySeq = ++seq;
  const req = new Uint8Array(16 + body.length);
  const view = new DataView(req.buffer);
  view.setUint32(0, req.length, true);
  view.setUint16(4, type, true);
  view.setUint16(6, NLM_F_REQUEST | NLM_F_DUMP, true);
  view.setUint32(8, mySeq, true);
  view.setUint32(12, 0, true);
  req.set(body, 16);
  // struct sockaddr_nl { sa_family_t nl_family; unsigned short nl_pad; u32 nl_pid; u32 nl_groups; }
  const sa = new Uint8Array(12);
  new DataView(sa.buffer).setUint16(0, AF_NETLINK, true);
  check("sendto(netlink)", libc().sendto(fd, req, BigInt(req.length), 0, sa, sa.length));

  const out: DataView[] = [];
  const buf = receiveBuffer;
  for (;;) {
    const n = check("recv(netlink)", libc().recv(fd, buf, BigInt(buf.length), 0));
    if (n === 0) throw new PlatformError("protocol", "netlink: unexpected end of stream");
    let off = 0;
    while (off + 16 <= n) {
      const h = new DataView(buf.buffer, off, n - off);
      const len = h.getUint32(0, true);
      const msgType = h.getUint16(4, true);
      const msgSeq = h.getUint32(8, true);
      if (len < 16 || off + len > n) {
        throw new PlatformError("protocol", "netlink: malformed message");
      }
      if (msgSeq === mySeq) {
        if (msgType === NLMSG_DONE) return out;
        if (msgType === NLMSG_ERROR) {
          const err = -h.getInt32(16, true);
          if (err !== 0) throw new LibcError("netlink dump", err);
        } else if (msgType === replyType) {
          // Copy: `buf` is reused by the next recv.
          out.push(new DataView(buf.slice(off + 16, off + len).buffer));
        }
      }
      off += (len + 3) & ~3;
    }
  }
}

/** Iterates the `rtattr`s in `v` from byte `start`. */
function* attrs(v: DataView, start: number): Generator<[number, DataView]> {
  let off = start;
  while (off + 4 <= v.byteLength) {
    const len = v.getUint16(off, true);
    const type = v.getUint16(off + 2, true) & 0x3fff; // strip NLA_F_NESTED/NET_BYTEORDER
    if (len < 4 || off + len > v.byteLength) return;
    yield [type, new DataView(v.buffer, v.byteOffset + off + 4, len - 4)];
    off += (len + 3) & ~3;
  }
}

/** Dumps all links of the socket's namespace. */
export function dumpLinks(fd: number): NetlinkLink[] {
  // struct ifinfomsg { u8 family; u8 pad; u16 type; i32 index; u32 flags; u32 change; }
  const msgs = dump(fd, RTM_GETLINK, new Uint8Array(16), RTM_NEWLINK);
  return msgs.map((m) => {
    let name = "";
    let operstate = 0;
    for (const [type, val] of attrs(m, 16)) {
      if (type === IFLA_IFNAME) {
        const bytes = new Uint8Array(val.buffer, val.byteOffset, val.byteLength);
        const nul = bytes.indexOf(0);
        name = new TextDecoder().decode(nul >= 0 ? bytes.subarray(0, nul) : bytes);
      } else if (type === IFLA_OPERSTATE && val.byteLength >= 1) {
        operstate = val.getUint8(0);
      }
    }
    return { index: m.getInt32(4, true), name, flags: m.getUint32(8, true), operstate };
  });
}

/** Dumps all IPv4 and IPv6 addresses of the socket's namespace. */
export function dumpAddresses(fd: number): NetlinkAddress[] {
  // struct ifaddrmsg { u8 family; u8 prefixlen; u8 flags; u8 scope; u32 index; }
  const msgs = dump(fd, RTM_GETADDR, new Uint8Array(8), RTM_NEWADDR);
  const out: NetlinkAddress[] = [];
  for (const m of msgs) {
    const fam = m.getUint8(0);
    if (fam !== AF_INET && fam !== AF_INET6) continue;
    let local: Uint8Array | undefined;
    let address: Uint8Array | undefined;
    let flags = m.getUint8(2);
    for (const [type, val] of attrs(m, 8)) {
      const bytes = new Uint8Array(val.buffer, val.byteOffset, val.byteLength);
      // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point
      // links, so prefer IFA_LOCAL when both are present.
      if (type === IFA_LOCAL) local = bytes;
      else if (type === IFA_ADDRESS) address = bytes;
      else if (type === IFA_FLAGS && val.byteLength >= 4) flags = val.getUint32(0, true);
    }
    const raw = local ?? address;
    if (raw === undefined) continue;
    out.push({
      family: fam === AF_INET ? 4 : 6,
      address: formatIp(raw),
      prefixLength: m.getUint8(1),
      ifindex: m.getUint32(4, true),
      flags,
      scope: m.getUint8(3),
    });
  }
  return out;
}
