/**
 * Compartment-scoped reads: switch the calling (JS) thread into a compartment, read a table,
 * switch back — as one synchronous sequence.
 *
 * Why synchronous: the compartment is a property of the *thread*. Deno runs JavaScript and
 * its own socket I/O on this thread, so if we awaited anything while switched, unrelated
 * code (the Kubernetes watch, the health server) could open sockets inside a pod's
 * compartment. A synchronous callback cannot yield, so nothing else runs in between.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { PlatformError } from "../errors.ts";
import { CompartmentRestoreError, netioStatusError, WindowsError } from "./errors.ts";
import { iphlpapi, requireExport } from "./iphlpapi.ts";
import { alloc, dv, readPtr } from "./memory.ts";
import {
  MIB_TCP6ROW_OWNER_PID,
  MIB_TCP6TABLE_OWNER_PID,
  MIB_TCPROW_OWNER_PID,
  MIB_TCPTABLE_OWNER_PID,
  MIB_UNICASTIPADDRESS_ROW,
  MIB_UNICASTIPADDRESS_TABLE,
  W,
} from "./structs.ts";

const log = getLogger(["cplauncher", "windows"]);

/** The compartment the calling thread is in. */
export function currentThreadCompartment(): number {
  const get = requireExport(
    "GetCurrentThreadCompartmentId",
    iphlpapi().GetCurrentThreadCompartmentId,
  );
  return get();
}

/**
 * The id `SetCurrentThreadCompartmentId` takes to clear a thread's own compartment, so that it
 * follows its process again. Restoring the id read before the switch instead would leave an
 * explicit per-thread setting behind, which would then win over a job's compartment for
 * whatever the thread creates.
 */
export const CLEAR_THREAD_COMPARTMENT = 0;

/**
 * Run `fn` with the calling thread switched into compartment `id`, then switch back by
 * clearing the thread's setting ({@linkcode CLEAR_THREAD_COMPARTMENT}) and checking that it
 * reads its original compartment again. `fn` must be synchronous (a returned promise is
 * rejected outright, see the module doc).
 *
 * @throws {WindowsError} when the compartment cannot be entered (it does not exist:
 *   `ERROR_INVALID_PARAMETER`/`ERROR_NOT_FOUND`)
 * @throws {PlatformError} `no-domain` when the switch reports success but the thread does not
 *   read `id` afterwards (a stubbed API, as on Wine)
 * @throws {CompartmentRestoreError} (kind `stranded`) when the thread cannot be switched back;
 *   this error wins over any error of `fn`
 */
export function withThreadCompartment<T>(id: number, fn: () => T): T {
  const lib = iphlpapi();
  const get = requireExport("GetCurrentThreadCompartmentId", lib.GetCurrentThreadCompartmentId);
  const set = requireExport("SetCurrentThreadCompartmentId", lib.SetCurrentThreadCompartmentId);
  const original = get();
  if (original === id) return synchronous(fn());
  const err = netioStatusError("SetCurrentThreadCompartmentId", set(id));
  if (err) throw err;
  let result: T | undefined;
  let failure: { error: unknown } | undefined;
  const entered = get();
  if (entered !== id) {
    failure = {
      error: new PlatformError(
        "no-domain",
        `SetCurrentThreadCompartmentId(${id}) reported success but the thread reads ` +
          `compartment ${entered}: the compartment API does not switch threads here`,
      ),
    };
  } else {
    try {
      result = fn();
    } catch (e) {
      failure = { error: e };
    }
  }
  restoreThread(id, original, set, get);
  if (failure) throw failure.error;
  return synchronous(result as T);
}

function synchronous<T>(result: T): T {
  if (result instanceof Promise) {
    throw new TypeError("withThreadCompartment callback must be synchronous");
  }
  return result;
}

/** Clear the thread's compartment and check that it reads `original` again. */
function restoreThread(
  from: number,
  original: number,
  set: (id: number) => number,
  get: () => number,
): void {
  const err = netioStatusError("SetCurrentThreadCompartmentId", set(CLEAR_THREAD_COMPARTMENT));
  const actual = err ? null : get();
  if (err === null && actual === original) return;
  const stranded = new CompartmentRestoreError(from, original, actual, err ?? undefined);
  // The JS thread would now open every socket in a pod's compartment. Nothing can be trusted
  // after that, so say so as loudly as possible.
  log.fatal("{message}", { message: stranded.message });
  throw stranded;
}

/** One row of the unicast address table. */
export interface UnicastAddress {
  /** `W.AF_INET` or `W.AF_INET6`. */
  readonly family: number;
  /** 4 or 16 address bytes. */
  readonly address: Uint8Array;
  /** Interface index. */
  readonly ifIndex: number;
  /** `NL_DAD_STATE` (4 = `IpDadStatePreferred`). */
  readonly dadState: number;
}

/** The unicast addresses of the calling thread's compartment (`GetUnicastIpAddressTable`). */
export function unicastAddresses(): UnicastAddress[] {
  const lib = iphlpapi();
  const out = alloc(8);
  const err = netioStatusError(
    "GetUnicastIpAddressTable",
    lib.GetUnicastIpAddressTable(W.AF_UNSPEC, out),
  );
  if (err) throw err;
  const table = readPtr(out);
  if (table === null) return [];
  try {
    const view = new Deno.UnsafePointerView(table);
    const n = view.getUint32(MIB_UNICASTIPADDRESS_TABLE.fields.NumEntries);
    const rows: UnicastAddress[] = [];
    const R = MIB_UNICASTIPADDRESS_ROW;
    for (let i = 0; i < n; i++) {
      const base = MIB_UNICASTIPADDRESS_TABLE.fields.Table + i * R.size;
      const family = view.getUint16(base + R.fields["Address.si_family"]);
      // Copy out: getArrayBuffer() would alias the table, which FreeMibTable releases below.
      let address: Uint8Array;
      if (family === W.AF_INET) {
        address = new Uint8Array(4);
        view.copyInto(address, base + R.fields["Address.Ipv4.sin_addr"]);
      } else if (family === W.AF_INET6) {
        address = new Uint8Array(16);
        view.copyInto(address, base + R.fields["Address.Ipv6.sin6_addr"]);
      } else {
        continue;
      }
      rows.push({
        family,
        address,
        ifIndex: view.getUint32(base + R.fields.InterfaceIndex),
        dadState: view.getUint32(base + R.fields.DadState),
      });
    }
    return rows;
  } finally {
    lib.FreeMibTable(table);
  }
}

/** A listening TCP socket and its owner. */
export interface TcpListener {
  /** `W.AF_INET` or `W.AF_INET6`. */
  readonly family: number;
  /** Local port, host byte order. */
  readonly port: number;
  /** Owning process id. */
  readonly pid: number;
}

/** The TCP listeners of the calling thread's compartment (`GetExtendedTcpTable`). */
export function tcpListeners(): TcpListener[] {
  return [...listenersFor(W.AF_INET), ...listenersFor(W.AF_INET6)];
}

function listenersFor(af: number): TcpListener[] {
  const lib = iphlpapi();
  const size = alloc(4);
  let buf = alloc(16 * 1024);
  // The table can grow between the size query and the read; retry a few times.
  for (let attempt = 0; attempt < 8; attempt++) {
    dv(size).setUint32(0, buf.length, true);
    const rc = lib.GetExtendedTcpTable(buf, size, 0, af, W.TCP_TABLE_OWNER_PID_LISTENER, 0);
    if (rc === 122 /* ERROR_INSUFFICIENT_BUFFER */) {
      buf = alloc(dv(size).getUint32(0, true) + 4096);
      continue;
    }
    if (rc === 232 /* ERROR_NO_DATA */) return [];
    if (rc !== 0) throw new WindowsError("GetExtendedTcpTable", "win32", rc);
    return parseTcpTable(buf, af);
  }
  throw new WindowsError("GetExtendedTcpTable", "win32", 122, "table kept growing");
}

/** Decode a `MIB_TCPTABLE_OWNER_PID` / `MIB_TCP6TABLE_OWNER_PID` buffer. */
export function parseTcpTable(buf: Uint8Array, af: number): TcpListener[] {
  const v = dv(buf);
  const v6 = af === W.AF_INET6;
  const T = v6 ? MIB_TCP6TABLE_OWNER_PID : MIB_TCPTABLE_OWNER_PID;
  const R = v6 ? MIB_TCP6ROW_OWNER_PID : MIB_TCPROW_OWNER_PID;
  const n = v.getUint32(T.fields.dwNumEntries, true);
  const out: TcpListener[] = [];
  for (let i = 0; i < n; i++) {
    const base = T.fields.table + i * R.size;
    if (base + R.size > buf.length) break;
    const state = v.getUint32(base + R.fields.dwState, true);
    if (state !== W.MIB_TCP_STATE_LISTEN) continue;
    // dwLocalPort holds the port in network byte order in its low 16 bits.
    const raw = v.getUint32(base + R.fields.dwLocalPort, true);
    const port = ((raw & 0xff) << 8) | ((raw >> 8) & 0xff);
    out.push({ family: af, port, pid: v.getUint32(base + R.fields.dwOwningPid, true) });
  }
  return out;
}
