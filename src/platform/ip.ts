/**
 * IP address parsing and canonical formatting, so that an address typed by a user (or taken
 * from a Pod status) compares equal to one read from the kernel regardless of spelling
 * (`fd00::0005` vs `fd00::5`).
 *
 * @module
 */
import { PlatformError } from "./errors.ts";

/** Parses a dotted-quad IPv4 address into 4 bytes, or returns null. */
export function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^\d{1,3}$/.test(parts[i])) return null;
    const n = Number(parts[i]);
    if (n > 255) return null;
    out[i] = n;
  }
  return out;
}

/** Parses an IPv6 address (with `::` and an optional embedded IPv4 tail) into 16 bytes. */
export function parseIPv6(text: string): Uint8Array | null {
  const zone = text.indexOf("%");
  const body = zone >= 0 ? text.slice(0, zone) : text;
  const halves = body.split("::");
  if (halves.length > 2) return null;
  const groups = (s: string): number[] | null => {
    if (s === "") return [];
    const out: number[] = [];
    const items = s.split(":");
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (i === items.length - 1 && item.includes(".")) {
        const v4 = parseIPv4(item);
        if (v4 === null) return null;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return null;
        out.push(parseInt(item, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Parses an IPv4 or IPv6 address, or returns null. */
export function parseIp(text: string): Uint8Array | null {
  return text.includes(":") ? parseIPv6(text.trim()) : parseIPv4(text.trim());
}

/** Formats 4 or 16 address bytes canonically (RFC 5952 for IPv6). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return Array.from(bytes).join(".");
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  // Find the longest run (length >= 2) of zero groups; it becomes "::".
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** The canonical spelling of `text`, or throws a clear error when it is not an IP address. */
export function canonicalIp(text: string): string {
  const bytes = parseIp(text);
  if (bytes === null) {
    throw new PlatformError("invalid-argument", `'${text}' is not an IPv4 or IPv6 address`);
  }
  return formatIp(bytes);
}
