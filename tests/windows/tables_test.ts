/**
 * Linux unit tests of the non-FFI parts of the Windows backend: decoding the TCP owner tables,
 * naming error codes, building environment blocks.
 */
import assert from "node:assert/strict";
import { parseTcpTable } from "../../src/platform/windows/compartment.ts";
import {
  checkHresult,
  codeName,
  MissingExportError,
  netioStatusError,
  WindowsError,
} from "../../src/platform/windows/errors.ts";
import { CommandLineError } from "../../src/platform/windows/cmdline.ts";
import { PlatformError, SystemCallError } from "../../src/platform/mod.ts";
import { createWindowsBackend } from "../../src/platform/windows/mod.ts";
import { environmentBlock, mergeEnv } from "../../src/platform/windows/environment.ts";
import {
  MIB_TCP6ROW_OWNER_PID,
  MIB_TCP6TABLE_OWNER_PID,
  MIB_TCPROW_OWNER_PID,
  MIB_TCPTABLE_OWNER_PID,
  W,
} from "../../src/platform/windows/structs.ts";

function netPort(p: number): number {
  return ((p & 0xff) << 8) | (p >> 8); // dwLocalPort: network byte order in the low 16 bits
}

Deno.test("tables: MIB_TCPTABLE_OWNER_PID rows decode to listeners (LISTEN rows only)", () => {
  const T = MIB_TCPTABLE_OWNER_PID, R = MIB_TCPROW_OWNER_PID;
  const buf = new Uint8Array(T.fields.table + 3 * R.size);
  const v = new DataView(buf.buffer);
  v.setUint32(0, 3, true);
  const rows = [[W.MIB_TCP_STATE_LISTEN, 8080, 4242], [5, /* ESTAB */ 8080, 1], [
    W.MIB_TCP_STATE_LISTEN,
    443,
    7,
  ]];
  rows.forEach(([state, port, pid], i) => {
    const b = T.fields.table + i * R.size;
    v.setUint32(b + R.fields.dwState, state, true);
    v.setUint32(b + R.fields.dwLocalPort, netPort(port), true);
    v.setUint32(b + R.fields.dwOwningPid, pid, true);
  });
  assert.deepEqual(parseTcpTable(buf, W.AF_INET), [
    { family: W.AF_INET, port: 8080, pid: 4242 },
    { family: W.AF_INET, port: 443, pid: 7 },
  ]);
});

Deno.test("tables: MIB_TCP6TABLE_OWNER_PID rows decode; a short buffer is not overread", () => {
  const T = MIB_TCP6TABLE_OWNER_PID, R = MIB_TCP6ROW_OWNER_PID;
  const buf = new Uint8Array(T.fields.table + R.size);
  const v = new DataView(buf.buffer);
  v.setUint32(0, 5, true); // claims 5 rows, holds 1
  v.setUint32(T.fields.table + R.fields.dwState, W.MIB_TCP_STATE_LISTEN, true);
  v.setUint32(T.fields.table + R.fields.dwLocalPort, netPort(9090), true);
  v.setUint32(T.fields.table + R.fields.dwOwningPid, 99, true);
  assert.deepEqual(parseTcpTable(buf, W.AF_INET6), [{ family: W.AF_INET6, port: 9090, pid: 99 }]);
});

Deno.test("errors: codes are named in all three conventions", () => {
  assert.equal(codeName("win32", 87), "ERROR_INVALID_PARAMETER");
  assert.equal(codeName("win32", 99999), "WIN32_ERROR_99999");
  assert.equal(codeName("hresult", 0x80070057), "E_INVALIDARG");
  assert.equal(codeName("hresult", -2147024891), "E_ACCESSDENIED"); // signed i32 from FFI
  assert.equal(codeName("hresult", 0x80070002), "HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)");
  assert.equal(codeName("hresult", 0x803b0002), "HCN_E_ENDPOINT_NOT_FOUND");
  assert.equal(codeName("ntstatus", 0xc0000225), "STATUS_NOT_FOUND");
  const e = new WindowsError("SetJobCompartmentId", "win32", 87);
  assert.equal(e.message, "SetJobCompartmentId failed: ERROR_INVALID_PARAMETER (87)");
  assert.equal(netioStatusError("x", 0), null);
  assert.equal(netioStatusError("x", 87)?.codeName, "ERROR_INVALID_PARAMETER");
  assert.equal(netioStatusError("x", 0xc000000d)?.codeName, "STATUS_INVALID_PARAMETER");
  assert.throws(
    () => checkHresult("HcnOpenNamespace", 0x803b0002 | 0, '{"Error":"not found"}'),
    /HcnOpenNamespace failed: HCN_E_ENDPOINT_NOT_FOUND \(0x803B0002\): \{"Error":"not found"\}/,
  );
  checkHresult("ok", 0);
  checkHresult("ok", 1); // S_FALSE is success
});

Deno.test("env: merge replaces names case-insensitively; the block is sorted and terminated", () => {
  const env = mergeEnv({ Path: "C:\\a", b: "1", TEMP: "x" }, { PATH: "C:\\b", A: "2" });
  assert.deepEqual(env, { b: "1", TEMP: "x", PATH: "C:\\b", A: "2" });
  const block = environmentBlock(env);
  const text = String.fromCharCode(...block);
  assert.equal(text, "A=2\0b=1\0PATH=C:\\b\0TEMP=x\0\0");
  assert.equal(String.fromCharCode(...environmentBlock({})), "\0\0");
  assert.throws(
    () => environmentBlock({ X: "a\0b" }),
    (e: PlatformError) => e.kind === "invalid-command" && /NUL/.test(e.message),
  );
});

Deno.test("errors: one shape and one discriminant across the Windows error types", () => {
  const win32 = new WindowsError("SetJobCompartmentId", "win32", 87);
  assert.ok(win32 instanceof SystemCallError && win32 instanceof PlatformError);
  assert.deepEqual(
    [win32.kind, win32.fn, win32.code, win32.codeName, win32.name],
    ["win32", "SetJobCompartmentId", 87, "ERROR_INVALID_PARAMETER", "WindowsError"],
  );
  const hr = new WindowsError("HcnOpenNamespace", "hresult", 0x80070005 | 0);
  assert.deepEqual([hr.kind, hr.code, hr.codeName], ["hresult", 0x80070005, "E_ACCESSDENIED"]);
  const missing = new MissingExportError("iphlpapi.dll", "SetJobCompartmentId");
  assert.ok(missing instanceof PlatformError);
  assert.equal(missing.kind, "unsupported");
  assert.equal(missing.message, "iphlpapi.dll!SetJobCompartmentId is not exported on this system");
  const cmdline = new CommandLineError("empty argv");
  assert.ok(cmdline instanceof PlatformError);
  assert.equal(cmdline.kind, "invalid-command");
});

Deno.test("backend: a wrong anchor or domain kind rejects as 'unsupported' (no DLL needed)", async () => {
  const backend = createWindowsBackend();
  const unsupported = (pattern: RegExp) => (e: PlatformError) => {
    assert.ok(e instanceof PlatformError);
    assert.equal(e.kind, "unsupported");
    assert.match(e.message, pattern);
    return true;
  };
  await assert.rejects(backend.openStatic({ netns: "/x" }), unsupported(/Linux-only/));
  const netns = { kind: "netns", path: "/x", inode: 1 } as const;
  const launched = backend.launch(netns, { name: "x", command: ["x.exe"], env: {} });
  await assert.rejects(launched, unsupported(/cannot use a netns domain/));
});
