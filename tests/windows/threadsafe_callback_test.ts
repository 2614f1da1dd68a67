/**
 * What the Windows console control handler relies on, established on Linux: Windows calls a
 * `HandlerRoutine` on a thread of its own and ends the process when a CTRL_CLOSE/SHUTDOWN
 * handler returns, so the launcher's handler (a `Deno.UnsafeCallback.threadSafe`) may only
 * return once the workloads are stopped. That works only if a foreign thread calling a
 * thread-safe callback *waits* until the JavaScript has run and receives its return value.
 *
 * threadsafe/foreign_thread.c is a small C library whose pthread calls the callback the way
 * Windows would. These tests show, with Deno's own FFI on this machine:
 * - the foreign thread blocks until the callback has returned, and gets its return value;
 * - the callback runs on the JS thread between tasks, never in the middle of synchronous JS
 *   (so a synchronous stop inside it cannot race the supervisor's own code);
 * - an `unref()`ed callback still runs while the event loop is alive for other reasons (the
 *   launcher unrefs its handler so that it never keeps a finished launcher running).
 */
import assert from "node:assert/strict";

const SOURCE = new URL("./threadsafe/foreign_thread.c", import.meta.url).pathname;

const SYMBOLS = {
  call_later: { parameters: ["function", "u32", "u32", "buffer"], result: "i32" },
  wait_result: { parameters: [], result: "i32", nonblocking: true },
  mark_after_return: { parameters: [], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

const HANDLER = {
  parameters: ["u32"],
  result: "i32",
} as const satisfies Deno.UnsafeCallbackDefinition;

/** Build the library into a temporary folder and open it; closing removes both. */
async function open(): Promise<Deno.DynamicLibrary<typeof SYMBOLS> & Disposable> {
  const dir = await Deno.makeTempDir({ prefix: "cplauncher-threadsafe-" });
  const out = `${dir}/libforeign_thread.so`;
  const cc = await new Deno.Command("cc", {
    args: ["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-pthread", "-o", out, SOURCE],
    stderr: "piped",
  }).output();
  if (!cc.success) throw new Error(`cc: ${new TextDecoder().decode(cc.stderr)}`);
  const lib = Deno.dlopen(out, SYMBOLS);
  return Object.assign(lib, {
    [Symbol.dispose]() {
      lib.close();
      Deno.removeSync(dir, { recursive: true });
    },
  });
}

function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* keep the JS thread busy on purpose */ }
}

const ONLY_LINUX = { ignore: Deno.build.os !== "linux" } as const;

Deno.test({
  ...ONLY_LINUX,
  name: "threadSafe callback: the foreign thread waits for the JS return value",
  async fn() {
    using lib = await open();
    const mark = new Uint8Array(new ArrayBuffer(1));
    let ranOn: "js" | undefined;
    const callback = Deno.UnsafeCallback.threadSafe(HANDLER, (event) => {
      ranOn = "js";
      // A slow handler: if the foreign thread did not wait, it would read the mark (and the
      // result) before this line runs.
      busyWait(200);
      mark[0] = 0x5a;
      return event * 2 + 1;
    });
    try {
      assert.equal(lib.symbols.call_later(callback.pointer, 6, 50, mark), 0);
      const result = await lib.symbols.wait_result();
      assert.equal(ranOn, "js");
      assert.equal(result, 13, "the foreign thread received the callback's return value");
      assert.equal(
        lib.symbols.mark_after_return(),
        0x5a,
        "the foreign thread resumed only after the callback had finished",
      );
    } finally {
      callback.close();
    }
  },
});

Deno.test({
  ...ONLY_LINUX,
  name: "threadSafe callback: it runs between tasks, never inside synchronous JS",
  async fn() {
    using lib = await open();
    const mark = new Uint8Array(new ArrayBuffer(1));
    let syncWorkDone = false;
    let sawSyncWorkDone: boolean | undefined;
    const callback = Deno.UnsafeCallback.threadSafe(HANDLER, () => {
      sawSyncWorkDone = syncWorkDone;
      mark[0] = 1;
      return 1;
    });
    try {
      assert.equal(lib.symbols.call_later(callback.pointer, 0, 10, mark), 0);
      // The foreign call arrives while this synchronous block still runs; it must wait.
      busyWait(300);
      syncWorkDone = true;
      assert.equal(await lib.symbols.wait_result(), 1);
      assert.equal(sawSyncWorkDone, true, "the callback interrupted synchronous JavaScript");
    } finally {
      callback.close();
    }
  },
});

Deno.test({
  ...ONLY_LINUX,
  name: "threadSafe callback: an unref()ed callback still runs while the loop is alive",
  async fn() {
    using lib = await open();
    const mark = new Uint8Array(new ArrayBuffer(1));
    const callback = Deno.UnsafeCallback.threadSafe(HANDLER, (event) => {
      mark[0] = 2;
      return event + 100;
    });
    callback.unref();
    try {
      assert.equal(lib.symbols.call_later(callback.pointer, 5, 100, mark), 0);
      // The loop is kept alive only by this pending nonblocking call and a timer.
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(await lib.symbols.wait_result(), 105);
      assert.equal(lib.symbols.mark_after_return(), 2);
    } finally {
      callback.close();
    }
  },
});
