/**
 * Every binding table loads in a real Windows deno, and every non-optional symbol resolves.
 * Optional exports that are absent are reported (Wine lacks some), not silently ignored.
 */
import assert from "node:assert/strict";
import { KERNEL32_DLL, KERNEL32_SYMBOLS } from "../../../src/platform/windows/kernel32.ts";
import { IPHLPAPI_DLL, IPHLPAPI_SYMBOLS } from "../../../src/platform/windows/iphlpapi.ts";
import { OLE32_DLL, OLE32_SYMBOLS } from "../../../src/platform/windows/ole32.ts";
import {
  COMPUTENETWORK_DLL,
  COMPUTENETWORK_SYMBOLS,
} from "../../../src/platform/windows/computenetwork.ts";
import { SHELL32_DLL, SHELL32_SYMBOLS } from "./test_bindings.ts";
import { ON_WINDOWS, skippedStep, WINE_VERSION } from "./_util.ts";

const tables: Array<[string, Deno.ForeignLibraryInterface, boolean]> = [
  [KERNEL32_DLL, KERNEL32_SYMBOLS, true],
  [IPHLPAPI_DLL, IPHLPAPI_SYMBOLS, true],
  [OLE32_DLL, OLE32_SYMBOLS, true],
  [SHELL32_DLL, SHELL32_SYMBOLS, true],
  // computenetwork.dll does not exist on Wine or before Windows 10 1809.
  [COMPUTENETWORK_DLL, COMPUTENETWORK_SYMBOLS, false],
];

/** null when `dll` opens (it is closed again), else why it does not. */
function whyNotLoadable(dll: string, symbols: Deno.ForeignLibraryInterface): string | null {
  try {
    Deno.dlopen(dll, symbols).close();
    return null;
  } catch (e) {
    return e instanceof Error ? e.message.trim() : String(e);
  }
}

for (const [dll, symbols, required] of tables) {
  // An optional DLL that is absent makes its test *ignored* (not passed), with the reason.
  const why = ON_WINDOWS && !required ? whyNotLoadable(dll, symbols) : null;
  const absent = why !== null;
  if (absent) skippedStep(`${dll} symbol resolution`, `DLL not loadable: ${why}`);
  Deno.test({
    name: `bindings: ${dll} loads with every required symbol${absent ? " (DLL absent)" : ""}`,
    ignore: !ON_WINDOWS || absent,
    fn() {
      const lib = Deno.dlopen(dll, symbols);
      try {
        const missing = Object.entries(symbols)
          .filter(([name]) => (lib.symbols as Record<string, unknown>)[name] === null)
          .map(([name]) => name);
        for (const name of missing) {
          assert((symbols[name] as { optional?: boolean }).optional === true, `${name} missing`);
          skippedStep(
            `${dll}!${name}`,
            `optional export absent (${
              WINE_VERSION ? `Wine ${WINE_VERSION}` : `Windows ${Deno.osRelease()}`
            })`,
          );
        }
      } finally {
        lib.close();
      }
    },
  });
}
