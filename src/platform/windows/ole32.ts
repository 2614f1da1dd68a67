/**
 * ole32.dll bindings: only `CoTaskMemFree`, which releases the strings HCN allocates.
 *
 * @module
 */

/** The DLL these symbols come from. */
export const OLE32_DLL = "ole32.dll";

/** Symbol table for `Deno.dlopen`. */
export const OLE32_SYMBOLS = {
  CoTaskMemFree: { parameters: ["pointer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

let lib: Deno.DynamicLibrary<typeof OLE32_SYMBOLS> | undefined;

/** The loaded ole32 symbols (opened on first use). */
export function ole32(): Deno.StaticForeignLibraryInterface<typeof OLE32_SYMBOLS> {
  lib ??= Deno.dlopen(OLE32_DLL, OLE32_SYMBOLS);
  return lib.symbols;
}

/** Free a CoTaskMem allocation; NULL is fine. */
export function coTaskMemFree(p: Deno.PointerValue): void {
  if (p !== null) ole32().CoTaskMemFree(p);
}
