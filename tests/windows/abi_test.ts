/**
 * ABI proof, on Linux: the TypeScript layouts, constants, error names and FFI signatures of the
 * Windows backend are compiled as `static_assert`s against the MinGW-w64 headers with
 * `x86_64-w64-mingw32-g++` (see tests/windows/abi/). A wrong offset or a `u32` where the
 * prototype has a `SIZE_T` fails here instead of corrupting memory on a Windows node.
 *
 * Needs the MinGW-w64 C++ compiler; `scripts/wine_setup.sh --host-only` installs it.
 */
import assert from "node:assert/strict";
import { generate, type Generated, SELF_DECLARED, SYMBOL_TABLES } from "./abi/gen.ts";
import * as structs from "../../src/platform/windows/structs.ts";
import { KERNEL32_SYMBOLS } from "../../src/platform/windows/kernel32.ts";

const PRELUDE = new URL("./abi/prelude.hpp", import.meta.url).pathname;
const REPO = new URL("../../", import.meta.url).pathname;
const GXX = "x86_64-w64-mingw32-g++";

async function ensureCompiler(): Promise<void> {
  const have = await new Deno.Command("sh", { args: ["-c", `command -v ${GXX}`], stdout: "null" })
    .output();
  if (have.success) return;
  const setup = await new Deno.Command("bash", {
    args: [`${REPO}scripts/wine_setup.sh`, "--host-only"],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!setup.success) {
    throw new Error(
      `${GXX} missing and wine_setup.sh --host-only failed: ${
        new TextDecoder().decode(setup.stderr)
      }`,
    );
  }
}

interface Compiled {
  readonly ok: boolean;
  /** Checks whose line the compiler blamed. */
  readonly failed: string[];
  /** Names reported by `#warning UNCHECKED`. */
  readonly unchecked: string[];
  readonly output: string;
}

async function compile(gen: Generated): Promise<Compiled> {
  const dir = await Deno.makeTempDir({ prefix: "cplauncher-abi-" });
  try {
    const file = `${dir}/abi_check.cpp`;
    await Deno.writeTextFile(file, gen.source);
    const out = await new Deno.Command(GXX, {
      args: ["-std=c++17", "-fsyntax-only", "-fmax-errors=200", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const output = new TextDecoder().decode(out.stderr);
    const byLine = new Map(gen.checks.map((c) => [c.line, c.what]));
    const failed = new Set<string>();
    for (const m of output.matchAll(/abi_check\.cpp:(\d+):\d+:(?:\s+required from here| error)/g)) {
      const what = byLine.get(Number(m[1]));
      if (what) failed.add(what);
    }
    const unchecked = [...output.matchAll(/#warning UNCHECKED (\w+)/g)].map((m) => m[1]);
    return { ok: out.success, failed: [...failed], unchecked: [...new Set(unchecked)], output };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const enc = new TextEncoder();
function report(line: string): void {
  Deno.stderr.writeSync(enc.encode(`${line}\n`));
}

Deno.test("abi: every layout, constant, error name and FFI signature matches MinGW-w64", async () => {
  await ensureCompiler();
  const gen = generate(PRELUDE);
  const r = await compile(gen);
  assert.ok(
    r.ok,
    `ABI mismatches:\n  ${r.failed.join("\n  ")}\n\ncompiler output:\n${
      r.output.split("\n").slice(0, 60).join("\n")
    }`,
  );
  // Only the HCN codes (documented by Microsoft, absent from MinGW-w64) may go unchecked; any
  // other unchecked name is a typo in errors.ts.
  const unexpected = r.unchecked.filter((n) => !/^(HCN|GCN)_E_/.test(n));
  assert.deepEqual(unexpected, [], "error names the headers do not define");
  const c = gen.counts;
  report(
    `abi: checked ${c.layouts} structs (${c.fields} offsets), ${c.constants} constants, ` +
      `${c.errors - r.unchecked.length} error codes, ${c.functions} FFI signatures; ` +
      `${r.unchecked.length} HCN error codes unchecked (not in MinGW-w64 headers); ` +
      `${SELF_DECLARED.join(", ")} checked against prototypes transcribed in prelude.hpp`,
  );
});

Deno.test("abi: the checker catches a wrong size, offset, constant, kind and arity", async () => {
  await ensureCompiler();
  const bad = generate(PRELUDE, {
    layouts: [
      { ...structs.STARTUPINFOW, size: 100 },
      { ...structs.MIB_UNICASTIPADDRESS_ROW, fields: { DadState: 60 } },
    ],
    constants: { PROC_THREAD_ATTRIBUTE_JOB_LIST: 0x2000c },
    tables: [[
      "kernel32.dll",
      {
        // SIZE_T cbSize declared as u32: the classic LLP64 mistake.
        UpdateProcThreadAttribute: {
          ...KERNEL32_SYMBOLS.UpdateProcThreadAttribute,
          parameters: ["buffer", "u32", "usize", "buffer", "u32", "pointer", "pointer"],
        },
        CloseHandle: { parameters: ["pointer", "u32"], result: "i32" },
        GetLastError: { parameters: [], result: "i32" },
        ReadFile: {
          ...KERNEL32_SYMBOLS.ReadFile,
          parameters: ["u64", "buffer", "u32", "buffer", "pointer"],
        },
      },
    ]],
  });
  const r = await compile(bad);
  assert.equal(r.ok, false);
  assert.deepEqual(
    r.failed.sort(),
    [
      "kernel32.dll!CloseHandle(pointer, u32) -> i32",
      "kernel32.dll!GetLastError() -> i32",
      "kernel32.dll!ReadFile(u64, buffer, u32, buffer, pointer) -> i32",
      "kernel32.dll!UpdateProcThreadAttribute(buffer, u32, usize, buffer, u32, pointer, pointer) -> i32",
      "PROC_THREAD_ATTRIBUTE_JOB_LIST == 131084",
      "offsetof(MIB_UNICASTIPADDRESS_ROW, DadState) == 60",
      "sizeof(STARTUPINFOW) == 100",
    ].sort(),
  );
});

Deno.test("abi: every StructLayout exported by structs.ts is in ALL_LAYOUTS", () => {
  const exported = (Object.values(structs) as unknown[]).filter((v): v is structs.StructLayout =>
    typeof v === "object" && v !== null && "cType" in v && "fields" in v
  );
  assert.ok(exported.length >= 18);
  for (const l of exported) assert.ok(structs.ALL_LAYOUTS.includes(l), `${l.cType} not checked`);
});

Deno.test("abi: every FFI symbol table used by the backend is in the check", () => {
  const dlls = SYMBOL_TABLES.map(([dll]) => dll);
  for (
    const dll of ["kernel32.dll", "iphlpapi.dll", "computenetwork.dll", "ole32.dll", "ntdll.dll"]
  ) {
    assert.ok(dlls.includes(dll), dll);
  }
});
