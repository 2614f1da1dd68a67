/**
 * kernel32.dll bindings: jobs, proc-thread attribute lists, process creation, pipes, waits,
 * console control events. Mechanical only: the symbol table plus tiny typed wrappers; the
 * logic lives in `launch.ts`.
 *
 * Types follow the x64 (LLP64) ABI: `DWORD`/`UINT`/`BOOL` are 32-bit, `HANDLE`, pointers and
 * `SIZE_T`/`DWORD_PTR` are 64-bit. `tests/windows/abi_test.ts` checks every entry against the
 * MinGW-w64 prototypes.
 *
 * @module
 */
import { WindowsError } from "./errors.ts";

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
  GenerateConsoleCtrlEvent: { parameters: ["u32", "u32"], result: "i32" },
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

/** Close a handle, ignoring NULL. Returns whether the close succeeded. */
export function closeHandle(h: Deno.PointerValue): boolean {
  if (h === null) return true;
  return kernel32().CloseHandle(h) !== 0;
}
