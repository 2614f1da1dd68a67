/**
 * Pure helpers for resolution: IP text ↔ bytes, and reading the Host Compute Network JSON
 * documents. No FFI here, so all of it is unit-tested on Linux.
 *
 * @module
 */

/** Parse an IPv4 or IPv6 literal into 4 or 16 bytes; `null` when it is not one. */
export function parseIp(text: string): Uint8Array | null {
  const s = text.trim();
  if (s.includes(":")) return parseIpv6(s);
  return parseIpv4(s);
}

function parseIpv4(s: string): Uint8Array | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i])) return null;
    const v = Number(parts[i]);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

function parseIpv6(input: string): Uint8Array | null {
  // A zone index ("%5") names an interface, not part of the address.
  const s = input.split("%")[0];
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string): number[] | null => {
    if (h === "") return [];
    const out: number[] = [];
    const items = h.split(":");
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (i === items.length - 1 && it.includes(".")) {
        const v4 = parseIpv4(it);
        if (!v4) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return null;
        out.push(parseInt(it, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** Format 4 or 16 address bytes as text (IPv6 without `::` compression, for logs only). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return g.join(":");
}

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

/**
 * Read an HCN v2 endpoint document (`HcnQueryEndpointProperties`) and decide whether one of
 * its `IpConfigurations[].IpAddress` is `ip`. Returns null for no match or unreadable JSON.
 */
export function matchEndpoint(json: string, ip: Uint8Array): EndpointMatch | null {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return null;
  }
  if (!isRecord(doc)) return null;
  const configs = doc.IpConfigurations;
  if (!Array.isArray(configs)) return null;
  const hit = configs.some((c) => {
    if (!isRecord(c) || typeof c.IpAddress !== "string") return false;
    const b = parseIp(c.IpAddress);
    return b !== null && sameIp(b, ip);
  });
  if (!hit) return null;
  const id = typeof doc.ID === "string" ? doc.ID : typeof doc.Id === "string" ? doc.Id : "";
  const ns = typeof doc.HostComputeNamespace === "string" && isGuid(doc.HostComputeNamespace)
    ? doc.HostComputeNamespace
    : undefined;
  return { endpointId: id, namespaceId: ns };
}

/**
 * The compartment id from an HCN v2 namespace document (`NamespaceId`). 0 or absent means the
 * compartment does not exist yet (the pod sandbox is still being set up), returned as null.
 */
export function namespaceCompartment(json: string): number | null {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return null;
  }
  if (!isRecord(doc)) return null;
  const id = doc.NamespaceId;
  return typeof id === "number" && Number.isInteger(id) && id > 0 ? id : null;
}

/** Parse the JSON array of GUID strings `HcnEnumerateEndpoints` returns. */
export function parseGuidList(json: string): string[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return [];
  }
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
  if (!m) throw new Error(`not a GUID: ${s}`);
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

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}
