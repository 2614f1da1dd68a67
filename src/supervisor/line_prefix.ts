/**
 * Prefixing every line of a block of whole lines (`[name] line` in the text format). The
 * work is per line — find the newline, insert the prefix — and a relay sees tens of
 * thousands of lines per read, so it runs in a small WebAssembly loop (line_prefix.wat, 16
 * bytes per step); where WebAssembly SIMD is missing, a JavaScript loop does the same.
 *
 * @module
 */
import { LINE_PREFIX_WASM } from "./line_prefix_wasm.ts";

/** Receives prefixed output; every piece ends at a line boundary. */
export type PrefixedSink = (lines: Uint8Array) => void;

/** Memory layout shared with line_prefix.wat (two 64 KiB pages). */
const PREFIX_AT = 0;
const PREFIX_MAX = 1024;
const INPUT_AT = PREFIX_MAX;
/** Input bytes per call; a line longer than this goes through the JavaScript loop. */
const INPUT_MAX = 32 * 1024;
/** The loop reads 16 bytes at a time and may read past the input. */
const READ_SLACK = 16;
const OUTPUT_AT = INPUT_AT + INPUT_MAX + READ_SLACK;
/**
 * Output bytes per call: at least one whole line of the input area with its prefix, and no
 * more than the output batch, so a piece fits a batch without growing it.
 */
const OUTPUT_END = OUTPUT_AT + 64 * 1024;
const MEMORY_BYTES = 2 * 64 * 1024;

interface PrefixKernel {
  readonly memory: Uint8Array;
  readonly prefixLines: (
    input: number,
    inputLength: number,
    output: number,
    outputEnd: number,
    prefix: number,
    prefixLength: number,
  ) => number;
  readonly produced: () => number;
}

/**
 * Blocks smaller than this go through the JavaScript loop until the WebAssembly one is
 * loaded: instantiating WebAssembly costs ~4 MB of resident memory, which a launcher whose
 * workloads log a few lines now and then should not pay. A read of this size means a chatty
 * workload.
 */
export const WASM_MIN_BLOCK = 4096;

let kernel: PrefixKernel | null | undefined;

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The WebAssembly loop, or null where this runtime cannot compile it (no SIMD). */
function loadKernel(): PrefixKernel | null {
  if (kernel !== undefined) return kernel;
  try {
    const module = new WebAssembly.Module(decodeBase64(LINE_PREFIX_WASM) as BufferSource);
    const exports = new WebAssembly.Instance(module).exports as {
      memory: WebAssembly.Memory;
      prefixLines: PrefixKernel["prefixLines"];
      produced: WebAssembly.Global;
    };
    const memory = new Uint8Array(exports.memory.buffer);
    if (memory.length < MEMORY_BYTES || OUTPUT_END > MEMORY_BYTES) {
      throw new Error("line_prefix.wat: memory too small");
    }
    kernel = {
      memory,
      prefixLines: exports.prefixLines,
      produced: () => exports.produced.value as number,
    };
  } catch {
    kernel = null;
  }
  return kernel;
}

/** Whether WebAssembly SIMD works in this runtime (loads the loop if it was not yet). */
export function usesWasm(): boolean {
  return loadKernel() !== null;
}

/** Whether the WebAssembly loop has been loaded (without loading it). */
export function loadedWasm(): boolean {
  return kernel !== undefined && kernel !== null;
}

/**
 * Writes `prefix` + line for every line of `block` to `sink`. `block` starts at a line start;
 * its lines end with a newline, except perhaps the last, which is passed on as it is.
 * Output pieces end at line boundaries, so another writer's line never lands inside one.
 * `options.wasm`: true or false forces the WebAssembly or the JavaScript loop (tests);
 * by default the WebAssembly loop is loaded by the first block of
 * {@linkcode WASM_MIN_BLOCK} bytes and used from then on.
 */
export function prefixLines(
  block: Uint8Array,
  prefix: Uint8Array,
  sink: PrefixedSink,
  options: { readonly wasm?: boolean } = {},
): void {
  const wanted = options.wasm ?? (kernel !== undefined || block.length >= WASM_MIN_BLOCK);
  const wasm = !wanted || prefix.length > PREFIX_MAX ? null : loadKernel();
  if (!wasm) {
    sink(prefixLinesJs(block, prefix));
    return;
  }
  wasm.memory.set(prefix, PREFIX_AT);
  let offset = 0;
  while (offset < block.length) {
    let end = Math.min(block.length, offset + INPUT_MAX);
    if (end < block.length) {
      const lastNewline = block.lastIndexOf(0x0a, end - 1);
      if (lastNewline < offset) {
        // One line longer than the input area: rare enough for the JavaScript loop.
        const newline = block.indexOf(0x0a, end);
        end = newline === -1 ? block.length : newline + 1;
        sink(prefixLinesJs(block.subarray(offset, end), prefix));
        offset = end;
        continue;
      }
      end = lastNewline + 1;
    }
    const length = end - offset;
    wasm.memory.set(block.subarray(offset, end), INPUT_AT);
    let done = 0;
    while (done < length) {
      // The output area holds at least one whole line of the input area, so every call
      // consumes something.
      const consumed = wasm.prefixLines(
        INPUT_AT + done,
        length - done,
        OUTPUT_AT,
        OUTPUT_END,
        PREFIX_AT,
        prefix.length,
      );
      if (consumed === 0) {
        sink(prefixLinesJs(block.subarray(offset + done, end), prefix));
        break;
      }
      sink(wasm.memory.subarray(OUTPUT_AT, wasm.produced()));
      done += consumed;
    }
    offset = end;
  }
}

/** The same as {@linkcode prefixLines} in plain JavaScript: one output array. */
export function prefixLinesJs(block: Uint8Array, prefix: Uint8Array): Uint8Array {
  let lines = 0;
  for (let at = block.indexOf(0x0a); at !== -1; at = block.indexOf(0x0a, at + 1)) lines++;
  const endsOpen = block.length > 0 && block[block.length - 1] !== 0x0a;
  const out = new Uint8Array(block.length + (lines + (endsOpen ? 1 : 0)) * prefix.length);
  let written = 0;
  let start = 0;
  while (start < block.length) {
    const newline = block.indexOf(0x0a, start);
    const end = newline === -1 ? block.length : newline + 1;
    out.set(prefix, written);
    written += prefix.length;
    out.set(block.subarray(start, end), written);
    written += end - start;
    start = end;
  }
  return out;
}
