/**
 * Per-workload log files with size-based rotation (`name.log`, `name.log.1`, …) and
 * retention by count and age.
 *
 * @module
 */
import { join } from "node:path";

/** Settings of a workload's log file. */
export interface LogFileSettings {
  readonly dir: string;
  readonly maxSize: number;
  readonly keep: number;
  readonly maxAge?: number;
}

/**
 * Appends lines to `<dir>/<name>.log`, rotating by size. Writes are asynchronous; callers
 * serialise them (the supervisor feeds it through a LineBatch, which writes in order).
 */
export class RotatingLogFile {
  readonly #settings: LogFileSettings;
  readonly #path: string;
  #file: Deno.FsFile;
  #size: number;

  /** Opens (creating the directory if needed) the log of workload `name`. */
  constructor(name: string, settings: LogFileSettings) {
    this.#settings = settings;
    Deno.mkdirSync(settings.dir, { recursive: true });
    this.#path = join(settings.dir, `${name}.log`);
    this.#file = Deno.openSync(this.#path, { append: true, create: true });
    this.#size = this.#file.statSync().size;
  }

  /** Appends bytes (whole lines including their newlines). */
  async write(bytes: Uint8Array): Promise<void> {
    if (this.#size > 0 && this.#size + bytes.length > this.#settings.maxSize) this.#rotate();
    let offset = 0;
    while (offset < bytes.length) offset += await this.#file.write(bytes.subarray(offset));
    this.#size += bytes.length;
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }

  #rotate(): void {
    this.#file.close();
    const { keep, maxAge } = this.#settings;
    for (let i = keep; i >= 1; i--) {
      const from = i === 1 ? this.#path : `${this.#path}.${i - 1}`;
      try {
        if (i === keep || keep === 0) Deno.removeSync(`${this.#path}.${keep}`);
      } catch { /* not there */ }
      try {
        Deno.renameSync(from, `${this.#path}.${i}`);
      } catch { /* not there */ }
    }
    if (keep === 0) {
      try {
        Deno.removeSync(this.#path);
      } catch { /* gone */ }
    }
    if (maxAge !== undefined) {
      const cutoff = Date.now() - maxAge;
      for (let i = 1; i <= keep; i++) {
        try {
          const info = Deno.statSync(`${this.#path}.${i}`);
          if ((info.mtime?.getTime() ?? Date.now()) < cutoff) Deno.removeSync(`${this.#path}.${i}`);
        } catch { /* not there */ }
      }
    }
    this.#file = Deno.openSync(this.#path, { append: true, create: true, truncate: false });
    this.#size = 0;
  }
}
