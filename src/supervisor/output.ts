/**
 * The relay's output pipeline: whole lines from the children, batched into few large
 * writes, written asynchronously and in order, with bounded queueing. The same batching
 * feeds the launcher's stdout/stderr and per-workload log files.
 *
 * @module
 */
import type { OutputLine } from "./types.ts";

/** Writes bytes somewhere; may be synchronous or asynchronous. */
export type ByteWriter = (bytes: Uint8Array) => void | Promise<void>;

/** Default bytes collected before a batch is written. */
export const BATCH_BYTES = 64 * 1024;
/** Default bytes allowed to wait for the writer before `add` asks the relay to wait. */
export const MAX_QUEUED_BYTES = 256 * 1024;

/** Sizes of a {@linkcode LineBatch}. */
export interface LineBatchOptions {
  /** Bytes collected before a batch is written (default {@linkcode BATCH_BYTES}). */
  readonly batchBytes?: number;
  /** Queued bytes beyond which `add` returns a promise (default {@linkcode MAX_QUEUED_BYTES}). */
  readonly maxQueuedBytes?: number;
}

/**
 * Collects whole lines and writes them in batches: the relay hands over every line of a
 * pipe chunk synchronously, and one write per chunk instead of per line is what keeps the
 * launcher close to `cat` speed. A batch is written when it is full or, at the latest, in
 * the microtask after the chunk. Writes are chained in order; once more than
 * `maxQueuedBytes` wait to be written, `add` returns a promise the relay awaits before
 * reading on, so a slow reader of the launcher's output slows the child down (pipe
 * backpressure) instead of growing memory or blocking the event loop.
 */
export class LineBatch {
  readonly #write: ByteWriter;
  readonly #maxQueued: number;
  #buffer: Uint8Array;
  #length = 0;
  #scheduled = false;
  #queued = 0;
  #tail: Promise<void> = Promise.resolve();

  /** Creates a batch that hands its bytes to `write`. */
  constructor(write: ByteWriter, options: LineBatchOptions = {}) {
    this.#write = write;
    this.#buffer = new Uint8Array(options.batchBytes ?? BATCH_BYTES);
    this.#maxQueued = options.maxQueuedBytes ?? MAX_QUEUED_BYTES;
  }

  /** Bytes handed to the writer and not yet written. */
  get queuedBytes(): number {
    return this.#queued;
  }

  /**
   * Appends `parts` (together: one line with its newline). Returns a promise when the
   * writer is behind by more than the queue bound; the caller should await it.
   */
  add(...parts: Uint8Array[]): Promise<void> | undefined {
    let size = 0;
    for (const part of parts) size += part.length;
    if (this.#length + size > this.#buffer.length) {
      this.flush();
      if (size > this.#buffer.length) this.#buffer = new Uint8Array(size);
    }
    for (const part of parts) {
      this.#buffer.set(part, this.#length);
      this.#length += part.length;
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.flush());
    }
    return this.#queued > this.#maxQueued ? this.#tail : undefined;
  }

  /** Hands what has been collected to the writer now. */
  flush(): void {
    this.#scheduled = false;
    if (this.#length === 0) return;
    const bytes = this.#buffer.slice(0, this.#length);
    this.#length = 0;
    this.#queued += bytes.length;
    this.#tail = this.#tail.then(async () => {
      try {
        await this.#write(bytes);
      } catch {
        // Nobody reads our output any more (closed pipe, full disk): drop it rather than
        // fail the workload; the launcher's own logs say what happens.
      } finally {
        this.#queued -= bytes.length;
      }
    });
  }

  /** Resolves when everything added so far is written. */
  drain(): Promise<void> {
    this.flush();
    return this.#tail;
  }
}

/** Format of relayed lines: `[name] line`, one JSON record per line, or the bare line. */
export type OutputFormat = "text" | "json" | "raw";

/** Relayed child output written to two byte streams. */
export interface OutputWriter {
  /** Takes one line; a returned promise asks the relay to wait (backpressure). */
  readonly write: (line: OutputLine) => Promise<void> | undefined;
  /** Waits until everything relayed so far is written. */
  readonly drain: () => Promise<void>;
}

const NEWLINE = new Uint8Array([0x0a]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Writes relayed lines to `stdout`/`stderr` in `format`. In JSON format every record goes
 * to `stdout`, so one stream carries the whole, parseable log.
 */
export function createOutputWriter(
  stdout: ByteWriter,
  stderr: ByteWriter,
  format: OutputFormat,
  options: LineBatchOptions = {},
): OutputWriter {
  const out = new LineBatch(stdout, options);
  const err = new LineBatch(stderr, options);
  const prefixes = new Map<string, Uint8Array>();
  const write = ({ workload, stream, line, continued }: OutputLine) => {
    if (format === "json") {
      const record = {
        time: new Date().toISOString(),
        workload,
        stream,
        line: decoder.decode(line),
        ...(continued ? { continued } : {}),
      };
      return out.add(encoder.encode(`${JSON.stringify(record)}\n`));
    }
    const target = stream === "stdout" ? out : err;
    if (format === "raw") return target.add(line, NEWLINE);
    let prefix = prefixes.get(workload);
    if (!prefix) prefixes.set(workload, prefix = encoder.encode(`[${workload}] `));
    return target.add(prefix, line, NEWLINE);
  };
  return { write, drain: () => Promise.all([out.drain(), err.drain()]).then(() => {}) };
}

/** Appends relayed lines (with their newline) to a batch, e.g. one feeding a log file. */
export function addLine(batch: LineBatch, line: Uint8Array): Promise<void> | undefined {
  return batch.add(line, NEWLINE);
}
