/**
 * Memory layouts (x86_64 Windows, LLP64) of every Win32 structure the Windows backend reads
 * or writes, and the Win32 constants it passes.
 *
 * These numbers are not guesses that happen to work: `tests/windows/abi_test.ts` turns every
 * entry below into a `static_assert` against the real MinGW-w64 headers, so a wrong offset
 * fails the build of that test rather than corrupting memory on a node. Field keys are the C
 * member designators (`"StartupInfo.cb"` for a nested member) for exactly that reason.
 *
 * @module
 */

/** Size and member offsets of one C structure, named as in the Windows SDK headers. */
export interface StructLayout {
  /** The C type name in the SDK headers. */
  readonly cType: string;
  /** `sizeof(cType)`. */
  readonly size: number;
  /** `offsetof(cType, member)` for each member the code touches. */
  readonly fields: Readonly<Record<string, number>>;
}

/** `STARTUPINFOW`: what the child's window/console and standard handles are. */
export const STARTUPINFOW = {
  cType: "STARTUPINFOW",
  size: 104,
  fields: {
    cb: 0,
    lpReserved: 8,
    lpDesktop: 16,
    lpTitle: 24,
    dwFlags: 60,
    wShowWindow: 64,
    hStdInput: 80,
    hStdOutput: 88,
    hStdError: 96,
  },
} as const satisfies StructLayout;

/** `STARTUPINFOEXW`: `STARTUPINFOW` plus the proc-thread attribute list pointer. */
export const STARTUPINFOEXW = {
  cType: "STARTUPINFOEXW",
  size: 112,
  fields: {
    "StartupInfo.cb": 0,
    "StartupInfo.dwFlags": 60,
    "StartupInfo.hStdInput": 80,
    "StartupInfo.hStdOutput": 88,
    "StartupInfo.hStdError": 96,
    lpAttributeList: 104,
  },
} as const satisfies StructLayout;

/** `PROCESS_INFORMATION`: handles and ids returned by `CreateProcessW`. */
export const PROCESS_INFORMATION = {
  cType: "PROCESS_INFORMATION",
  size: 24,
  fields: { hProcess: 0, hThread: 8, dwProcessId: 16, dwThreadId: 20 },
} as const satisfies StructLayout;

/** `SECURITY_ATTRIBUTES`: only used to make pipe handles inheritable. */
export const SECURITY_ATTRIBUTES = {
  cType: "SECURITY_ATTRIBUTES",
  size: 24,
  fields: { nLength: 0, lpSecurityDescriptor: 8, bInheritHandle: 16 },
} as const satisfies StructLayout;

/** `JOBOBJECT_BASIC_LIMIT_INFORMATION`. */
export const JOBOBJECT_BASIC_LIMIT_INFORMATION = {
  cType: "JOBOBJECT_BASIC_LIMIT_INFORMATION",
  size: 64,
  fields: {
    PerProcessUserTimeLimit: 0,
    PerJobUserTimeLimit: 8,
    LimitFlags: 16,
    MinimumWorkingSetSize: 24,
    MaximumWorkingSetSize: 32,
    ActiveProcessLimit: 40,
    Affinity: 48,
    PriorityClass: 56,
    SchedulingClass: 60,
  },
} as const satisfies StructLayout;

/** `IO_COUNTERS` (embedded in the extended limit information). */
export const IO_COUNTERS = {
  cType: "IO_COUNTERS",
  size: 48,
  fields: {
    ReadOperationCount: 0,
    WriteOperationCount: 8,
    OtherOperationCount: 16,
    ReadTransferCount: 24,
    WriteTransferCount: 32,
    OtherTransferCount: 40,
  },
} as const satisfies StructLayout;

/** `JOBOBJECT_EXTENDED_LIMIT_INFORMATION`: carries `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`. */
export const JOBOBJECT_EXTENDED_LIMIT_INFORMATION = {
  cType: "JOBOBJECT_EXTENDED_LIMIT_INFORMATION",
  size: 144,
  fields: {
    BasicLimitInformation: 0,
    "BasicLimitInformation.LimitFlags": 16,
    IoInfo: 64,
    ProcessMemoryLimit: 112,
    JobMemoryLimit: 120,
    PeakProcessMemoryUsed: 128,
    PeakJobMemoryUsed: 136,
  },
} as const satisfies StructLayout;

/** `JOBOBJECT_BASIC_PROCESS_ID_LIST` header; `ProcessIdList` entries are `ULONG_PTR`. */
export const JOBOBJECT_BASIC_PROCESS_ID_LIST = {
  cType: "JOBOBJECT_BASIC_PROCESS_ID_LIST",
  size: 16,
  fields: { NumberOfAssignedProcesses: 0, NumberOfProcessIdsInList: 4, ProcessIdList: 8 },
} as const satisfies StructLayout;

/** `SOCKADDR_IN`. */
export const SOCKADDR_IN = {
  cType: "SOCKADDR_IN",
  size: 16,
  fields: { sin_family: 0, sin_port: 2, sin_addr: 4, sin_zero: 8 },
} as const satisfies StructLayout;

/** `SOCKADDR_IN6`. */
export const SOCKADDR_IN6 = {
  cType: "SOCKADDR_IN6",
  size: 28,
  fields: { sin6_family: 0, sin6_port: 2, sin6_flowinfo: 4, sin6_addr: 8, sin6_scope_id: 24 },
} as const satisfies StructLayout;

/** `SOCKADDR_INET`: the union of both, tagged by `si_family`. */
export const SOCKADDR_INET = {
  cType: "SOCKADDR_INET",
  size: 28,
  fields: {
    si_family: 0,
    "Ipv4.sin_addr": 4,
    "Ipv6.sin6_addr": 8,
    "Ipv6.sin6_scope_id": 24,
  },
} as const satisfies StructLayout;

/** `MIB_UNICASTIPADDRESS_ROW`: one configured unicast address with its DAD state. */
export const MIB_UNICASTIPADDRESS_ROW = {
  cType: "MIB_UNICASTIPADDRESS_ROW",
  size: 80,
  fields: {
    Address: 0,
    "Address.si_family": 0,
    "Address.Ipv4.sin_addr": 4,
    "Address.Ipv6.sin6_addr": 8,
    InterfaceLuid: 32,
    InterfaceIndex: 40,
    PrefixOrigin: 44,
    SuffixOrigin: 48,
    ValidLifetime: 52,
    PreferredLifetime: 56,
    OnLinkPrefixLength: 60,
    SkipAsSource: 61,
    DadState: 64,
    ScopeId: 68,
    CreationTimeStamp: 72,
  },
} as const satisfies StructLayout;

/** `MIB_UNICASTIPADDRESS_TABLE`: `NumEntries` then `Table[]` (8-aligned rows). */
export const MIB_UNICASTIPADDRESS_TABLE = {
  cType: "MIB_UNICASTIPADDRESS_TABLE",
  size: 88,
  fields: { NumEntries: 0, Table: 8 },
} as const satisfies StructLayout;

/** `MIB_TCPROW_OWNER_PID`: an IPv4 TCP endpoint with its owning process id. */
export const MIB_TCPROW_OWNER_PID = {
  cType: "MIB_TCPROW_OWNER_PID",
  size: 24,
  fields: {
    dwState: 0,
    dwLocalAddr: 4,
    dwLocalPort: 8,
    dwRemoteAddr: 12,
    dwRemotePort: 16,
    dwOwningPid: 20,
  },
} as const satisfies StructLayout;

/** `MIB_TCPTABLE_OWNER_PID`: `dwNumEntries` then rows (4-aligned). */
export const MIB_TCPTABLE_OWNER_PID = {
  cType: "MIB_TCPTABLE_OWNER_PID",
  size: 28,
  fields: { dwNumEntries: 0, table: 4 },
} as const satisfies StructLayout;

/** `MIB_TCP6ROW_OWNER_PID`: an IPv6 TCP endpoint with its owning process id. */
export const MIB_TCP6ROW_OWNER_PID = {
  cType: "MIB_TCP6ROW_OWNER_PID",
  size: 56,
  fields: {
    ucLocalAddr: 0,
    dwLocalScopeId: 16,
    dwLocalPort: 20,
    ucRemoteAddr: 24,
    dwRemoteScopeId: 40,
    dwRemotePort: 44,
    dwState: 48,
    dwOwningPid: 52,
  },
} as const satisfies StructLayout;

/** `MIB_TCP6TABLE_OWNER_PID`. */
export const MIB_TCP6TABLE_OWNER_PID = {
  cType: "MIB_TCP6TABLE_OWNER_PID",
  size: 60,
  fields: { dwNumEntries: 0, table: 4 },
} as const satisfies StructLayout;

/** `GUID` (passed by reference to the HCN open calls). */
export const GUID = {
  cType: "GUID",
  size: 16,
  fields: { Data1: 0, Data2: 4, Data3: 6, Data4: 8 },
} as const satisfies StructLayout;

/** Every layout above, for the ABI test. */
export const ALL_LAYOUTS: readonly StructLayout[] = [
  STARTUPINFOW,
  STARTUPINFOEXW,
  PROCESS_INFORMATION,
  SECURITY_ATTRIBUTES,
  JOBOBJECT_BASIC_LIMIT_INFORMATION,
  IO_COUNTERS,
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
  JOBOBJECT_BASIC_PROCESS_ID_LIST,
  SOCKADDR_IN,
  SOCKADDR_IN6,
  SOCKADDR_INET,
  MIB_UNICASTIPADDRESS_ROW,
  MIB_UNICASTIPADDRESS_TABLE,
  MIB_TCPROW_OWNER_PID,
  MIB_TCPTABLE_OWNER_PID,
  MIB_TCP6ROW_OWNER_PID,
  MIB_TCP6TABLE_OWNER_PID,
  GUID,
];

/**
 * Win32 constants, keyed by their SDK macro/enumerator names so the ABI test can compare each
 * against the header value.
 */
export const W = {
  // CreateProcessW creation flags.
  CREATE_SUSPENDED: 0x4,
  CREATE_NEW_PROCESS_GROUP: 0x200,
  CREATE_UNICODE_ENVIRONMENT: 0x400,
  EXTENDED_STARTUPINFO_PRESENT: 0x80000,
  STARTF_USESTDHANDLES: 0x100,
  // Proc-thread attributes.
  PROC_THREAD_ATTRIBUTE_HANDLE_LIST: 0x20002,
  PROC_THREAD_ATTRIBUTE_JOB_LIST: 0x2000d,
  // Jobs.
  JobObjectBasicProcessIdList: 3,
  JobObjectExtendedLimitInformation: 9,
  JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: 0x2000,
  JOB_OBJECT_LIMIT_BREAKAWAY_OK: 0x800,
  // Handles and waits.
  HANDLE_FLAG_INHERIT: 0x1,
  INFINITE: 0xffffffff,
  WAIT_OBJECT_0: 0,
  WAIT_TIMEOUT: 0x102,
  WAIT_FAILED: 0xffffffff,
  WAIT_ABANDONED_0: 0x80,
  MAXIMUM_WAIT_OBJECTS: 64,
  STILL_ACTIVE: 259,
  SYNCHRONIZE: 0x100000,
  PROCESS_QUERY_LIMITED_INFORMATION: 0x1000,
  // Files.
  GENERIC_READ: 0x80000000,
  FILE_SHARE_READ: 0x1,
  OPEN_EXISTING: 3,
  FILE_ATTRIBUTE_NORMAL: 0x80,
  // Consoles.
  CTRL_C_EVENT: 0,
  CTRL_BREAK_EVENT: 1,
  CTRL_CLOSE_EVENT: 2,
  CTRL_LOGOFF_EVENT: 5,
  CTRL_SHUTDOWN_EVENT: 6,
  // Networking.
  AF_UNSPEC: 0,
  AF_INET: 2,
  AF_INET6: 23,
  TCP_TABLE_OWNER_PID_LISTENER: 3,
  MIB_TCP_STATE_LISTEN: 2,
  IpDadStateInvalid: 0,
  IpDadStateTentative: 1,
  IpDadStateDuplicate: 2,
  IpDadStateDeprecated: 3,
  IpDadStatePreferred: 4,
} as const;

/**
 * The host's default network compartment (`NET_IF_COMPARTMENT_ID_PRIMARY` in the Windows SDK;
 * MinGW-w64 lacks the macro, so it lives outside {@linkcode W} and the header check).
 */
export const DEFAULT_COMPARTMENT_ID = 1;
