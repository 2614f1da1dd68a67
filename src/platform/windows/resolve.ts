/**
 * Pod IP → network compartment, by API (never by parsing `ipconfig` text, whose layout and
 * language depend on the node's locale).
 *
 * Order per attempt:
 * 1. Host Compute Network: enumerate endpoints, find the local one (not `RemoteEndpoint`) whose
 *    `IpConfigurations[].IpAddress` is the IP, open its `HostComputeNamespace` and read
 *    `NamespaceId` (or `CompartmentId`), which is the compartment id. A missing/0 id means the
 *    sandbox is still being built, so we retry (bounded by the caller's signal).
 * 2. Fallback (no HCN, HCN refused, or IP not HCN-managed): switch the JS thread into each
 *    compartment, read its unicast address table, switch back — each one synchronously. The
 *    compartments HCN knows (its namespaces' ids, whatever their value) come first, then every
 *    id up to `maxScanId`; the walk yields to the event loop between slices, so the launcher's
 *    watches, probes and health endpoint keep running during a long scan.
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
  summarizeEndpoint,
} from "./address.ts";
import { type UnicastAddress, unicastAddresses, withThreadCompartment } from "./compartment.ts";
import {
  computenetwork,
  computenetworkLoadError,
  type ComputeNetworkSymbols,
} from "./computenetwork.ts";
import { checkHresult, WindowsError } from "./errors.ts";
import { coTaskMemFree } from "./ole32.ts";
import { alloc, readPtr, readWide, wstr } from "./memory.ts";
import { W } from "./structs.ts";
import { sleep } from "../../util/sleep.ts";

const log = getLogger(["cplauncher", "windows"]);

/** HCN v2 query: no filter, no flags (each object is then opened and queried). */
const HCN_QUERY = JSON.stringify({ SchemaVersion: { Major: 2, Minor: 0 }, Flags: 0 });

/** Highest id the fallback scan tries when nobody says otherwise. */
export const DEFAULT_MAX_SCAN_ID = 4096;

/** Compartments entered per synchronous slice of a scan, before it yields to the event loop. */
export const SCAN_SLICE = 64;

/** How many endpoints a "not found" message names before it only counts the rest. */
const SEEN_LIMIT = 12;

/** Tuning for {@linkcode resolveCompartment}. */
export interface ResolveTuning {
  /** Highest compartment id the fallback scan tries (default {@linkcode DEFAULT_MAX_SCAN_ID}). */
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

type Hcn = { readonly [K in keyof ComputeNetworkSymbols]: NonNullable<ComputeNetworkSymbols[K]> };

/** The HCN v2 API, or why it cannot be used on this system. */
function hcnApi(): { readonly hcn: Hcn } | { readonly unavailable: string } {
  const symbols = computenetwork();
  if (symbols === null) return { unavailable: `computenetwork.dll: ${computenetworkLoadError()}` };
  if (Object.values(symbols).some((f) => f === null)) {
    return { unavailable: "computenetwork.dll lacks the v2 endpoint/namespace API" };
  }
  return { hcn: symbols as Hcn };
}

/** Look the IP up through the Host Compute Network API. */
export async function hcnLookup(ip: Uint8Array): Promise<HcnLookup> {
  const api = hcnApi();
  if ("unavailable" in api) return { kind: "unavailable", reason: api.unavailable };
  const { hcn } = api;
  const query = wstr(HCN_QUERY);
  try {
    const list = await hcnString(
      "HcnEnumerateEndpoints",
      (out, rec) => hcn.HcnEnumerateEndpoints(query, out, rec),
    );
    let attachedNoNamespace: string | undefined;
    const seen: string[] = [];
    for (const id of parseGuidList(list)) {
      const props = await queryObject(
        "Endpoint",
        id,
        hcn.HcnOpenEndpoint,
        (h, out, rec) => hcn.HcnQueryEndpointProperties(h, query, out, rec),
        hcn.HcnCloseEndpoint,
      );
      // An endpoint deleted between enumeration and open is normal churn, not an error.
      if (props === null) continue;
      const summary = summarizeEndpoint(props);
      if (summary) {
        seen.push(
          `${summary.addresses.join("/") || "no address"}${summary.remote ? " (remote)" : ""}`,
        );
      }
      const m = matchEndpoint(props, ip);
      if (!m) continue;
      if (!m.namespaceId) {
        attachedNoNamespace = id;
        continue;
      }
      let compartment: number | null;
      try {
        compartment = await namespaceIdOf(hcn, query, m.namespaceId);
      } catch (e) {
        return { kind: "pending", reason: `HcnOpenNamespace ${m.namespaceId}: ${message(e)}` };
      }
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
        : `no local HCN endpoint has this IP (seen: ${listSeen(seen)})`,
    };
  } catch (e) {
    // E_ACCESSDENIED, HNS stopped, …: fall back to the scan rather than fail the anchor.
    return { kind: "unavailable", reason: message(e) };
  }
}

function listSeen(seen: readonly string[]): string {
  if (seen.length === 0) return "no endpoints";
  const shown = seen.slice(0, SEEN_LIMIT).join(", ");
  return seen.length > SEEN_LIMIT ? `${shown} and ${seen.length - SEEN_LIMIT} more` : shown;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The compartment ids of every HCN namespace on this node (their `NamespaceId`s), or why HCN
 * cannot say. Namespaces whose compartment does not exist yet are left out.
 */
export async function hcnCompartmentIds(): Promise<
  { readonly ids: readonly number[] } | { readonly unavailable: string }
> {
  const api = hcnApi();
  if ("unavailable" in api) return api;
  const { hcn } = api;
  const query = wstr(HCN_QUERY);
  try {
    const list = await hcnString(
      "HcnEnumerateNamespaces",
      (out, rec) => hcn.HcnEnumerateNamespaces(query, out, rec),
    );
    const ids = new Set<number>();
    for (const guid of parseGuidList(list)) {
      let id: number | null = null;
      try {
        id = await namespaceIdOf(hcn, query, guid);
      } catch {
        // Deleted between enumeration and open: normal churn.
      }
      if (id !== null) ids.add(id);
    }
    return { ids: [...ids].sort((a, b) => a - b) };
  } catch (e) {
    return { unavailable: message(e) };
  }
}

/** Open namespace `guid`, read its compartment id, close it. */
async function namespaceIdOf(hcn: Hcn, query: Uint16Array<ArrayBuffer>, guid: string) {
  const props = await queryObject(
    "Namespace",
    guid,
    hcn.HcnOpenNamespace,
    (h, out, rec) => hcn.HcnQueryNamespaceProperties(h, query, out, rec),
    hcn.HcnCloseNamespace,
    true,
  );
  return props === null ? null : namespaceCompartment(props);
}

/**
 * Open an HCN object by id, query its properties document and close it. A failed open returns
 * null (the object went away), or throws when `openMustSucceed`.
 */
async function queryObject(
  kind: "Endpoint" | "Namespace",
  id: string,
  open: (guid: Uint8Array, handle: Uint8Array, record: Uint8Array) => Promise<number>,
  query: (handle: Deno.PointerValue, out: Uint8Array, record: Uint8Array) => Promise<number>,
  close: (handle: Deno.PointerValue) => number,
  openMustSucceed = false,
): Promise<string | null> {
  const handleBuf = alloc(8);
  const rec = alloc(8);
  const hr = await open(guidBytes(id), handleBuf, rec);
  const record = takeString(rec);
  if (hr < 0) {
    const error = new WindowsError(`HcnOpen${kind}`, "hresult", hr, record);
    if (openMustSucceed) throw error;
    log.debug("{error}", { error: error.message });
    return null;
  }
  const handle = readPtr(handleBuf);
  try {
    return await hcnString(`HcnQuery${kind}Properties`, (out, r) => query(handle, out, r));
  } finally {
    close(handle);
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
 * The ids a scan tries, in order: those HCN reported (any value), then 1..`maxId` without them.
 */
export function scanOrder(hcnIds: readonly number[], maxId: number): number[] {
  const first = [...new Set(hcnIds)].filter((id) => Number.isInteger(id) && id > 0);
  const known = new Set(first);
  const rest: number[] = [];
  for (let id = 1; id <= maxId; id++) if (!known.has(id)) rest.push(id);
  return [...first, ...rest];
}

/** `scanOrder` in words, for messages: `compartments 3, 9 (HCN) and 1..4096`. */
export function describeScan(hcnIds: readonly number[], maxId: number): string {
  const range = `1..${maxId}`;
  return hcnIds.length === 0
    ? `compartments ${range}`
    : `compartments ${hcnIds.join(", ")} (HCN) and ${range}`;
}

/**
 * Enter each compartment of `ids` in turn (one synchronous enter/read/leave each, see
 * `compartment.ts`) and hand its unicast addresses to `visit`, until `visit` returns true.
 * Ids that cannot be entered (gaps left by deleted pods) are skipped; the walk yields to the
 * event loop every {@linkcode SCAN_SLICE} ids. Returns the ids that could be entered.
 */
export async function walkCompartments(
  ids: readonly number[],
  visit: (id: number, rows: UnicastAddress[]) => boolean,
): Promise<number[]> {
  const entered: number[] = [];
  for (let start = 0; start < ids.length; start += SCAN_SLICE) {
    if (start > 0) await yieldToEventLoop();
    for (const id of ids.slice(start, start + SCAN_SLICE)) {
      let rows;
      try {
        rows = withThreadCompartment(id, unicastAddresses);
      } catch (e) {
        if (e instanceof WindowsError || isPlatformError(e, "no-domain")) continue;
        throw e;
      }
      entered.push(id);
      if (visit(id, rows)) return entered;
    }
  }
  return entered;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** The first compartment of `ids` that has `ip` configured, and which ids could be entered. */
export async function scanForAddress(
  ip: Uint8Array,
  ids: readonly number[],
): Promise<{ readonly id: number | null; readonly entered: readonly number[] }> {
  let id: number | null = null;
  const entered = await walkCompartments(ids, (candidate, rows) => {
    if (!rows.some((r) => sameIp(r.address, ip))) return false;
    id = candidate;
    return true;
  });
  return { id, entered };
}

/** A compartment and its unicast addresses, for `cplauncher compartments` on Windows. */
export interface CompartmentInfo {
  /** Compartment id (1 is the host's). */
  readonly id: number;
  /** Addresses as text, with their DAD state name. */
  readonly addresses: readonly { address: string; state: string; ifIndex: number }[];
}

/**
 * Every compartment that can be entered, with its addresses: HCN's namespaces and the ids
 * 1..`maxScanId`.
 */
export async function listCompartments(
  maxScanId = DEFAULT_MAX_SCAN_ID,
): Promise<CompartmentInfo[]> {
  const hcn = await hcnCompartmentIds();
  const out: CompartmentInfo[] = [];
  await walkCompartments(scanOrder("ids" in hcn ? hcn.ids : [], maxScanId), (id, rows) => {
    out.push({
      id,
      addresses: rows.map((r) => ({
        address: formatIp(r.address),
        state: DAD_NAMES[r.dadState] ?? String(r.dadState),
        ifIndex: r.ifIndex,
      })),
    });
    return false;
  });
  return out.sort((a, b) => a.id - b.id);
}

/** The DAD state of `ip` inside compartment `id`, or null when it is not configured there. */
export function dadStateIn(id: number, ip: Uint8Array): number | null {
  const rows = withThreadCompartment(id, unicastAddresses);
  const row = rows.find((r) => sameIp(r.address, ip));
  return row ? row.dadState : null;
}

/** Names of the `NL_DAD_STATE` values, by value. */
export const DAD_NAMES: readonly string[] = [
  "Invalid",
  "Tentative",
  "Duplicate",
  "Deprecated",
  "Preferred",
];

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
  const maxScanId = tuning.maxScanId ?? DEFAULT_MAX_SCAN_ID;
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
      const known = await hcnCompartmentIds();
      const hcnIds = "ids" in known ? known.ids : [];
      const scan = await scanForAddress(ip, scanOrder(hcnIds, maxScanId));
      if (scan.id !== null) found = { id: scan.id, source: "scan" };
      last = `HCN: ${hcn.reason}; scan of ${describeScan(hcnIds, maxScanId)}: ${
        scan.id === null
          ? `not found (compartments that could be entered: ${scan.entered.join(", ") || "none"})`
          : `found in ${scan.id}`
      }`;
    }
    lastFound = found !== null;
    if (found) {
      const dad = dadStateIn(found.id, ip);
      if (dad === W.IpDadStatePreferred) {
        log.info(
          "{ip} is in compartment {id} (source {source}, DAD preferred, attempt {attempt})",
          { ip: ipText, ...found, attempt },
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
      `compartment ${id} does not exist or cannot be entered: ${message(e)}`,
      { cause: e },
    );
  }
  return { kind: "compartment", id, source: "static" };
}
