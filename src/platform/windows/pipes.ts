/**
 * Anonymous pipes for a child's standard handles, and their read ends as byte streams.
 *
 * Each pipe is created inheritable; the launcher's own end then loses the inherit flag, so a
 * child inherits exactly its three ends (together with `PROC_THREAD_ATTRIBUTE_HANDLE_LIST`) and
 * no later child can keep another workload's pipe open.
 *
 * Reads are `ReadFile` calls on worker threads (`nonblocking` FFI), so a silent child never
 * blocks the event loop.
 *
 * @module
 */
import { PlatformError } from "../errors.ts";
import { checkBool, closeHandle, kernel32 } from "./kernel32.ts";
import { alloc, dv, readPtr } from "./memory.ts";
import { SECURITY_ATTRIBUTES, W } from "./structs.ts";

/** Both ends of one anonymous pipe. */
export interface Pipe {
  /** The end data is read from. */
  readonly read: Deno.PointerObject;
  /** The end data is written to. */
  readonly write: Deno.PointerObject;
}

/** A child's standard input, output and error. */
export interface StdioPipes {
  /** The child reads `stdin.read`; the launcher holds `stdin.write`. */
  readonly stdin: Pipe;
  /** The child writes `stdout.write`; the launcher reads `stdout.read`. */
  readonly stdout: Pipe;
  /** The child writes `stderr.write`; the launcher reads `stderr.read`. */
  readonly stderr: Pipe;
}

function createPipe(name: string): Pipe {
  const sa = alloc(SECURITY_ATTRIBUTES.size);
  dv(sa).setUint32(SECURITY_ATTRIBUTES.fields.nLength, SECURITY_ATTRIBUTES.size, true);
  dv(sa).setInt32(SECURITY_ATTRIBUTES.fields.bInheritHandle, 1, true);
  const r = alloc(8);
  const w = alloc(8);
  checkBool(`CreatePipe(${name})`, kernel32().CreatePipe(r, w, sa, 0));
  const read = readPtr(r);
  const write = readPtr(w);
  if (read === null || write === null) {
    throw new PlatformError("protocol", `CreatePipe(${name}) returned NULL`);
  }
  return { read, write };
}

/** Clear the inherit flag on our end of a pipe, so no other child can hold it open. */
function notInheritable(h: Deno.PointerObject, what: string): void {
  checkBool(
    `SetHandleInformation(${what})`,
    kernel32().SetHandleInformation(h, W.HANDLE_FLAG_INHERIT, 0),
  );
}

/**
 * Create the three pipes of a child's standard handles: the child's ends inheritable, the
 * launcher's not. `own` receives every handle the moment it exists, so that the caller can
 * release them all if a later step fails.
 */
export function createStdioPipes(own: (handle: Deno.PointerObject) => void): StdioPipes {
  const pipe = (name: string) => {
    const p = createPipe(name);
    own(p.read);
    own(p.write);
    return p;
  };
  const stdin = pipe("stdin");
  const stdout = pipe("stdout");
  const stderr = pipe("stderr");
  notInheritable(stdin.write, "stdin");
  notInheritable(stdout.read, "stdout");
  notInheritable(stderr.read, "stderr");
  return { stdin, stdout, stderr };
}

/** The ends a child inherits: its stdin's read end, its stdout's and stderr's write ends. */
export function childEnds(
  pipes: StdioPipes,
): [Deno.PointerObject, Deno.PointerObject, Deno.PointerObject] {
  return [pipes.stdin.read, pipes.stdout.write, pipes.stderr.write];
}

/**
 * A pipe's read end as a byte stream; reads happen on worker threads. The stream owns `h`
 * and closes it after the last read (at end of data, or once a cancelled stream is drained).
 */
export function pipeStream(h: Deno.PointerObject): ReadableStream<Uint8Array> {
  const k = kernel32();
  const buf = alloc(64 * 1024);
  const got = alloc(4);
  let closed = false;
  let cancelled = false;
  let inflight: Promise<Uint8Array | null> | null = null;
  // Only after the last read returned: closing a handle under a pending ReadFile is a race.
  const finish = () => {
    if (!closed) {
      closed = true;
      closeHandle(h);
    }
  };
  // ReadFile returns FALSE with ERROR_BROKEN_PIPE once every write end is closed. The error
  // code itself is unavailable (it was set on the worker thread), so FALSE means "end".
  const readOnce = (): Promise<Uint8Array | null> => {
    inflight = k.ReadFile(h, buf, buf.length, got, null).then((ok) =>
      ok === 0 ? null : buf.slice(0, dv(got).getUint32(0, true))
    );
    return inflight;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const chunk = await readOnce();
        if (cancelled) return; // cancel() owns the handle now
        if (chunk === null) {
          finish();
          controller.close();
          return;
        }
        // Zero-byte reads happen when the child writes zero bytes; they are not EOF.
        if (chunk.length > 0) {
          controller.enqueue(chunk);
          return;
        }
      }
    },
    async cancel() {
      cancelled = true;
      // Keep draining: a child blocked on a full pipe would otherwise hang forever.
      if (inflight !== null && (await inflight) === null) return finish();
      while ((await readOnce()) !== null) { /* discard */ }
      finish();
    },
  });
}
