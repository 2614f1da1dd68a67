/**
 * A proc-thread attribute list (`STARTUPINFOEXW.lpAttributeList`) holding handle lists.
 *
 * The list stores *pointers* to its attribute values, so each value buffer must stay alive
 * and in place until `CreateProcessW` has returned. The list keeps them referenced for its
 * own lifetime, and every buffer comes from `alloc()`, whose memory never moves.
 *
 * @module
 */
import { checkBool, kernel32, lastError } from "./kernel32.ts";
import { alloc, dv, writePtr } from "./memory.ts";
import { W } from "./structs.ts";

/** An initialised attribute list; {@linkcode ProcThreadAttributeList.delete} releases it. */
export class ProcThreadAttributeList {
  /** The list itself, for `STARTUPINFOEXW.lpAttributeList`. */
  readonly buffer: Uint8Array<ArrayBuffer>;
  /** Attribute values, referenced here because the list points into them. */
  readonly #values: Uint8Array<ArrayBuffer>[] = [];
  #live = true;

  private constructor(buffer: Uint8Array<ArrayBuffer>) {
    this.buffer = buffer;
  }

  /** Allocate and initialise a list with room for `count` attributes. */
  static create(count: number): ProcThreadAttributeList {
    const k = kernel32();
    const sizeBuf = alloc(8);
    k.InitializeProcThreadAttributeList(null, count, 0, sizeBuf); // fails by design: size query
    const size = Number(dv(sizeBuf).getBigUint64(0, true));
    if (size === 0) throw lastError("InitializeProcThreadAttributeList(size)");
    const buffer = alloc(size);
    checkBool(
      "InitializeProcThreadAttributeList",
      k.InitializeProcThreadAttributeList(buffer, count, 0, sizeBuf),
    );
    return new ProcThreadAttributeList(buffer);
  }

  /** `PROC_THREAD_ATTRIBUTE_HANDLE_LIST`: the only handles the child inherits. */
  setHandleList(handles: readonly Deno.PointerObject[]): void {
    this.#setHandles(
      W.PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
      "PROC_THREAD_ATTRIBUTE_HANDLE_LIST",
      handles,
    );
  }

  /** `PROC_THREAD_ATTRIBUTE_JOB_LIST`: the jobs the child is in from its first instruction. */
  setJobList(jobs: readonly Deno.PointerObject[]): void {
    this.#setHandles(W.PROC_THREAD_ATTRIBUTE_JOB_LIST, "PROC_THREAD_ATTRIBUTE_JOB_LIST", jobs);
  }

  #setHandles(attribute: number, name: string, handles: readonly Deno.PointerObject[]): void {
    const value = alloc(handles.length * 8);
    handles.forEach((h, i) => writePtr(value, i * 8, h));
    this.#values.push(value);
    checkBool(
      `UpdateProcThreadAttribute(${name})`,
      kernel32().UpdateProcThreadAttribute(
        this.buffer,
        0,
        BigInt(attribute),
        value,
        BigInt(value.length),
        null,
        null,
      ),
    );
  }

  /** `DeleteProcThreadAttributeList`; calling it again is a no-op. */
  delete(): void {
    if (this.#live) kernel32().DeleteProcThreadAttributeList(this.buffer);
    this.#live = false;
  }
}
