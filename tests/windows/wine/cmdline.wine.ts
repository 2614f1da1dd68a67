/**
 * The quoting in src/platform/windows/cmdline.ts, proven against the real parser: every
 * generated argv is encoded by `buildCommandLine`, split by `CommandLineToArgvW` (shell32) and
 * must come back identical. ≥ 1,000 generated lists per property.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { buildCommandLine } from "../../../src/platform/windows/cmdline.ts";
import { commandLineToArgv } from "./test_bindings.ts";
import { ON_WINDOWS } from "./_util.ts";

// Characters that matter to the rules, weighted so runs of backslashes and quotes are common.
const tricky = fc.constantFrom(
  " ",
  "\t",
  '"',
  "\\",
  "\\\\",
  '\\"',
  "\n",
  "\v",
  "a",
  "Z",
  "é",
  "😀",
);
const arg = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: tricky, maxLength: 12 }) },
  // Any UTF-16 code unit except NUL (lone surrogates included: Windows strings allow them).
  {
    weight: 1,
    arbitrary: fc.string({ unit: "binary", maxLength: 12 }).filter((s) => !s.includes("\0")),
  },
);
// argv[0] has its own rule (no escapes, so no quotes); paths with spaces are the usual case.
const program = fc.string({
  unit: fc.constantFrom("C:", "\\", "Program Files", " ", "a", "é", ".exe", "\t", "x y"),
  minLength: 1,
  maxLength: 6,
});

Deno.test({
  name: "cmdline: CommandLineToArgvW reads back every generated argv (1,000 runs)",
  ignore: !ON_WINDOWS,
  fn() {
    fc.assert(
      fc.property(program, fc.array(arg, { maxLength: 8 }), (prog, args) => {
        const argv = [prog, ...args];
        assert.deepEqual(commandLineToArgv(buildCommandLine(argv)), argv);
      }),
      { numRuns: 1000 },
    );
  },
});

Deno.test({
  name: "cmdline: backslash/quote runs of every length up to 8 (exhaustive, 1,000+ lists)",
  ignore: !ON_WINDOWS,
  fn() {
    let n = 0;
    for (let b = 0; b <= 8; b++) {
      for (const tail of ["", '"', "x", ' "', '"\\']) {
        for (const head of ["", "a", " ", '"']) {
          for (const extra of [[], ["", "z"], ["\\"]]) {
            const argv = ["prog.exe", head + "\\".repeat(b) + tail, ...extra];
            assert.deepEqual(commandLineToArgv(buildCommandLine(argv)), argv);
            // The same run as a *final* argument, where the closing quote follows it.
            const last = ["prog.exe", ...extra, head + "\\".repeat(b) + tail];
            assert.deepEqual(commandLineToArgv(buildCommandLine(last)), last);
            n += 2;
          }
        }
      }
    }
    assert.ok(n >= 1000 / 4, `${n} lists`); // 9*5*4*3*2 = 1,080
  },
});
