/**
 * Where the CLI writes: machine output to stdout, messages to stderr. Tests substitute
 * buffers.
 *
 * @module
 */
import { writeAll } from "../log/mod.ts";

/** Output channels of the CLI. */
export interface Io {
  /** Machine-readable output (stdout). */
  out(text: string): void;
  /** Human messages (stderr). */
  err(text: string): void;
  /** Raw bytes to stderr (log records). */
  errBytes(bytes: Uint8Array): void;
  /** Raw bytes to stdout. */
  outBytes(bytes: Uint8Array): void;
  /**
   * Relayed workload output, written without blocking the event loop (a slow reader of the
   * launcher's output must not stall its health endpoint, watches and probes). Optional:
   * without it the synchronous writers are used.
   */
  relay?(stream: "stdout" | "stderr", bytes: Uint8Array): Promise<void>;
}

/** Writes every byte asynchronously, looping over short writes. */
async function writeAllAsync(
  target: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await target.write(bytes.subarray(offset));
}

const encoder = new TextEncoder();

/** The process's own stdout and stderr, written synchronously. */
export function stdio(): Io {
  return {
    out: (text) => writeAll(Deno.stdout, encoder.encode(text)),
    err: (text) => writeAll(Deno.stderr, encoder.encode(text)),
    errBytes: (bytes) => writeAll(Deno.stderr, bytes),
    outBytes: (bytes) => writeAll(Deno.stdout, bytes),
    relay: (stream, bytes) => writeAllAsync(stream === "stdout" ? Deno.stdout : Deno.stderr, bytes),
  };
}
