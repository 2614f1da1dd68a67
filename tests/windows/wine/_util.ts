/**
 * Shared helpers for the suite that the *Windows* deno.exe runs under Wine (see
 * tests/windows/wine_test.ts). The suite files are `*.wine.ts` so a Linux `deno test` skips
 * them; if run on Linux anyway, every test registers as ignored.
 *
 * @module
 */

import { kernel32 } from "../../../src/platform/windows/kernel32.ts";
import { wineVersion } from "../../../src/platform/windows/ntdll.ts";
import { W } from "../../../src/platform/windows/structs.ts";

/** True when running on Windows (real or Wine). */
export const ON_WINDOWS = Deno.build.os === "windows";

/** Windows path of the helper program built from helper.c. */
export const HELPER = Deno.env.get("CPLAUNCHER_WINE_HELPER") ?? "";

/** Wine's version string when running under Wine, else null (real Windows). */
export const WINE_VERSION: string | null = ON_WINDOWS ? wineVersion() : null;

const enc = new TextEncoder();

/**
 * Report a step that was not exercised, with the reason, on stderr as `SKIPPED-STEP: …`.
 * The Linux runner collects these lines; a test that skips a step does not claim it.
 */
export function skippedStep(what: string, why: string): void {
  Deno.stderr.writeSync(enc.encode(`SKIPPED-STEP: ${what} — ${why}\n`));
}

/** Whether process `pid` is still running. */
export function running(pid: number): boolean {
  const k = kernel32();
  const h = k.OpenProcess(W.SYNCHRONIZE | W.PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
  if (h === null) return false;
  try {
    return k.WaitForSingleObject(h, 0) !== W.WAIT_OBJECT_0;
  } finally {
    k.CloseHandle(h);
  }
}

/** Read a whole byte stream as UTF-8 text. */
export async function readText(stream: ReadableStream<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const c of stream) chunks.push(c);
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    all.set(c, o);
    o += c.length;
  }
  return new TextDecoder().decode(all);
}

/** Read from `stream` until `marker` has been seen; returns the text so far. */
export async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  marker: RegExp,
): Promise<string> {
  const dec = new TextDecoder();
  let text = "";
  while (!marker.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += dec.decode(value, { stream: true });
  }
  return text;
}

/** Resolve with `p`, or reject after `ms` with `label`. */
export function within<T>(p: Promise<T>, ms: number, label: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${label}`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}
