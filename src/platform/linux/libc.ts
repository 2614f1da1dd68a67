/**
 * Thin `Deno.dlopen` binding of the few libc calls the Linux backend needs.
 *
 * Every call is a synchronous FFI call, so it runs on the calling JS thread. That matters
 * for `setns`: it changes the namespace of the calling *thread* only, and only work done
 * synchronously on that same thread (opening sockets, spawning children) sees the switch.
 *
 * The library is opened lazily on first use so that importing this module on a non-Linux
 * host (or without `--allow-ffi`) costs nothing until a Linux code path actually runs.
 *
 * @module
 */

import { PlatformError, SystemCallError } from "../errors.ts";

/** `CLONE_NEWNET` from `<sched.h>`: the namespace type argument of `setns`. */
export const CLONE_NEWNET = 0x40000000;
/** `O_RDONLY`. */
export const O_RDONLY = 0;
/** `O_CLOEXEC`: keep namespace fds out of spawned children. */
export const O_CLOEXEC = 0o2000000;
/** `NS_GET_NSTYPE` ioctl (`_IO(0xb7, 0x3)`): which namespace type an nsfs fd refers to. */
export const NS_GET_NSTYPE = 0xb703;
/** `AF_NETLINK`. */
export const AF_NETLINK = 16;
/** `SOCK_RAW`. */
export const SOCK_RAW = 3;
/** `SOCK_CLOEXEC`. */
export const SOCK_CLOEXEC = 0o2000000;
/** `NETLINK_ROUTE`. */
export const NETLINK_ROUTE = 0;
/** `PR_SET_CHILD_SUBREAPER`: orphaned descendants are re-parented to this process, not init. */
export const PR_SET_CHILD_SUBREAPER = 36;
/** `WNOHANG`: `waitpid` returns at once when the child has not exited. */
export const WNOHANG = 1;

/** Symbol table for `Deno.dlopen`. */
export const LIBC_SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  // fcntl is variadic like ioctl; only the integer-argument form is used.
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  // ioctl is variadic in C; on x86-64/aarch64 passing fixed integer arguments is
  // ABI-compatible with the variadic call for integer-class arguments.
  ioctl: { parameters: ["i32", "u64", "u64"], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  // prctl is variadic like ioctl; the same integer-argument reasoning applies.
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  // On a worker thread: hashing a large program must not stall the event loop.
  pread: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize", nonblocking: true },
} as const;

/** The loaded libc symbols. */
export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

let lib: Deno.DynamicLibrary<typeof LIBC_SYMBOLS> | undefined;

/** The raw libc symbols, opening `libc.so.6` on first use. */
export function libc(): Libc {
  if (lib === undefined) {
    if (Deno.build.os !== "linux") {
      throw new PlatformError(
        "unsupported",
        `the Linux backend needs libc.so.6, but this host is ${Deno.build.os}`,
      );
    }
    lib = Deno.dlopen("libc.so.6", LIBC_SYMBOLS);
  }
  return lib.symbols;
}

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  20: "ENOTDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  25: "ENOTTY",
  38: "ENOSYS",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  105: "ENOBUFS",
};

/** The symbolic name of an errno value (`EPERM`), or `errno N` when unknown. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/** Reads the calling thread's `errno`. Call it immediately after the failing call. */
export function lastErrno(): number {
  const ptr = libc().__errno_location();
  return ptr === null ? 0 : new Deno.UnsafePointerView(ptr).getInt32();
}

/** `strerror(errno)` as a JS string. */
export function strerror(errno: number): string {
  const ptr = libc().strerror(errno);
  return ptr === null ? `errno ${errno}` : Deno.UnsafePointerView.getCString(ptr);
}

/**
 * A failed libc call: `fn` is the call, `code` the errno and `codeName` its name (`EPERM`),
 * the same shape as a Windows backend's `WindowsError`.
 */
export class LibcError extends SystemCallError {
  /**
   * Create an error for `fn` failing with `errno`.
   *
   * @param fn the libc function that failed
   * @param errno the errno it left
   * @param detail what it was doing, e.g. the path involved
   */
  constructor(fn: string, errno: number, detail?: string) {
    const name = errnoName(errno);
    let message = `${fn}${detail ? ` (${detail})` : ""} failed: ${name}: ${strerror(errno)}`;
    if (errno === 1 && (fn === "setns" || fn === "open")) {
      // setns(CLONE_NEWNET) needs CAP_SYS_ADMIN both in the caller's and the target's user
      // namespace; this is by far the most common way to end up here.
      message += " (switching network namespaces needs root / CAP_SYS_ADMIN)";
    } else if (errno === 1 || errno === 13) {
      message += " (insufficient privileges; the Linux backend needs root / CAP_SYS_ADMIN)";
    }
    super("errno", fn, errno, name, message);
    this.name = "LibcError";
  }
}

/** Throws a {@linkcode LibcError} when `result` is negative, else returns it. */
export function check(call: string, result: number | bigint, detail?: string): number {
  const n = Number(result);
  if (n < 0) throw new LibcError(call, lastErrno(), detail);
  return n;
}

/** A NUL-terminated C string for `buffer` parameters. */
export function cString(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`${s}\0`);
}

/** `open(path, O_RDONLY | O_CLOEXEC)`, throwing on failure. */
export function openReadOnly(path: string): number {
  return check("open", libc().open(cString(path), O_RDONLY | O_CLOEXEC), path);
}

/** `close(fd)`; errors are ignored because there is nothing useful to do about them. */
export function closeFd(fd: number): void {
  libc().close(fd);
}

/** `setns(fd, CLONE_NEWNET)` on the calling thread, throwing on failure. */
export function setnsNet(fd: number, what: string): void {
  check("setns", libc().setns(fd, CLONE_NEWNET), what);
}

/** The namespace type (`CLONE_NEW*`) of an nsfs fd, via `ioctl(NS_GET_NSTYPE)`. */
export function nsType(fd: number, what: string): number {
  return check("ioctl(NS_GET_NSTYPE)", libc().ioctl(fd, BigInt(NS_GET_NSTYPE), 0n), what);
}

/** Makes this process a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER, 1)`), throwing on failure. */
export function becomeChildSubreaper(): void {
  check("prctl(PR_SET_CHILD_SUBREAPER)", libc().prctl(PR_SET_CHILD_SUBREAPER, 1n, 0n, 0n, 0n));
}

/**
 * Reaps `pid` if it has exited (`waitpid(pid, NULL, WNOHANG)`): true when it was reaped.
 * Only for children nobody else waits for — reaping a `Deno.Command` child would steal its
 * status from Deno.
 */
export function reapIfExited(pid: number): boolean {
  return libc().waitpid(pid, null, WNOHANG) === pid;
}
