/**
 * Relaying a child's output in whole lines. Each read is handed over as one block of whole
 * lines (never a partial line, so it cannot be interleaved with another child's output); a
 * line longer than `maxLine` is handed over in pieces rather than buffered without bound.
 * The reader pulls the next chunk only after the previous block was taken, so a fast child
 * is slowed down (pipe backpressure) instead of growing the launcher's memory.
 *
 * @module
 */

/** Receives one line without its newline; `continued` is true for a piece of a long line. */
export type LineHandler = (line: Uint8Array, continued: boolean) => void | Promise<void>;

/** Receives a child's output a block of lines at a time. */
export interface LineBlockHandler {
  /** One or more whole lines, each ending with its newline. */
  readonly lines: (block: Uint8Array) => void | Promise<void>;
  /**
   * A line without its newline: a piece of an over-long line (`continued`), or the stream's
   * last line when the stream ended without a newline.
   */
  readonly piece: LineHandler;
}

/** Default longest line held before it is passed on in pieces. */
export const DEFAULT_MAX_LINE = 64 * 1024;

/**
 * Reads `stream` to its end, handing over its lines a block per read.
 *
 * @returns the number of bytes read (including newlines), for accounting.
 */
export async function relayLineBlocks(
  stream: ReadableStream<Uint8Array>,
  handler: LineBlockHandler,
  options: RelayOptions = {},
): Promise<number> {
  const maxLine = options.maxLine ?? DEFAULT_MAX_LINE;
  let total = 0;
  let carry: Uint8Array = new Uint8Array(0);
  for await (const chunk of chunks(stream, options.reuseBuffer === true)) {
    total += chunk.length;
    let rest = chunk;
    if (carry.length > 0) {
      // Finish the carried line on its own instead of copying the whole chunk behind it.
      const newline = chunk.indexOf(0x0a);
      if (newline === -1) {
        rest = concat(carry, chunk);
      } else {
        const pending = handler.lines(concat(carry, chunk.subarray(0, newline + 1)));
        if (pending) await pending;
        rest = chunk.subarray(newline + 1);
      }
    }
    const lastNewline = rest.lastIndexOf(0x0a);
    if (lastNewline !== -1) {
      const pending = handler.lines(rest.subarray(0, lastNewline + 1));
      if (pending) await pending; // only asynchronous handlers cost a turn of the event loop
      rest = rest.subarray(lastNewline + 1);
    }
    while (rest.length >= maxLine) {
      const pending = handler.piece(rest.subarray(0, maxLine), true);
      if (pending) await pending;
      rest = rest.subarray(maxLine);
    }
    // Copy: the stream may reuse its chunk buffer.
    carry = rest.slice();
  }
  if (carry.length > 0) await handler.piece(carry, false);
  return total;
}

/** How {@linkcode relayLineBlocks} reads. */
export interface RelayOptions {
  /** Longest line held before it is passed on in pieces (default {@linkcode DEFAULT_MAX_LINE}). */
  readonly maxLine?: number;
  /**
   * Read every chunk into the same buffer instead of a new one per read. Only for handlers
   * that are done with a block's bytes once they returned (or their promise settled).
   */
  readonly reuseBuffer?: boolean;
}

/** Bytes asked for per read when the buffer is reused (a pipe holds 64 KiB by default). */
const READ_BYTES = 64 * 1024;
/**
 * Bytes asked for once a read filled the buffer: a chatty child, whose pipe the Linux
 * backend widened to 1 MiB. A quiet child keeps the small buffer.
 */
const BUSY_READ_BYTES = 1024 * 1024;

/** The stream's chunks; with `reuse`, read into one buffer (bring-your-own-buffer reads). */
async function* chunks(
  stream: ReadableStream<Uint8Array>,
  reuse: boolean,
): AsyncGenerator<Uint8Array> {
  let reader: ReadableStreamBYOBReader | undefined;
  try {
    if (reuse) reader = stream.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream: read chunk by chunk.
  }
  if (!reader) {
    yield* stream;
    return;
  }
  try {
    let buffer = new ArrayBuffer(READ_BYTES);
    for (;;) {
      // The read takes the buffer over (detaching it), so note its size first.
      const size = buffer.byteLength;
      const { value, done } = await reader.read(new Uint8Array(buffer));
      if (done || !value) return;
      buffer = value.length === size && size < BUSY_READ_BYTES
        ? new ArrayBuffer(BUSY_READ_BYTES)
        : value.buffer as ArrayBuffer;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * Calls `onLine` for each line of `block` (whole lines, each ending with a newline), waiting
 * for a returned promise before the next line.
 */
export function forEachLine(
  block: Uint8Array,
  onLine: LineHandler,
): Promise<void> | undefined {
  let start = 0;
  for (;;) {
    const newline = block.indexOf(0x0a, start);
    if (newline === -1) return undefined;
    const pending = onLine(block.subarray(start, newline), false);
    start = newline + 1;
    if (pending) return pending.then(() => forEachLine(block.subarray(start), onLine));
  }
}

/**
 * Reads `stream` to its end, calling `onLine` for each line.
 *
 * @returns the number of bytes read (including newlines), for accounting.
 */
export function relayLines(
  stream: ReadableStream<Uint8Array>,
  onLine: LineHandler,
  maxLine = DEFAULT_MAX_LINE,
): Promise<number> {
  return relayLineBlocks(
    stream,
    { lines: (block) => forEachLine(block, onLine), piece: onLine },
    { maxLine },
  );
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
