/**
 * The block relay: whatever the chunking of the child's output, the blocks handed over are
 * whole lines (each ends with a newline, none is cut), pieces of over-long lines are bounded,
 * and blocks + pieces give back every byte in order. Checked over random data and chunk
 * boundaries, for a plain stream and for a byte stream read into one reused buffer (the
 * launcher's path for pipes), including reads that make the buffer grow.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { relayLineBlocks } from "../../src/supervisor/relay.ts";

/** `bytes` in chunks cut at `cuts`; as a byte stream when `bytes` is set. */
function chunked(data: Uint8Array, cuts: number[], byteStream: boolean) {
  const bounds = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const cut of [...bounds, data.length]) {
    if (cut > at) chunks.push(data.slice(at, cut));
    at = Math.max(at, cut);
  }
  if (!byteStream) return ReadableStream.from(chunks);
  let next = 0;
  return new ReadableStream({
    type: "bytes",
    pull(controller: ReadableByteStreamController) {
      if (next === chunks.length) {
        controller.close();
        controller.byobRequest?.respond(0);
        return;
      }
      const chunk = chunks[next];
      const request = controller.byobRequest;
      if (request?.view) {
        // Fill the reader's own buffer, as much as fits; the rest comes with the next pull.
        const view = new Uint8Array(
          request.view.buffer,
          request.view.byteOffset,
          request.view.byteLength,
        );
        const n = Math.min(view.length, chunk.length);
        view.set(chunk.subarray(0, n));
        if (n === chunk.length) next++;
        else chunks[next] = chunk.slice(n);
        request.respond(n);
      } else {
        controller.enqueue(chunk);
        next++;
      }
    },
  });
}

async function relay(stream: ReadableStream<Uint8Array>, maxLine: number, reuseBuffer: boolean) {
  const out: number[] = [];
  const blocks: Uint8Array[] = [];
  const pieces: { length: number; continued: boolean }[] = [];
  await relayLineBlocks(stream, {
    lines: (block) => {
      blocks.push(block.slice());
      out.push(...block);
    },
    piece: (line, continued) => {
      pieces.push({ length: line.length, continued });
      out.push(...line);
      if (!continued) out.push(0x0a);
    },
  }, { maxLine, reuseBuffer });
  return { out: new Uint8Array(out), blocks, pieces };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

const dataArb = fc.array(
  fc.oneof(
    fc.constant(0x0a),
    fc.integer({ min: 0x20, max: 0x7e }),
    fc.integer({ min: 0x80, max: 0xff }),
  ),
  { maxLength: 3000 },
).map((bytes) => new Uint8Array(bytes));

for (const byteStream of [false, true]) {
  Deno.test(`relay blocks (${byteStream ? "byte stream, reused buffer" : "plain stream"}): whole lines, every byte in order`, async () => {
    await fc.assert(
      fc.asyncProperty(
        dataArb,
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.integer({ min: 4, max: 200 }),
        async (data, cuts, maxLine) => {
          const { out, blocks, pieces } = await relay(
            chunked(data, cuts, byteStream),
            maxLine,
            byteStream,
          );
          // A last line without newline comes out as a piece, terminated unless it was cut
          // into pieces exactly at its end.
          const closed = data.length > 0 && data.at(-1) !== 0x0a
            ? new Uint8Array([...data, 0x0a])
            : data;
          assert.ok(
            equal(out, data) || equal(out, closed),
            `relayed ${out.length} bytes of ${data.length}`,
          );
          if (pieces.at(-1)?.continued === false) assert.deepEqual(out, closed);
          for (const block of blocks) {
            assert.ok(block.length > 0 && block.at(-1) === 0x0a, "a block ends with a newline");
          }
          for (const piece of pieces) {
            assert.ok(piece.length <= maxLine, `piece of ${piece.length} > ${maxLine}`);
          }
          assert.ok(pieces.filter((p) => !p.continued).length <= 1, "one open last line at most");
        },
      ),
      { numRuns: 300 },
    );
  });
}

Deno.test("relay blocks: a byte stream that fills the read buffer is read in larger steps, bytes intact", async () => {
  const line = new TextEncoder().encode(`${"x".repeat(99)}\n`);
  const data = new Uint8Array(line.length * 30_000); // 3 MB
  for (let i = 0; i < 30_000; i++) data.set(line, i * line.length);
  const sizes: number[] = [];
  const source = chunked(data, Array.from({ length: 30 }, (_, i) => i * 100_003), true);
  // Record the size of each buffer the relay offers.
  const reader = source.getReader({ mode: "byob" });
  const recording = new ReadableStream({
    type: "bytes",
    async pull(controller: ReadableByteStreamController) {
      const request = controller.byobRequest!;
      const view = new Uint8Array(
        request.view!.buffer,
        request.view!.byteOffset,
        request.view!.byteLength,
      );
      sizes.push(view.length);
      const { value, done } = await reader.read(new Uint8Array(view.length));
      if (done || !value) {
        controller.close();
        request.respond(0);
        return;
      }
      view.set(value);
      request.respond(value.length);
    },
  });
  const { out } = await relay(recording, 64 * 1024, true);
  assert.deepEqual(out, data);
  assert.equal(sizes[0], 64 * 1024, "a first read asks for 64 KiB");
  assert.ok(
    sizes.some((s) => s === 1024 * 1024),
    `later reads ask for 1 MiB (${sizes.slice(0, 5)})`,
  );
});
