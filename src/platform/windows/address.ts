/**
 * Pure helpers for resolution: IP text ↔ bytes, and reading the Host Compute Network JSON
 * documents. No FFI here, so all of it is unit-tested on Linux.
 *
 * @module
 */

import { PlatformError } from "../errors.ts";
// Address text ↔ bytes is shared with the Linux backend.
import { formatIp, parseIp } from "../ip.ts";
export { formatIp, parseIp };

/** Whether two address byte arrays are the same address. */
export function sameIp(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** What the HCN endpoint document says about where an address lives. */
export interface EndpointMatch {
  /** The endpoint's id. */
  readonly endpointId: string;
  /** The `HostComputeNamespace` GUID, or undefined when the endpoint is not attached yet. */
  readonly namespaceId?: string;
}

/** `EndpointFlags.RemoteEndpoint`: the endpoint stands for an address on another host. */
export const HCN_ENDPOINT_REMOTE = 1;

/** The parts of an HCN v2 endpoint document that resolution looks at. */
export interface EndpointSummary {
  /** The endpoint's id (`ID`, or `Id` in some versions). */
  readonly endpointId: string;
  /** Its `IpConfigurations[].IpAddress` values, as written. */
  readonly addresses: readonly string[];
  /** The `HostComputeNamespace` GUID, or undefined when the endpoint is not attached yet. */
  readonly namespaceId?: string;
  /**
   * Whether `Flags` has `RemoteEndpoint` set: such an endpoint describes a pod on another node
   * (overlay networks create one per remote pod) and has no compartment here.
   */
  readonly remote: boolean;
}

/** Read an HCN v2 endpoint document (`HcnQueryEndpointProperties`); null when unreadable. */
export function summarizeEndpoint(json: string): EndpointSummary | null {
  const doc = parseJson(json);
  if (!isRecord(doc)) return null;
  const configs = Array.isArray(doc.IpConfigurations) ? doc.IpConfigurations : [];
  const addresses = configs.flatMap((c) =>
    isRecord(c) && typeof c.IpAddress === "string" ? [c.IpAddress] : []
  );
  const id = typeof doc.ID === "string" ? doc.ID : typeof doc.Id === "string" ? doc.Id : "";
  const namespaceId = typeof doc.HostComputeNamespace === "string" &&
      isGuid(doc.HostComputeNamespace)
    ? doc.HostComputeNamespace
    : undefined;
  const flags = typeof doc.Flags === "number" ? doc.Flags : 0;
  return { endpointId: id, addresses, namespaceId, remote: (flags & HCN_ENDPOINT_REMOTE) !== 0 };
}

/**
 * Read an HCN v2 endpoint document (`HcnQueryEndpointProperties`) and decide whether one of
 * its `IpConfigurations[].IpAddress` is `ip`. Returns null for no match, unreadable JSON, and
 * remote endpoints (which carry another node's pod IP and never a local compartment).
 */
export function matchEndpoint(json: string, ip: Uint8Array): EndpointMatch | null {
  const summary = summarizeEndpoint(json);
  if (!summary || summary.remote) return null;
  const hit = summary.addresses.some((a) => {
    const b = parseIp(a);
    return b !== null && sameIp(b, ip);
  });
  if (!hit) return null;
  return { endpointId: summary.endpointId, namespaceId: summary.namespaceId };
}

/**
 * The compartment id from an HCN namespace document: `NamespaceId` (schema v2), or
 * `CompartmentId` where `NamespaceId` is absent (older HNS versions name it so). 0 or absent
 * means the compartment does not exist yet (the pod sandbox is still being set up): null.
 */
export function namespaceCompartment(json: string): number | null {
  const doc = parseJson(json);
  if (!isRecord(doc)) return null;
  const id = "NamespaceId" in doc ? doc.NamespaceId : doc.CompartmentId;
  return typeof id === "number" && Number.isInteger(id) && id > 0 ? id : null;
}

/** Parse the JSON array of GUID strings `HcnEnumerateEndpoints` returns. */
export function parseGuidList(json: string): string[] {
  const doc = parseJson(json);
  if (!Array.isArray(doc)) return [];
  return doc.filter((x): x is string => typeof x === "string" && isGuid(x));
}

const GUID_RE =
  /^\{?([0-9a-fA-F]{8})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{4})-([0-9a-fA-F]{12})\}?$/;

/** Whether `s` is a GUID in registry format (braces optional). */
export function isGuid(s: string): boolean {
  return GUID_RE.test(s);
}

/** Encode a GUID string as the 16-byte `GUID` structure (Data1..3 little-endian). */
export function guidBytes(s: string): Uint8Array<ArrayBuffer> {
  const m = GUID_RE.exec(s);
  if (!m) throw new PlatformError("invalid-argument", `not a GUID: ${s}`);
  // Off-heap (see alloc() in memory.ts): it is passed by reference to nonblocking HCN calls.
  const out = new Uint8Array(new ArrayBuffer(16));
  const v = new DataView(out.buffer);
  v.setUint32(0, parseInt(m[1], 16), true);
  v.setUint16(4, parseInt(m[2], 16), true);
  v.setUint16(6, parseInt(m[3], 16), true);
  const rest = m[4] + m[5];
  for (let i = 0; i < 8; i++) out[8 + i] = parseInt(rest.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** HCN documents come from the OS; unreadable JSON is treated like "no answer yet". */
function parseJson(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}
