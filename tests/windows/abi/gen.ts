/**
 * Generates the C++ translation unit that checks the TypeScript side of the Windows ABI
 * against the MinGW-w64 headers:
 *
 * - every {@linkcode StructLayout} in src/platform/windows/structs.ts: `sizeof` and each
 *   `offsetof`;
 * - every constant in `W` and every named error code in errors.ts: its header value (error
 *   names the headers lack are reported as unchecked through `#warning`);
 * - every FFI symbol table: the parameter count, and each parameter/result's Deno FFI kind
 *   against the C type of the real prototype (size, signedness, pointer-ness).
 *
 * Run directly to print the source: `deno run -A tests/windows/abi/gen.ts`.
 *
 * @module
 */
import { ALL_LAYOUTS, type StructLayout, W } from "../../../src/platform/windows/structs.ts";
import {
  HRESULT_NAMES,
  NTSTATUS_NAMES,
  WIN32_ERROR_NAMES,
} from "../../../src/platform/windows/errors.ts";
import { KERNEL32_DLL, KERNEL32_SYMBOLS } from "../../../src/platform/windows/kernel32.ts";
import { IPHLPAPI_DLL, IPHLPAPI_SYMBOLS } from "../../../src/platform/windows/iphlpapi.ts";
import {
  COMPUTENETWORK_DLL,
  COMPUTENETWORK_SYMBOLS,
} from "../../../src/platform/windows/computenetwork.ts";
import { OLE32_DLL, OLE32_SYMBOLS } from "../../../src/platform/windows/ole32.ts";
import { NTDLL_DLL, NTDLL_SYMBOLS } from "../../../src/platform/windows/ntdll.ts";
import { SHELL32_DLL, SHELL32_SYMBOLS, TEST_KERNEL32_SYMBOLS } from "../wine/test_bindings.ts";

/** Every symbol table the code dlopens, with its DLL. */
export const SYMBOL_TABLES: ReadonlyArray<readonly [string, Deno.ForeignLibraryInterface]> = [
  [KERNEL32_DLL, KERNEL32_SYMBOLS],
  [IPHLPAPI_DLL, IPHLPAPI_SYMBOLS],
  [COMPUTENETWORK_DLL, COMPUTENETWORK_SYMBOLS],
  [OLE32_DLL, OLE32_SYMBOLS],
  [NTDLL_DLL, NTDLL_SYMBOLS],
  [SHELL32_DLL, SHELL32_SYMBOLS],
  ["kernel32.dll (tests)", TEST_KERNEL32_SYMBOLS],
];

/** Symbols the MinGW-w64 headers lack; prelude.hpp declares them from Microsoft's metadata. */
export const SELF_DECLARED = ["GetJobCompartmentId", "SetJobCompartmentId", "wine_get_version"];

/** What one generated line checks, for mapping compiler errors back to TS names. */
export interface Check {
  /** 1-based line in the generated file. */
  readonly line: number;
  /** Human description, e.g. `STARTUPINFOW.hStdError offset 96`. */
  readonly what: string;
}

/** The generated source and the line → check map. */
export interface Generated {
  /** C++ source (includes prelude.hpp by absolute path). */
  readonly source: string;
  /** One entry per static_assert line. */
  readonly checks: Check[];
  /** Counts for the test's report. */
  readonly counts: {
    layouts: number;
    fields: number;
    constants: number;
    errors: number;
    functions: number;
  };
}

function kindOf(t: string): string {
  return t === "void" ? "void_" : t === "bool" ? "boolean" : t;
}

/** What to check; defaults to the real tables (tests substitute broken ones). */
export interface GenerateInput {
  /** Struct layouts. */
  readonly layouts?: readonly StructLayout[];
  /** Constants by header name. */
  readonly constants?: Readonly<Record<string, number>>;
  /** FFI symbol tables. */
  readonly tables?: ReadonlyArray<readonly [string, Deno.ForeignLibraryInterface]>;
}

/** Build the check source; `preludePath` is the absolute path of prelude.hpp. */
export function generate(preludePath: string, input: GenerateInput = {}): Generated {
  const layouts = input.layouts ?? ALL_LAYOUTS;
  const constants = input.constants ?? W;
  const tables = input.tables ?? SYMBOL_TABLES;
  const lines: string[] = [`#include "${preludePath}"`, "using abi::K;", "using abi::eq;"];
  const checks: Check[] = [];
  const add = (code: string, what: string) => {
    lines.push(code);
    checks.push({ line: lines.length, what });
  };
  const counts = { layouts: 0, fields: 0, constants: 0, errors: 0, functions: 0 };

  for (const l of layouts) {
    counts.layouts++;
    add(
      `static_assert(eq<sizeof(${l.cType}), ${l.size}>::ok, "");`,
      `sizeof(${l.cType}) == ${l.size}`,
    );
    for (const [field, off] of Object.entries(l.fields)) {
      counts.fields++;
      add(
        `static_assert(eq<__builtin_offsetof(${l.cType}, ${field}), ${off}>::ok, "");`,
        `offsetof(${l.cType}, ${field}) == ${off}`,
      );
    }
  }
  for (const [name, value] of Object.entries(constants)) {
    counts.constants++;
    add(
      `static_assert(eq<static_cast<std::uint32_t>(${name}), ${value}u>::ok, "");`,
      `${name} == ${value}`,
    );
  }
  const codeTables: Array<[string, Readonly<Record<number, string>>]> = [
    ["Win32 error", WIN32_ERROR_NAMES],
    ["HRESULT", HRESULT_NAMES],
    ["NTSTATUS", NTSTATUS_NAMES],
  ];
  for (const [kind, table] of codeTables) {
    for (const [value, name] of Object.entries(table)) {
      counts.errors++;
      // Error codes are macros, so #ifdef tells whether the headers know the name at all.
      lines.push(`#ifdef ${name}`);
      add(
        `static_assert(eq<static_cast<std::uint32_t>(${name}), ${value}u>::ok, "");`,
        `${kind} ${name} == 0x${Number(value).toString(16)}`,
      );
      lines.push("#else", `#warning UNCHECKED ${name}`, "#endif");
    }
  }
  for (const [dll, table] of tables) {
    for (const [key, def] of Object.entries(table)) {
      if (!("parameters" in def)) continue;
      counts.functions++;
      const cName = def.name ?? key;
      const kinds = [kindOf(String(def.result)), ...def.parameters.map((p) => kindOf(String(p)))]
        .map((k) => `K::${k}`).join(", ");
      add(
        `static_assert(abi::sig<decltype(&::${cName}), ${kinds}>::ok, "");`,
        `${dll}!${cName}(${def.parameters.join(", ")}) -> ${def.result}`,
      );
    }
  }
  return { source: lines.join("\n") + "\n", checks, counts };
}

if (import.meta.main) {
  const prelude = new URL("./prelude.hpp", import.meta.url).pathname;
  await Deno.stdout.write(new TextEncoder().encode(generate(prelude).source));
}
