/**
 * Test-only bindings: `CommandLineToArgvW` (the reference parser for the quoting proof),
 * `LocalFree`, which releases its result, and `GetConsoleProcessList` (is there a console to
 * deliver Ctrl-Break through?). Checked by the ABI test like the product bindings.
 *
 * @module
 */
import { readWide, wstr } from "../../../src/platform/windows/memory.ts";

/** The DLL of {@linkcode SHELL32_SYMBOLS}. */
export const SHELL32_DLL = "shell32.dll";

/** Symbol table for `Deno.dlopen`. */
export const SHELL32_SYMBOLS = {
  CommandLineToArgvW: { parameters: ["buffer", "buffer"], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** kernel32 functions only the tests need. */
export const TEST_KERNEL32_SYMBOLS = {
  LocalFree: { parameters: ["pointer"], result: "pointer" },
  GetConsoleProcessList: { parameters: ["buffer", "u32"], result: "u32" },
} as const satisfies Deno.ForeignLibraryInterface;

let shell: Deno.DynamicLibrary<typeof SHELL32_SYMBOLS> | undefined;
let k32: Deno.DynamicLibrary<typeof TEST_KERNEL32_SYMBOLS> | undefined;

/** Split `cmdline` with the real `CommandLineToArgvW`. */
export function commandLineToArgv(cmdline: string): string[] {
  shell ??= Deno.dlopen(SHELL32_DLL, SHELL32_SYMBOLS);
  k32 ??= Deno.dlopen("kernel32.dll", TEST_KERNEL32_SYMBOLS);
  const argc = new Int32Array(new ArrayBuffer(4));
  const arr = shell.symbols.CommandLineToArgvW(wstr(cmdline), argc);
  if (arr === null) throw new Error("CommandLineToArgvW returned NULL");
  try {
    const view = new Deno.UnsafePointerView(arr);
    const out: string[] = [];
    for (let i = 0; i < argc[0]; i++) {
      const p = view.getPointer(i * 8);
      out.push(p === null ? "" : readWide(p));
    }
    return out;
  } finally {
    k32.symbols.LocalFree(arr);
  }
}

/** How many processes share this process's console (0: no console attached). */
export function consoleProcessCount(): number {
  k32 ??= Deno.dlopen("kernel32.dll", TEST_KERNEL32_SYMBOLS);
  return k32.symbols.GetConsoleProcessList(new Uint32Array(16), 16);
}
