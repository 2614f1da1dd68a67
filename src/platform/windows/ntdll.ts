/**
 * ntdll.dll, for one question only: is this Wine? Wine exports `wine_get_version`; Windows
 * does not, so the symbol is optional. The self-test names Wine in its report, because Wine
 * emulates Win32 but not network compartments.
 *
 * @module
 */

/** The DLL these symbols come from. */
export const NTDLL_DLL = "ntdll.dll";

/** Symbol table for `Deno.dlopen`. */
export const NTDLL_SYMBOLS = {
  wine_get_version: { parameters: [], result: "pointer", optional: true },
} as const satisfies Deno.ForeignLibraryInterface;

/** Wine's version when running under Wine, else null (Windows, or ntdll unreadable). */
export function wineVersion(): string | null {
  try {
    const lib = Deno.dlopen(NTDLL_DLL, NTDLL_SYMBOLS);
    try {
      const p = lib.symbols.wine_get_version?.() ?? null;
      return p === null ? null : Deno.UnsafePointerView.getCString(p);
    } finally {
      lib.close();
    }
  } catch {
    return null;
  }
}
