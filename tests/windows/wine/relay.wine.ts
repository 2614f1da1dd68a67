/**
 * The output relay under the Windows deno: the WebAssembly SIMD prefix loop compiles and gives
 * the JavaScript loop's bytes, and a Windows child's stdout pipe is read into one reused,
 * growing buffer (bring-your-own-buffer reads) with every byte and only whole lines.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { prefixLines, prefixLinesJs, usesWasm } from "../../../src/supervisor/line_prefix.ts";
import { relayLineBlocks } from "../../../src/supervisor/relay.ts";
import { ON_WINDOWS } from "./_util.ts";

const encoder = new TextEncoder();

Deno.test({
  name: "relay: the WebAssembly prefix loop runs here and equals the JavaScript loop (300 runs)",
  ignore: !ON_WINDOWS,
  fn() {
    assert.ok(usesWasm(), "WebAssembly SIMD did not compile under this deno.exe");
    const line = fc.string({ maxLength: 120 }).map((s) => s.replaceAll("\n", " "));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 400 }), fc.string({ maxLength: 64 }), (ls, name) => {
        const block = encoder.encode(ls.map((l) => `${l}\n`).join(""));
        const prefix = encoder.encode(`[${name}] `);
        const pieces: number[] = [];
        prefixLines(block, prefix, (bytes) => pieces.push(...bytes), { wasm: true });
        assert.deepEqual(new Uint8Array(pieces), prefixLinesJs(block, prefix));
      }),
      { numRuns: 300 },
    );
  },
});

Deno.test({
  name: "relay: a Windows child's 3 MB of stdout comes through a reused buffer whole",
  ignore: !ON_WINDOWS,
  async fn() {
    const dir = await Deno.makeTempDir();
    const file = `${dir}\\lines.txt`;
    const lines = Array.from({ length: 30_000 }, (_, i) => `line ${i} `.padEnd(99, "x"));
    const text = lines.map((l) => `${l}\r\n`).join("");
    await Deno.writeTextFile(file, text);
    try {
      const child = new Deno.Command("cmd.exe", {
        args: ["/c", "type", file],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const got: number[] = [];
      let blocks = 0;
      await relayLineBlocks(child.stdout, {
        lines: (block) => {
          assert.equal(block.at(-1), 0x0a, "a block ends with a newline");
          blocks++;
          for (const byte of block) got.push(byte);
        },
        piece: (bytes) => assert.fail(`unexpected piece of ${bytes.length} bytes`),
      }, { reuseBuffer: true });
      assert.equal((await child.status).code, 0);
      assert.equal(new TextDecoder().decode(new Uint8Array(got)), text);
      assert.ok(blocks > 1, `${blocks} blocks`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
