/**
 * kernel32.dll bindings: jobs, proc-thread attribute lists, process creation, threads, pipes,
 * waits, console control events and handlers. Mechanical only: the symbol table plus tiny typed
 * wrappers; the logic lives in `launch.ts`, `console.ts` and `selftest.ts`.
 *
 * Types follow the x64 (LLP64) ABI: `DWORD`/`UINT`/`BOOL` are 32-bit, `HANDLE`, pointers and
 * `SIZE_T`/`DWORD_PTR` are 64-bit. `tests/windows/abi_test.ts` checks every entry against the
 * MinGW-w64 prototypes.
 *
 * @module
 */
import { WindowsError } from "./errors.ts";
import { wstr } from "./memory.ts";

/** The DLL these symbols come from. */
export const KERNEL32_DLL = "kernel32.dll";

/** Symbol table for `Deno.dlopen`. */
export const KERNEL32_SYMBOLS = {
  GetLastError: { parameters: [], result: "u32" },
  CloseHandle: { parameters: ["pointer"], result: "i32" },
  GetCurrentProcessId: { parameters: [], result: "u32" },
  // Jobs.
  CreateJobObjectW: { parameters: ["pointer", "pointer"], result: "pointer" },
  SetInformationJobObject: { parameters: ["pointer", "i32", "buffer", "u32"], result: "i32" },
  QueryInformationJobObject: {
    parameters: ["pointer", "i32", "buffer", "u32", "buffer"],
    result: "i32",
  },
  TerminateJobObject: { parameters: ["pointer", "u32"], result: "i32" },
  IsProcessInJob: { parameters: ["pointer", "pointer", "buffer"], result: "i32" },
  // Proc-thread attribute lists (STARTUPINFOEXW).
  InitializeProcThreadAttributeList: {
    parameters: ["buffer", "u32", "u32", "buffer"],
    result: "i32",
  },
  UpdateProcThreadAttribute: {
    parameters: ["buffer", "u32", "usize", "buffer", "usize", "pointer", "pointer"],
    result: "i32",
  },
  DeleteProcThreadAttributeList: { parameters: ["buffer"], result: "void" },
  // Processes.
  CreateProcessW: {
    parameters: [
      "buffer", // lpApplicationName
      "buffer", // lpCommandLine (writable!)
      "pointer", // lpProcessAttributes
      "pointer", // lpThreadAttributes
      "i32", // bInheritHandles
      "u32", // dwCreationFlags
      "buffer", // lpEnvironment
      "buffer", // lpCurrentDirectory
      "buffer", // lpStartupInfo
      "buffer", // lpProcessInformation
    ],
    result: "i32",
  },
  ResumeThread: { parameters: ["pointer"], result: "u32" },
  OpenProcess: { parameters: ["u32", "i32", "u32"], result: "pointer" },
  GetExitCodeProcess: { parameters: ["pointer", "buffer"], result: "i32" },
  // Threads: a thread started at an exported function (a fresh thread that reports its own
  // compartment; kernel32!CtrlRoutine in another process, the way hcsshim delivers
  // CTRL_SHUTDOWN_EVENT).
  CreateThread: {
    parameters: ["pointer", "usize", "function", "pointer", "u32", "pointer"],
    result: "pointer",
  },
  CreateRemoteThread: {
    parameters: ["pointer", "pointer", "usize", "function", "pointer", "u32", "pointer"],
    result: "pointer",
  },
  GetExitCodeThread: { parameters: ["pointer", "buffer"], result: "i32" },
  GetModuleHandleW: { parameters: ["buffer"], result: "pointer" },
  GetProcAddress: { parameters: ["pointer", "buffer"], result: "function" },
  // Consoles.
  GenerateConsoleCtrlEvent: { parameters: ["u32", "u32"], result: "i32" },
  SetConsoleCtrlHandler: { parameters: ["function", "i32"], result: "i32" },
  // Files: a pinned program is opened sharing read access only (see program.ts).
  CreateFileW: {
    parameters: ["buffer", "u32", "u32", "pointer", "u32", "u32", "pointer"],
    result: "pointer",
  },
  // Pipes.
  CreatePipe: { parameters: ["buffer", "buffer", "buffer", "u32"], result: "i32" },
  SetHandleInformation: { parameters: ["pointer", "u32", "u32"], result: "i32" },
  // Runs on a worker thread so a blocking pipe read never stalls the event loop.
  ReadFile: {
    parameters: ["pointer", "buffer", "u32", "buffer", "pointer"],
    result: "i32",
    nonblocking: true,
  },
  // Waits: a zero-timeout poll on the JS thread, and an INFINITE wait on a worker thread.
  WaitForSingleObject: { parameters: ["pointer", "u32"], result: "u32" },
  // On the JS thread on purpose: the console control handler must not return before the
  // workloads have ended, and it runs on the JS thread (see console.ts).
  WaitForMultipleObjects: { parameters: ["u32", "buffer", "i32", "u32"], result: "u32" },
  WaitForSingleObjectAsync: {
    name: "WaitForSingleObject",
    parameters: ["pointer", "u32"],
    result: "u32",
    nonblocking: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;

let lib: Deno.DynamicLibrary<typeof KERNEL32_SYMBOLS> | undefined;

/** The loaded kernel32 symbols (opened on first use, so importing this file is free). */
export function kernel32(): Deno.StaticForeignLibraryInterface<typeof KERNEL32_SYMBOLS> {
  lib ??= Deno.dlopen(KERNEL32_DLL, KERNEL32_SYMBOLS);
  return lib.symbols;
}

/**
 * The calling thread's last error as a {@linkcode WindowsError} for `fn`. Must be called right
 * after the failing call, before any other FFI call on this thread.
 */
export function lastError(fn: string): WindowsError {
  return new WindowsError(fn, "win32", kernel32().GetLastError());
}

/** Throw the last error for `fn` unless the BOOL result `ok` is non-zero. */
export function checkBool(fn: string, ok: number): void {
  if (ok === 0) throw lastError(fn);
}

/**
 * The address of `symbol` exported by `dll`, which must already be loaded in this process
 * (`GetModuleHandleW` + `GetProcAddress`); null when either is missing. Only for starting a
 * thread at an export: kernel32's lies at the same address in every process of a boot, which
 * is what lets hcsshim start `CtrlRoutine` in another process.
 */
export function exportAddress(dll: string, symbol: string): Deno.PointerValue {
  const k = kernel32();
  const module = k.GetModuleHandleW(wstr(dll));
  if (module === null) return null;
  return k.GetProcAddress(module, new TextEncoder().encode(`${symbol}\0`));
}

/** Close a handle, ignoring NULL. Returns whether the close succeeded. */
export function closeHandle(h: Deno.PointerValue): boolean {
  if (h === null) return true;
  return kernel32().CloseHandle(h) !== 0;
}
