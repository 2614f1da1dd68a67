/**
 * Pod IP → network compartment, by API (never by parsing `ipconfig` text, whose layout and
 * language depend on the node's locale).
 *
 * Order per attempt:
 * 1. Host Compute Network: enumerate endpoints, find the one whose
 *    `IpConfigurations[].IpAddress` is the IP, open its `HostComputeNamespace` and read
 *    `NamespaceId`, which is the compartment id. A missing/0 id means the sandbox is still
 *    being built, so we retry (bounded by the caller's signal).
 * 2. Fallback (no HCN, HCN refused, or IP not HCN-managed): for ids 1..N switch the JS thread
 *    into the compartment, read its unicast address table, switch back — synchronously.
 *
 * Then, in the chosen compartment, wait until the address has finished duplicate address
 * detection (`IpDadStatePreferred`): a listener bound before that can fail with
 * WSAEADDRNOTAVAIL, which looks like a workload bug.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { isPlatformError, PlatformError } from "../errors.ts";
import type { CompartmentDomain } from "../types.ts";
import {
  formatIp,
  guidBytes,
  matchEndpoint,
  namespaceCompartment,
  parseGuidList,
  parseIp,
  sameIp,
} from "./address.ts";
import { unicastAddresses, withThreadCompartment } from "./compartment.ts";
import { computenetwork, computenetworkLoadError } from "./computenetwork.ts";
import { checkHresult, WindowsError } from "./errors.ts";
import { coTaskMemFree } from "./ole32.ts";
import { alloc, readPtr, readWide, wstr } from "./memory.ts";
import { W } from "./structs.ts";
import { sleep } from "../../util/sleep.ts";

const log = getLogger(["cplauncher", "windows"]);

/** HCN v2 query: no filter, no flags (each endpoint is then opened and queried). */
const HCN_QUERY = JSON.stringify({ SchemaVersion: { Major: 2, Minor: 0 }, Flags: 0 });

/** Tuning for {@linkcode resolveCompartment}. */
export interface ResolveTuning {
  /** Highest compartment id the fallback scan tries (default 256). */
  readonly maxScanId?: number;
  /** First retry delay in ms (default 250; doubles up to `maxDelayMs`). */
  readonly initialDelayMs?: number;
  /** Longest retry delay in ms (default 2000). */
  readonly maxDelayMs?: number;
}

/** Outcome of one HCN lookup. */
export type HcnLookup =
  | { readonly kind: "found"; readonly compartment: number; readonly endpointId: string }
  | { readonly kind: "pending"; readonly reason: string }
  | { readonly kind: "unavailable"; readonly reason: string };

/** Look the IP up through the Host Compute Network API. */
export async function hcnLookup(ip: Uint8Array): Promise<HcnLookup> {
  const hcn = computenetwork();
  if (hcn === null) {
    return { kind: "unavailable", reason: `computenetwork.dll: ${computenetworkLoadError()}` };
  }
  const {
    HcnEnumerateEndpoints: enumerate,
    HcnOpenEndpoint: openEp,
    HcnQueryEndpointProperties: queryEp,
    HcnCloseEndpoint: closeEp,
    HcnOpenNamespace: openNs,
    HcnQueryNamespaceProperties: queryNs,
    HcnCloseNamespace: closeNs,
  } = hcn;
  if (!enumerate || !openEp || !queryEp || !closeEp || !openNs || !queryNs || !closeNs) {
    return { kind: "unavailable", reason: "computenetwork.dll lacks the v2 endpoint API" };
  }
  const query = wstr(HCN_QUERY);
  try {
    const list = await hcnString("HcnEnumerateEndpoints", (out, rec) => enumerate(query, out, rec));
    let attachedNoNamespace: string | undefined;
    for (const id of parseGuidList(list)) {
      const handleBuf = alloc(8);
      const rec = alloc(8);
      const hr = await openEp(guidBytes(id), handleBuf, rec);
      const openRecord = takeString(rec);
      // An endpoint deleted between enumeration and open is normal churn, not an error.
      if (hr < 0) {
        log.debug("HcnOpenEndpoint {id}: {hr} {record}", { id, hr, record: openRecord });
        continue;
      }
      const ep = readPtr(handleBuf);
      let props: string;
      try {
        props = await hcnString(
          "HcnQueryEndpointProperties",
          (out, r) => queryEp(ep, query, out, r),
        );
      } finally {
        closeEp(ep);
      }
      const m = matchEndpoint(props, ip);
      if (!m) continue;
      if (!m.namespaceId) {
        attachedNoNamespace = id;
        continue;
      }
      const nsBuf = alloc(8);
      const nsRec = alloc(8);
      const nsHr = await openNs(guidBytes(m.namespaceId), nsBuf, nsRec);
      const nsOpenRecord = takeString(nsRec);
      if (nsHr < 0) {
        return {
          kind: "pending",
          reason: `HcnOpenNamespace ${m.namespaceId}: ${
            new WindowsError("HcnOpenNamespace", "hresult", nsHr, nsOpenRecord).message
          }`,
        };
      }
      const ns = readPtr(nsBuf);
      let nsProps: string;
      try {
        nsProps = await hcnString(
          "HcnQueryNamespaceProperties",
          (out, r) => queryNs(ns, query, out, r),
        );
      } finally {
        closeNs(ns);
      }
      const compartment = namespaceCompartment(nsProps);
      if (compartment === null) {
        return {
          kind: "pending",
          reason: `endpoint ${id} namespace ${m.namespaceId} has no NamespaceId yet`,
        };
      }
      return { kind: "found", compartment, endpointId: id };
    }
    return {
      kind: "pending",
      reason: attachedNoNamespace
        ? `endpoint ${attachedNoNamespace} has the IP but no HostComputeNamespace yet`
        : "no HCN endpoint has this IP",
    };
  } catch (e) {
    // E_ACCESSDENIED, HNS stopped, …: fall back to the scan rather than fail the anchor.
    return { kind: "unavailable", reason: e instanceof Error ? e.message : String(e) };
  }
}

/** Call an HCN function returning a CoTaskMem string, free it, and check the HRESULT. */
async function hcnString(
  fn: string,
  call: (out: Uint8Array, record: Uint8Array) => Promise<number>,
): Promise<string> {
  const out = alloc(8);
  const rec = alloc(8);
  const hr = await call(out, rec);
  const record = takeString(rec);
  const text = takeString(out) ?? "";
  checkHresult(fn, hr, record);
  return text;
}

/** Read and free the CoTaskMem string whose pointer is stored in `slot`. */
function takeString(slot: Uint8Array): string | undefined {
  const p = readPtr(slot);
  if (p === null) return undefined;
  try {
    return readWide(p);
  } finally {
    coTaskMemFree(p);
  }
}

/**
 * Scan compartments 1..maxId for `ip`. Each step is one synchronous enter/read/leave (see
 * `compartment.ts`). Ids that cannot be entered (gaps left by deleted pods) are skipped.
 */
export function scanForAddress(ip: Uint8Array, maxId: number): number | null {
  for (let id = 1; id <= maxId; id++) {
    let rows;
    try {
      rows = withThreadCompartment(id, unicastAddresses);
    } catch (e) {
      if (e instanceof WindowsError) continue;
      throw e;
    }
    if (rows.some((r) => sameIp(r.address, ip))) return id;
  }
  return null;
}

/** A compartment and its unicast addresses, for `cplauncher compartments` on Windows. */
export interface CompartmentInfo {
  /** Compartment id (1 is the host's). */
  readonly id: number;
  /** Addresses as text, with their DAD state name. */
  readonly addresses: readonly { address: string; state: string; ifIndex: number }[];
}

/** Every compartment 1..maxId that can be entered, with its addresses. */
export function listCompartments(maxId: number): CompartmentInfo[] {
  const out: CompartmentInfo[] = [];
  for (let id = 1; id <= maxId; id++) {
    let rows;
    try {
      rows = withThreadCompartment(id, unicastAddresses);
    } catch (e) {
      if (e instanceof WindowsError) continue;
      throw e;
    }
    out.push({
      id,
      addresses: rows.map((r) => ({
        address: formatIp(r.address),
        state: DAD_NAMES[r.dadState] ?? String(r.dadState),
        ifIndex: r.ifIndex,
      })),
    });
  }
  return out;
}

/** The DAD state of `ip` inside compartment `id`, or null when it is not configured there. */
export function dadStateIn(id: number, ip: Uint8Array): number | null {
  const rows = withThreadCompartment(id, unicastAddresses);
  const row = rows.find((r) => sameIp(r.address, ip));
  return row ? row.dadState : null;
}

const DAD_NAMES = ["Invalid", "Tentative", "Duplicate", "Deprecated", "Preferred"];

/**
 * Resolve `ipText` to a compartment and wait until the address is usable there. Retries until
 * `signal` aborts; the error then says what the last attempt saw.
 */
export async function resolveCompartment(
  ipText: string,
  signal?: AbortSignal,
  tuning: ResolveTuning = {},
): Promise<CompartmentDomain> {
  const ip = parseIp(ipText);
  if (!ip) throw new PlatformError("invalid-argument", `not an IP address: ${ipText}`);
  const maxScanId = tuning.maxScanId ?? 256;
  let delay = tuning.initialDelayMs ?? 250;
  const maxDelay = tuning.maxDelayMs ?? 2000;
  let last = "no attempt yet";
  let lastFound = false;
  let hcnState = "";
  for (let attempt = 1;; attempt++) {
    signal?.throwIfAborted();
    let found: { id: number; source: "hcn" | "scan" } | null = null;
    const hcn = await hcnLookup(ip);
    if (hcn.kind === "found") {
      found = { id: hcn.compartment, source: "hcn" };
    } else {
      // Log the HCN state once per change, not on every retry.
      if (hcn.reason !== hcnState) {
        log.info("HCN lookup for {ip}: {kind}: {reason}", { ip: ipText, ...hcn });
        hcnState = hcn.reason;
      }
      const id = scanForAddress(ip, maxScanId);
      if (id !== null) found = { id, source: "scan" };
      last = `HCN: ${hcn.reason}; scan of compartments 1..${maxScanId}: ${
        id === null ? "not found" : `found in ${id}`
      }`;
    }
    lastFound = found !== null;
    if (found) {
      const dad = dadStateIn(found.id, ip);
      if (dad === W.IpDadStatePreferred) {
        log.info(
          "{ip} is in compartment {id} (source {source}, DAD preferred, attempt {attempt})",
          {
            ip: ipText,
            ...found,
            attempt,
          },
        );
        return { kind: "compartment", id: found.id, source: found.source };
      }
      last = `compartment ${found.id} (${found.source}): address ${
        dad === null ? "not configured yet" : `in DAD state ${DAD_NAMES[dad] ?? dad}`
      }`;
    }
    log.debug("resolve {ip} attempt {attempt}: {last}", { ip: ipText, attempt, last });
    await sleep(delay, signal);
    if (signal?.aborted) {
      throw new PlatformError(
        lastFound ? "address-not-ready" : "address-not-found",
        `could not resolve ${ipText} to a compartment: ${last}`,
        { cause: signal.reason },
      );
    }
    delay = Math.min(delay * 2, maxDelay);
  }
}

/** Check that compartment `id` exists by entering and leaving it. */
export function checkCompartmentExists(id: number): CompartmentDomain {
  if (!Number.isInteger(id) || id < 1) {
    throw new PlatformError("invalid-argument", `invalid compartment id: ${id}`);
  }
  try {
    withThreadCompartment(id, () => undefined);
  } catch (e) {
    if (isPlatformError(e, "stranded")) throw e;
    throw new PlatformError(
      "no-domain",
      `compartment ${id} does not exist or cannot be entered`,
      { cause: e },
    );
  }
  return { kind: "compartment", id, source: "static" };
}
