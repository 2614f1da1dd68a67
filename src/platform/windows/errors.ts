/**
 * Win32 error codes, HRESULTs and NTSTATUS values mapped to named errors.
 *
 * The three conventions meet in this backend: kernel32 reports through `GetLastError()`,
 * iphlpapi returns a `NETIO_STATUS` (a Win32 code in user mode; some undocumented exports
 * return an `NTSTATUS`), and the Host Compute Network API returns `HRESULT`s. An operator
 * reading a log should see `ERROR_INVALID_PARAMETER (87)` rather than a bare number, so every
 * error names its code. The names below are checked against the MinGW-w64 headers by
 * `tests/windows/abi_test.ts`.
 *
 * @module
 */
import { PlatformError, SystemCallError, type SystemCallErrorKind } from "../errors.ts";

/** Win32 error codes (winerror.h) the backend can meet, by value. */
export const WIN32_ERROR_NAMES: Readonly<Record<number, string>> = {
  0: "ERROR_SUCCESS",
  1: "ERROR_INVALID_FUNCTION",
  2: "ERROR_FILE_NOT_FOUND",
  3: "ERROR_PATH_NOT_FOUND",
  5: "ERROR_ACCESS_DENIED",
  6: "ERROR_INVALID_HANDLE",
  8: "ERROR_NOT_ENOUGH_MEMORY",
  12: "ERROR_INVALID_ACCESS",
  13: "ERROR_INVALID_DATA",
  14: "ERROR_OUTOFMEMORY",
  21: "ERROR_NOT_READY",
  31: "ERROR_GEN_FAILURE",
  32: "ERROR_SHARING_VIOLATION",
  50: "ERROR_NOT_SUPPORTED",
  87: "ERROR_INVALID_PARAMETER",
  109: "ERROR_BROKEN_PIPE",
  120: "ERROR_CALL_NOT_IMPLEMENTED",
  122: "ERROR_INSUFFICIENT_BUFFER",
  123: "ERROR_INVALID_NAME",
  126: "ERROR_MOD_NOT_FOUND",
  127: "ERROR_PROC_NOT_FOUND",
  183: "ERROR_ALREADY_EXISTS",
  193: "ERROR_BAD_EXE_FORMAT",
  203: "ERROR_ENVVAR_NOT_FOUND",
  206: "ERROR_FILENAME_EXCED_RANGE",
  232: "ERROR_NO_DATA",
  234: "ERROR_MORE_DATA",
  267: "ERROR_DIRECTORY",
  299: "ERROR_PARTIAL_COPY",
  487: "ERROR_INVALID_ADDRESS",
  995: "ERROR_OPERATION_ABORTED",
  1168: "ERROR_NOT_FOUND",
  1314: "ERROR_PRIVILEGE_NOT_HELD",
  1450: "ERROR_NO_SYSTEM_RESOURCES",
  1460: "ERROR_TIMEOUT",
};

/** HRESULTs (winerror.h) the backend can meet, by unsigned value. */
export const HRESULT_NAMES: Readonly<Record<number, string>> = {
  0x00000000: "S_OK",
  0x00000001: "S_FALSE",
  0x80004001: "E_NOTIMPL",
  0x80004002: "E_NOINTERFACE",
  0x80004003: "E_POINTER",
  0x80004004: "E_ABORT",
  0x80004005: "E_FAIL",
  0x8000ffff: "E_UNEXPECTED",
  0x80070005: "E_ACCESSDENIED",
  0x80070006: "E_HANDLE",
  0x8007000e: "E_OUTOFMEMORY",
  0x80070057: "E_INVALIDARG",
  // HCN codes: not in the MinGW-w64 headers; values from Microsoft's "HCN Error Code" reference.
  0x803b0001: "HCN_E_NETWORK_NOT_FOUND",
  0x803b0002: "HCN_E_ENDPOINT_NOT_FOUND",
  0x803b0003: "HCN_E_LAYER_NOT_FOUND",
  0x803b0004: "HCN_E_SWITCH_NOT_FOUND",
  0x803b0005: "HCN_E_SUBNET_NOT_FOUND",
  0x803b0006: "HCN_E_ADAPTER_NOT_FOUND",
  0x803b0007: "HCN_E_PORT_NOT_FOUND",
  0x803b0008: "HCN_E_POLICY_NOT_FOUND",
  0x803b000a: "HCN_E_INVALID_NETWORK",
  0x803b000c: "HCN_E_INVALID_ENDPOINT",
  0x803b0015: "HCN_E_REQUEST_UNSUPPORTED",
  0x803b0019: "HCN_E_GUID_CONVERSION_FAILURE",
  0x803b001b: "HCN_E_INVALID_JSON",
  0x803b0020: "HCN_E_MANAGER_STOPPED",
  0x803b0027: "GCN_E_NETCOMPARTMENT_NOT_FOUND",
  0x803b0031: "HCN_E_OBJECT_USED_AFTER_UNLOAD",
};

/** NTSTATUS values (ntstatus.h) that undocumented iphlpapi exports may return. */
export const NTSTATUS_NAMES: Readonly<Record<number, string>> = {
  0xc0000001: "STATUS_UNSUCCESSFUL",
  0xc0000002: "STATUS_NOT_IMPLEMENTED",
  0xc0000008: "STATUS_INVALID_HANDLE",
  0xc000000d: "STATUS_INVALID_PARAMETER",
  0xc0000022: "STATUS_ACCESS_DENIED",
  0xc0000034: "STATUS_OBJECT_NAME_NOT_FOUND",
  0xc00000bb: "STATUS_NOT_SUPPORTED",
  0xc0000225: "STATUS_NOT_FOUND",
};

/** Which convention a Windows code follows. */
export type CodeKind = Exclude<SystemCallErrorKind, "errno">;

/** Symbolic name of a code, e.g. `ERROR_INVALID_PARAMETER`, or a hex fallback. */
export function codeName(kind: CodeKind, code: number): string {
  const u = code >>> 0;
  if (kind === "win32") return WIN32_ERROR_NAMES[u] ?? `WIN32_ERROR_${u}`;
  if (kind === "ntstatus") return NTSTATUS_NAMES[u] ?? `NTSTATUS_0x${hex8(u)}`;
  const known = HRESULT_NAMES[u];
  if (known) return known;
  // FACILITY_WIN32 wraps a Win32 code; showing the inner name is what makes it readable.
  if (((u & 0xffff0000) >>> 0) === 0x80070000) {
    return `HRESULT_FROM_WIN32(${codeName("win32", u & 0xffff)})`;
  }
  return `HRESULT_0x${hex8(u)}`;
}

function hex8(u: number): string {
  return u.toString(16).toUpperCase().padStart(8, "0");
}

/** A failed Win32/HCN/iphlpapi call, naming the function and the code. */
export class WindowsError extends SystemCallError {
  /** The code convention of `code`. */
  declare readonly kind: CodeKind;

  /** Build an error for `fn` failing with `code`; `detail` is appended (e.g. an HCN record). */
  constructor(fn: string, kind: CodeKind, code: number, detail?: string) {
    const u = code >>> 0;
    const name = codeName(kind, u);
    const num = kind === "win32" ? String(u) : `0x${hex8(u)}`;
    super(kind, fn, u, name, `${fn} failed: ${name} (${num})${detail ? `: ${detail}` : ""}`);
    this.name = "WindowsError";
  }
}

/**
 * Interpret a `NETIO_STATUS`-style return (0 = success). Values with the NTSTATUS error
 * severity bits set are named as NTSTATUS, everything else as a Win32 code: the iphlpapi
 * compartment exports are documented as `NETIO_STATUS` (a `DWORD` in user mode) but the
 * undocumented job ones are described as `NTSTATUS` by Microsoft's metadata.
 */
export function netioStatusError(fn: string, status: number): WindowsError | null {
  const u = status >>> 0;
  if (u === 0) return null;
  return new WindowsError(fn, ((u & 0xc0000000) >>> 0) === 0xc0000000 ? "ntstatus" : "win32", u);
}

/** Throw unless an HRESULT indicates success (high bit clear). */
export function checkHresult(fn: string, hr: number, detail?: string): void {
  if ((hr >>> 0) & 0x80000000) throw new WindowsError(fn, "hresult", hr, detail);
}

/** Thrown when a required export is missing on this Windows build (or on Wine). */
export class MissingExportError extends PlatformError {
  /** `dll!symbol` that is absent. */
  readonly symbol: string;
  /** Build a missing-export error. */
  constructor(dll: string, symbol: string, why?: string) {
    super(
      "unsupported",
      `${dll}!${symbol} is not exported on this system${why ? ` (${why})` : ""}`,
    );
    this.name = "MissingExportError";
    this.symbol = `${dll}!${symbol}`;
  }
}

/**
 * The launcher's own thread could not be returned from a workload's compartment to the one it
 * runs in. Every socket it opened afterwards — its Kubernetes watch, its health endpoint, its
 * probes — would live in a pod's network, so the launcher must stop (kind `stranded`).
 */
export class CompartmentRestoreError extends PlatformError {
  /** The compartment the thread had to return to. */
  readonly expected: number;
  /** What `GetCurrentThreadCompartmentId` read after the attempt (null when the call failed). */
  readonly actual: number | null;

  /**
   * @param from the compartment the thread had been switched into
   * @param expected the compartment it had to return to
   * @param actual what the thread reads now, or null when restoring failed outright
   * @param cause the failed call, if any
   */
  constructor(from: number, expected: number, actual: number | null, cause?: WindowsError) {
    super(
      "stranded",
      `could not return the launcher's thread from compartment ${from} to compartment ` +
        `${expected}: ${
          cause ? cause.message : `SetCurrentThreadCompartmentId(0) left it in ${actual}`
        }; stopping, because its own network traffic would now run in a pod's compartment`,
      cause ? { cause } : undefined,
    );
    this.name = "CompartmentRestoreError";
    this.expected = expected;
    this.actual = actual;
  }
}
