/**
 * Small helpers for moving data across the FFI boundary: UTF-16 strings, pointers stored in
 * buffers, and handles. Kept separate from the bindings so that they stay purely mechanical.
 *
 * @module
 */

/**
 * A zeroed buffer whose memory never moves. V8 keeps small typed arrays created with a length
 * (`new Uint8Array(8)`) inside the garbage-collected heap, where a collection may relocate
 * them; an explicit `ArrayBuffer` always gets a fixed off-heap backing store. Every buffer whose
 * address Windows keeps beyond one synchronous call — attribute values referenced by the
 * proc-thread attribute list, out-parameters of `nonblocking` calls — must come from here, and
 * the bindings use it throughout so nobody has to decide case by case.
 */
export function alloc(bytes: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(new ArrayBuffer(bytes));
}

/** A NUL-terminated UTF-16LE copy of `s`, suitable for an `LPCWSTR`/`LPWSTR` parameter. */
export function wstr(s: string): Uint16Array<ArrayBuffer> {
  // Off-heap for the same reason as alloc(): strings are passed to nonblocking calls too.
  const out = new Uint16Array(new ArrayBuffer((s.length + 1) * 2));
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * Read a NUL-terminated UTF-16LE string from foreign memory. `maxChars` bounds the scan so a
 * corrupt pointer cannot make us walk memory forever.
 */
export function readWide(ptr: Deno.PointerObject, maxChars = 1 << 24): string {
  const view = new Deno.UnsafePointerView(ptr);
  const parts: string[] = [];
  let chunk: number[] = [];
  for (let i = 0; i < maxChars; i++) {
    const c = view.getUint16(i * 2);
    if (c === 0) break;
    chunk.push(c);
    // String.fromCharCode with a huge spread overflows the stack; flush in slices.
    if (chunk.length === 8192) {
      parts.push(String.fromCharCode(...chunk));
      chunk = [];
    }
  }
  parts.push(String.fromCharCode(...chunk));
  return parts.join("");
}

/** The pointer stored at byte `offset` of `buf` (little-endian, 64-bit). */
export function readPtr(buf: Uint8Array, offset = 0): Deno.PointerValue {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(offset, true);
  return Deno.UnsafePointer.create(v);
}

/** Store pointer `p` (or NULL) at byte `offset` of `buf`. */
export function writePtr(buf: Uint8Array, offset: number, p: Deno.PointerValue): void {
  new DataView(buf.buffer, buf.byteOffset, buf.byteLength).setBigUint64(
    offset,
    p === null ? 0n : Deno.UnsafePointer.value(p),
    true,
  );
}

/** The numeric value of a pointer or handle (0 for NULL), for logs and comparisons. */
export function ptrValue(p: Deno.PointerValue): bigint {
  return p === null ? 0n : Deno.UnsafePointer.value(p);
}

/** A `DataView` over `buf`. */
export function dv(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}
