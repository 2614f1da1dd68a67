/**
 * computenetwork.dll bindings (Host Compute Network API, Windows 10 1809+ / Server 2019+).
 *
 * The DLL itself may be missing (older builds, Wine), so {@linkcode computenetwork} returns
 * `null` instead of throwing, and every symbol is `optional`. Calls are `nonblocking`: each
 * one is an RPC to the Host Network Service and can take long enough to stall the event loop.
 * Every `PWSTR*` out-parameter is allocated by HCN and must be freed with `CoTaskMemFree`.
 * Results are `HRESULT`s (check with `checkHresult` from `errors.ts`).
 *
 * @module
 */

/** The DLL these symbols come from. */
export const COMPUTENETWORK_DLL = "computenetwork.dll";

/** Symbol table for `Deno.dlopen`. */
export const COMPUTENETWORK_SYMBOLS = {
  HcnEnumerateEndpoints: {
    parameters: ["buffer", "buffer", "buffer"],
    result: "i32",
    nonblocking: true,
    optional: true,
  },
  HcnOpenEndpoint: {
    parameters: ["buffer", "buffer", "buffer"],
    result: "i32",
    nonblocking: true,
    optional: true,
  },
  HcnQueryEndpointProperties: {
    parameters: ["pointer", "buffer", "buffer", "buffer"],
    result: "i32",
    nonblocking: true,
    optional: true,
  },
  HcnCloseEndpoint: { parameters: ["pointer"], result: "i32", optional: true },
  HcnEnumerateNamespaces: {
    parameters: ["buffer", "buffer", "buffer"],
    result: "i32",
    nonblocking: true,
    optional: true,
  },
  HcnOpenNamespace: {
    parameters: ["buffer", "buffer", "buffer"],
    result: "i32",
    nonblocking: true,
    optional: true,
  },
  HcnQueryNamespaceProperties: {
    parameters: ["pointer", "buffer", "buffer", "buffer"],
    result: "i32",
    nonblocking: true,
    optional: true,
  },
  HcnCloseNamespace: { parameters: ["pointer"], result: "i32", optional: true },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded symbol set; each entry is `null` when absent. */
export type ComputeNetworkSymbols = Deno.StaticForeignLibraryInterface<
  typeof COMPUTENETWORK_SYMBOLS
>;

let lib: Deno.DynamicLibrary<typeof COMPUTENETWORK_SYMBOLS> | null | undefined;
let loadError: string | undefined;

/** The loaded HCN symbols, or `null` when computenetwork.dll cannot be loaded. */
export function computenetwork(): ComputeNetworkSymbols | null {
  if (lib === undefined) {
    try {
      lib = Deno.dlopen(COMPUTENETWORK_DLL, COMPUTENETWORK_SYMBOLS);
    } catch (e) {
      lib = null;
      loadError = (e instanceof Error ? e.message : String(e)).trim();
    }
  }
  return lib?.symbols ?? null;
}

/** Why computenetwork.dll could not be loaded (after {@linkcode computenetwork} returned null). */
export function computenetworkLoadError(): string | undefined {
  return loadError;
}
