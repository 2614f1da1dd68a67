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
  /** Raw bytes to stdout (relayed workload output). */
  outBytes(bytes: Uint8Array): void;
}

const encoder = new TextEncoder();

/** The process's own stdout and stderr, written synchronously. */
export function stdio(): Io {
  return {
    out: (text) => writeAll(Deno.stdout, encoder.encode(text)),
    err: (text) => writeAll(Deno.stderr, encoder.encode(text)),
    errBytes: (bytes) => writeAll(Deno.stderr, bytes),
    outBytes: (bytes) => writeAll(Deno.stdout, bytes),
  };
}
