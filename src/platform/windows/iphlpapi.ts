/**
 * iphlpapi.dll bindings: network compartments, unicast address table, TCP owner table.
 *
 * The compartment exports are declared `optional`: `GetJobCompartmentId`/`SetJobCompartmentId`
 * are undocumented and absent on older builds and on Wine, and the thread ones are stubs on
 * Wine. Callers must check for `null` before use (see {@linkcode requireExport}).
 *
 * Return convention: `NETIO_STATUS`, 0 on success, otherwise a Win32 code (or an NTSTATUS for
 * the undocumented exports); map with `netioStatusError` from `errors.ts`.
 *
 * @module
 */
import { MissingExportError } from "./errors.ts";

/** The DLL these symbols come from. */
export const IPHLPAPI_DLL = "iphlpapi.dll";

/** Symbol table for `Deno.dlopen`. */
export const IPHLPAPI_SYMBOLS = {
  GetCurrentThreadCompartmentId: { parameters: [], result: "u32", optional: true },
  SetCurrentThreadCompartmentId: { parameters: ["u32"], result: "u32", optional: true },
  GetJobCompartmentId: { parameters: ["pointer"], result: "u32", optional: true },
  SetJobCompartmentId: { parameters: ["pointer", "u32"], result: "u32", optional: true },
  GetUnicastIpAddressTable: { parameters: ["u16", "buffer"], result: "u32" },
  GetExtendedTcpTable: {
    parameters: ["buffer", "buffer", "i32", "u32", "i32", "u32"],
    result: "u32",
  },
  FreeMibTable: { parameters: ["pointer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded symbol set; optional exports are `null` when absent. */
export type IphlpapiSymbols = Deno.StaticForeignLibraryInterface<typeof IPHLPAPI_SYMBOLS>;

let lib: Deno.DynamicLibrary<typeof IPHLPAPI_SYMBOLS> | undefined;

/** The loaded iphlpapi symbols (opened on first use). */
export function iphlpapi(): IphlpapiSymbols {
  lib ??= Deno.dlopen(IPHLPAPI_DLL, IPHLPAPI_SYMBOLS);
  return lib.symbols;
}

/** Return `fn` or throw a {@linkcode MissingExportError} naming it. */
export function requireExport<T>(name: string, fn: T | null, why?: string): T {
  if (fn === null) throw new MissingExportError(IPHLPAPI_DLL, name, why);
  return fn;
}
