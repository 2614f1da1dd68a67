/**
 * The text format's line prefixing: the WebAssembly loop and the JavaScript loop give the
 * same bytes as a plain split-and-join, over random blocks (empty lines, lines around the
 * 16-byte step, lines longer than the input area, a last line without newline, prefixes of
 * every length up to beyond the prefix area), and every output piece ends at a line
 * boundary. The committed binary is what line_prefix.wat assembles to.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { prefixLines, prefixLinesJs, usesWasm } from "../../src/supervisor/line_prefix.ts";
import { LINE_PREFIX_WASM } from "../../src/supervisor/line_prefix_wasm.ts";
import { assemble, WASM_SOURCES } from "../../scripts/build_wasm.ts";

const encoder = new TextEncoder();

/** The specification: split at newlines, prefix each line, join. */
function expected(block: Uint8Array, prefix: Uint8Array): Uint8Array {
  const parts: number[] = [];
  let start = 0;
  while (start < block.length) {
    const newline = block.indexOf(0x0a, start);
    const end = newline === -1 ? block.length : newline + 1;
    parts.push(...prefix, ...block.subarray(start, end));
    start = end;
  }
  return new Uint8Array(parts);
}

function run(block: Uint8Array, prefix: Uint8Array, wasm: boolean) {
  const pieces: Uint8Array[] = [];
  prefixLines(block, prefix, (bytes) => pieces.push(bytes.slice()), { wasm });
  const joined = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const piece of pieces) joined.set(piece, at), at += piece.length;
  return { joined, pieces };
}

/** Lines from a few shapes: empty, short, around 16 bytes, long, over the 32 KiB input area. */
const lineArb = fc.oneof(
  { weight: 60, arbitrary: fc.integer({ min: 0, max: 40 }) },
  { weight: 40, arbitrary: fc.integer({ min: 14, max: 18 }) },
  { weight: 20, arbitrary: fc.integer({ min: 100, max: 5000 }) },
  { weight: 20, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.integer({ min: 32 * 1024 - 2, max: 70_000 }) },
).chain((length) =>
  fc.integer({ min: 0, max: 255 }).map((seed) => {
    const line = new Uint8Array(length);
    // Any byte but a newline (0x0a), including NUL and bytes with the high bit set.
    for (let i = 0; i < length; i++) line[i] = ((seed + i * 31) % 255) + (seed % 2 ? 1 : 0);
    for (let i = 0; i < length; i++) if (line[i] === 0x0a) line[i] = 0x0b;
    return line;
  })
);

const blockArb = fc.record({
  lines: fc.array(lineArb, { minLength: 0, maxLength: 60 }),
  openEnd: fc.boolean(),
}).map(({ lines, openEnd }) => {
  const parts: number[] = [];
  lines.forEach((line, i) => {
    parts.push(...line);
    if (!openEnd || i < lines.length - 1) parts.push(0x0a);
  });
  return new Uint8Array(parts);
});

const prefixArb = fc.oneof(
  fc.string({ minLength: 0, maxLength: 70 }).map((name) => encoder.encode(`[${name}] `)),
  fc.integer({ min: 1000, max: 1100 }).map((n) => new Uint8Array(n).fill(0x70)),
);

Deno.test("line prefix: WebAssembly SIMD is available in this runtime (the fast path is tested)", () => {
  assert.ok(usesWasm(), "WebAssembly did not compile: only the JavaScript loop would be tested");
});

for (const wasm of [true, false]) {
  Deno.test(`line prefix: ${wasm ? "WebAssembly" : "JavaScript"} loop equals split-and-join`, () => {
    fc.assert(
      fc.property(blockArb, prefixArb, (block, prefix) => {
        const { joined, pieces } = run(block, prefix, wasm);
        assert.deepEqual(joined, expected(block, prefix));
        const endsOpen = block.length > 0 && block[block.length - 1] !== 0x0a;
        pieces.forEach((piece, i) => {
          const last = i === pieces.length - 1;
          if (piece.length > 0 && !(last && endsOpen)) {
            assert.equal(piece[piece.length - 1], 0x0a, "a piece ends at a line boundary");
          }
        });
      }),
      { numRuns: 300 },
    );
  });
}

Deno.test("line prefix: many empty lines overflow the output area and still come out whole", () => {
  const block = new Uint8Array(32 * 1024 - 1).fill(0x0a);
  const prefix = encoder.encode(
    "[a-workload-name-of-sixty-three-characters-xxxxxxxxxxxxxxxxxxxxxxx] ",
  );
  const { joined, pieces } = run(block, prefix, true);
  assert.ok(pieces.length > 10, `the output came in ${pieces.length} pieces`);
  assert.deepEqual(joined, expected(block, prefix));
  assert.deepEqual(joined, prefixLinesJs(block, prefix));
});

Deno.test("line prefix: the committed binary is what line_prefix.wat assembles to", async () => {
  const [source] = WASM_SOURCES;
  const assembled = await assemble(source.wat);
  const committed = Uint8Array.from(atob(LINE_PREFIX_WASM), (c) => c.charCodeAt(0));
  assert.deepEqual(committed, assembled, "run `deno task build:wasm` after editing the .wat");
});

Deno.test("line prefix: small blocks do not load WebAssembly; the first large one does", async () => {
  // A fresh module instance, so this test sees the loader's initial state.
  const url = new URL("../../src/supervisor/line_prefix.ts", import.meta.url);
  const fresh: typeof import("../../src/supervisor/line_prefix.ts") = await import(
    `${url.href}?fresh=${Date.now()}`
  );
  const prefix = encoder.encode("[w] ");
  const small = encoder.encode("one\ntwo\n");
  const out: Uint8Array[] = [];
  fresh.prefixLines(small, prefix, (bytes) => out.push(bytes.slice()));
  assert.equal(fresh.loadedWasm(), false, "a small block stays in JavaScript");
  const large = encoder.encode("x".repeat(99) + "\n").slice();
  const block = new Uint8Array(large.length * 50);
  for (let i = 0; i < 50; i++) block.set(large, i * large.length);
  assert.ok(block.length >= fresh.WASM_MIN_BLOCK);
  fresh.prefixLines(block, prefix, (bytes) => out.push(bytes.slice()));
  assert.equal(fresh.loadedWasm(), true, "a large block loads the WebAssembly loop");
  assert.equal(new TextDecoder().decode(out[0]), "[w] one\n[w] two\n");
});
