/**
 * The relay's output pipeline: whole lines from the children, batched into few large
 * writes, written asynchronously and in order, with bounded queueing. The same batching
 * feeds the launcher's stdout/stderr and per-workload log files.
 *
 * @module
 */
import { prefixLines } from "./line_prefix.ts";
import { forEachLine } from "./relay.ts";
import type { OutputLine } from "./types.ts";

/**
 * Writes bytes somewhere; may be synchronous or asynchronous. The bytes are lent: their
 * buffer is reused once the call returned (or its promise settled), so a writer that keeps
 * them must copy them.
 */
export type ByteWriter = (bytes: Uint8Array) => void | Promise<void>;

/** Default bytes collected before a batch is written. */
export const BATCH_BYTES = 64 * 1024;
/** Default bytes allowed to wait for the writer before `add` asks the relay to wait. */
export const MAX_QUEUED_BYTES = 256 * 1024;

/**
 * Default batch of {@linkcode createOutputWriter}: the launcher's own stdout and stderr carry
 * every workload's output, and larger writes are what let them keep up with a chatty one
 * (one write per 256 KiB instead of per 64 KiB: about 1.25× the throughput into a reading
 * process, see docs/benchmarks.md).
 */
export const OUTPUT_BATCH_BYTES = 256 * 1024;

/** Written batches' buffers kept for reuse. */
const SPARE_BATCHES = 4;

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
  readonly #batchBytes: number;
  #buffer: Uint8Array;
  /** Buffers of written batches, reused instead of allocating (and zeroing) new ones. */
  readonly #spare: Uint8Array[] = [];
  #length = 0;
  #scheduled = false;
  #queued = 0;
  #tail: Promise<void> = Promise.resolve();

  /** Creates a batch that hands its bytes to `write`. */
  constructor(write: ByteWriter, options: LineBatchOptions = {}) {
    this.#write = write;
    this.#batchBytes = options.batchBytes ?? BATCH_BYTES;
    this.#buffer = new Uint8Array(this.#batchBytes);
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
    const buffer = this.#buffer;
    const bytes = buffer.subarray(0, this.#length);
    this.#buffer = this.#spare.pop() ?? new Uint8Array(this.#batchBytes);
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
        // Enough spares for the batches the queue bound lets wait; an over-long line's own
        // buffer is not kept.
        if (buffer.length === this.#batchBytes && this.#spare.length < SPARE_BATCHES) {
          this.#spare.push(buffer);
        }
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

/**
 * Relayed child output taken a line or a block of lines at a time, for a
 * {@linkcode Supervisor}'s `output` where a call per line would cost too much (a chatty
 * workload writes hundreds of thousands of lines per second); the CLI's writer is one. See
 * examples/scripts/stream_logs.ts for the per-line form, an {@linkcode OutputSink}.
 */
export interface OutputWriter {
  /** Takes one line (or a piece of a long one); a returned promise asks the relay to wait. */
  readonly write: (line: OutputLine) => Promise<void> | undefined;
  /**
   * Takes whole lines of one workload's stream, each ending with its newline; a returned
   * promise asks the relay to wait (backpressure). The bytes are lent: the relay reads the
   * next chunk into the same buffer once the call returned (or its promise settled).
   */
  readonly writeLines: (
    workload: string,
    stream: "stdout" | "stderr",
    lines: Uint8Array,
  ) => Promise<void> | undefined;
  /** Waits until everything relayed so far is written. */
  readonly drain: () => Promise<void>;
}

const NEWLINE = new Uint8Array([0x0a]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Writes relayed lines to `stdout`/`stderr` in `format`, in batches of
 * {@linkcode OUTPUT_BATCH_BYTES} unless `options` say otherwise. In JSON format every record
 * goes to `stdout`, so one stream carries the whole, parseable log.
 */
export function createOutputWriter(
  stdout: ByteWriter,
  stderr: ByteWriter,
  format: OutputFormat,
  options: LineBatchOptions = {},
): OutputWriter {
  const sizes = { batchBytes: OUTPUT_BATCH_BYTES, ...options };
  const out = new LineBatch(stdout, sizes);
  const err = new LineBatch(stderr, sizes);
  const prefixes = new Map<string, Uint8Array>();
  const prefixOf = (workload: string) => {
    let prefix = prefixes.get(workload);
    if (!prefix) prefixes.set(workload, prefix = encoder.encode(`[${workload}] `));
    return prefix;
  };
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
    return target.add(prefixOf(workload), line, NEWLINE);
  };
  const writeLines = (workload: string, stream: "stdout" | "stderr", lines: Uint8Array) => {
    if (format === "json") {
      return forEachLine(lines, (line) => write({ workload, stream, line, continued: false }));
    }
    const target = stream === "stdout" ? out : err;
    if (format === "raw") return target.add(lines);
    let wait: Promise<void> | undefined;
    prefixLines(lines, prefixOf(workload), (prefixed) => wait = target.add(prefixed));
    return wait;
  };
  return {
    write,
    writeLines,
    drain: () => Promise.all([out.drain(), err.drain()]).then(() => {}),
  };
}

/** Appends relayed lines (with their newline) to a batch, e.g. one feeding a log file. */
export function addLine(batch: LineBatch, line: Uint8Array): Promise<void> | undefined {
  return batch.add(line, NEWLINE);
}
