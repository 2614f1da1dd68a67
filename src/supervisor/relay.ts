/**
 * Relaying a child's output line by line. Lines are handed over whole (never interleaved
 * with another child's partial line); a line longer than `maxLine` is handed over in
 * pieces rather than buffered without bound. The reader pulls the next chunk only after
 * the previous lines were written, so a fast child is slowed down (pipe backpressure)
 * instead of growing the launcher's memory.
 *
 * @module
 */

/** Receives one line without its newline; `continued` is true for a piece of a long line. */
export type LineHandler = (line: Uint8Array, continued: boolean) => void | Promise<void>;

/** Default longest line held before it is passed on in pieces. */
export const DEFAULT_MAX_LINE = 64 * 1024;

/**
 * Reads `stream` to its end, calling `onLine` for each line.
 *
 * @returns the number of bytes read (including newlines), for accounting.
 */
export async function relayLines(
  stream: ReadableStream<Uint8Array>,
  onLine: LineHandler,
  maxLine = DEFAULT_MAX_LINE,
): Promise<number> {
  let total = 0;
  let carry: Uint8Array = new Uint8Array(0);
  for await (const chunk of stream) {
    total += chunk.length;
    let data = carry.length > 0 ? concat(carry, chunk) : chunk;
    let start = 0;
    for (;;) {
      const newline = data.indexOf(0x0a, start);
      if (newline === -1) break;
      const pending = onLine(data.subarray(start, newline), false);
      if (pending) await pending; // only asynchronous handlers cost a turn of the event loop
      start = newline + 1;
    }
    data = data.subarray(start);
    while (data.length >= maxLine) {
      const piece = onLine(data.subarray(0, maxLine), true);
      if (piece) await piece;
      data = data.subarray(maxLine);
    }
    // Copy: the stream may reuse its chunk buffer.
    carry = data.slice();
  }
  if (carry.length > 0) await onLine(carry, false);
  return total;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
