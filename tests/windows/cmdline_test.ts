/**
 * Linux unit tests of the Windows command-line encoder. The decisive proof is under Wine
 * against the real CommandLineToArgvW (wine/cmdline_test.ts); here: the argv lists of
 * Microsoft's "Parsing C++ command-line arguments" table, with the encoding our rules give.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  buildCommandLine,
  CommandLineError,
  quoteArg,
  quoteProgram,
} from "../../src/platform/windows/cmdline.ts";

// [argv after the program, expected command-line tail]. The first four argv lists are the
// results column of Microsoft's table; our encoder may spell them differently than the
// table's inputs (it quotes only when needed) but must follow the same rules.
const VECTORS: Array<[string[], string]> = [
  [["a b c", "d", "e"], '"a b c" d e'],
  [['ab"c', "\\", "d"], '"ab\\"c" \\ d'],
  [["a\\\\\\b", "de fg", "h"], 'a\\\\\\b "de fg" h'],
  [['a\\"b', "c", "d"], '"a\\\\\\"b" c d'],
  [["a\\\\b c", "d", "e"], '"a\\\\b c" d e'],
  // Trailing backslashes before our closing quote are doubled.
  [["dir with space\\"], '"dir with space\\\\"'],
  [["C:\\path\\"], "C:\\path\\"],
  [[""], '""'],
  [["tab\there"], '"tab\there"'],
  [['"'], '"\\""'],
];

Deno.test("cmdline: Microsoft's documented argv lists encode as expected", () => {
  for (const [args, tail] of VECTORS) {
    assert.equal(buildCommandLine(["prog.exe", ...args]), `prog.exe ${tail}`, JSON.stringify(args));
  }
});

Deno.test("cmdline: the program name is quoted without escapes, and quotes in it are refused", () => {
  assert.equal(quoteProgram("C:\\apps\\albumswin.exe"), "C:\\apps\\albumswin.exe");
  assert.equal(quoteProgram("C:\\Program Files\\x\\y.exe"), '"C:\\Program Files\\x\\y.exe"');
  // argv[0] is parsed without backslash processing: a trailing backslash stays single.
  assert.equal(quoteProgram("C:\\a b\\"), '"C:\\a b\\"');
  assert.throws(() => quoteProgram('a"b'), CommandLineError);
  assert.throws(() => quoteProgram(""), CommandLineError);
  assert.throws(() => buildCommandLine([]), CommandLineError);
  assert.throws(() => quoteArg("nul\0inside"), CommandLineError);
});

Deno.test("cmdline: arguments without blanks or quotes pass through unchanged", () => {
  fc.assert(
    fc.property(fc.string({ minLength: 1 }).filter((s) => !/[ \t\n\v"\0]/.test(s)), (s) => {
      assert.equal(quoteArg(s), s);
    }),
    { numRuns: 1000 },
  );
});

Deno.test("cmdline: a quoted argument never ends in an odd run of backslashes", () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom("\\", '"', " ", "a") }), (s) => {
      const q = quoteArg(s);
      if (!q.startsWith('"')) return;
      const inner = q.slice(1, -1);
      const run = /\\*$/.exec(inner)![0].length;
      assert.equal(run % 2, 0, q);
    }),
    { numRuns: 1000 },
  );
});
