/**
 * The output pipeline: batching (few writes for many lines), order under slow writers,
 * bounded queueing with backpressure, and the three formats.
 */
import assert from "node:assert/strict";
import { createOutputWriter, LineBatch } from "../../src/supervisor/output.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NL = encoder.encode("\n");

function collector() {
  const writes: string[] = [];
  return { writes, write: (bytes: Uint8Array) => void writes.push(decoder.decode(bytes)) };
}

Deno.test("output: lines added in one turn leave as one write", async () => {
  const sink = collector();
  const batch = new LineBatch(sink.write);
  for (let i = 0; i < 100; i++) assert.equal(batch.add(encoder.encode(`line ${i}`), NL), undefined);
  assert.equal(sink.writes.length, 0, "nothing is written synchronously");
  await batch.drain();
  assert.equal(sink.writes.length, 1);
  assert.equal(sink.writes[0], Array.from({ length: 100 }, (_, i) => `line ${i}\n`).join(""));
});

Deno.test("output: a full batch is written before more is collected; no byte lost or reordered", async () => {
  const sink = collector();
  const batch = new LineBatch(sink.write, { batchBytes: 64 });
  const lines = Array.from({ length: 50 }, (_, i) => `${i}`.padStart(9, "x"));
  for (const line of lines) batch.add(encoder.encode(line), NL);
  await batch.drain();
  assert.ok(sink.writes.length >= 50 * 10 / 64, `several writes (${sink.writes.length})`);
  for (const write of sink.writes) assert.ok(write.length <= 64 && write.endsWith("\n"));
  assert.equal(sink.writes.join(""), lines.map((l) => `${l}\n`).join(""));
});

Deno.test("output: a line longer than the batch is written whole", async () => {
  const sink = collector();
  const batch = new LineBatch(sink.write, { batchBytes: 8 });
  batch.add(encoder.encode("short"), NL);
  batch.add(encoder.encode("a much longer line than eight bytes"), NL);
  await batch.drain();
  assert.deepEqual(sink.writes, ["short\n", "a much longer line than eight bytes\n"]);
});

Deno.test("output: slow asynchronous writes keep their order", async () => {
  const done: string[] = [];
  let calls = 0;
  const batch = new LineBatch(async (bytes) => {
    const delay = [30, 0, 10][calls++ % 3];
    await new Promise((r) => setTimeout(r, delay));
    done.push(decoder.decode(bytes));
  }, { batchBytes: 4 });
  for (const word of ["aaa", "bbb", "ccc", "ddd", "eee"]) batch.add(encoder.encode(word), NL);
  await batch.drain();
  assert.deepEqual(done, ["aaa\n", "bbb\n", "ccc\n", "ddd\n", "eee\n"]);
});

Deno.test("output: past the queue bound `add` returns a promise that waits for the writer", async () => {
  const releases: (() => void)[] = [];
  const written: number[] = [];
  const batch = new LineBatch((bytes) =>
    new Promise<void>((resolve) =>
      releases.push(() => {
        written.push(bytes.length);
        resolve();
      })
    ), { batchBytes: 100, maxQueuedBytes: 250 });
  const line = new Uint8Array(99).fill(0x61);
  const results: (Promise<void> | undefined)[] = [];
  for (let i = 0; i < 4; i++) results.push(batch.add(line, NL));
  assert.deepEqual(results.slice(0, 3).map((r) => r === undefined), [true, true, true]);
  assert.ok(results[3] instanceof Promise, "the fourth line finds 300 bytes queued");
  assert.ok(batch.queuedBytes > 250);
  let resolved = false;
  results[3]!.then(() => resolved = true);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(resolved, false, "the relay waits while the writer is stuck");
  while (releases.length > 0 || !resolved) {
    releases.shift()?.();
    await new Promise((r) => setTimeout(r, 1));
  }
  await batch.drain();
  while (releases.length > 0) {
    releases.shift()!();
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.equal(written.reduce((a, b) => a + b, 0), 400, "every byte arrived");
  assert.equal(batch.queuedBytes, 0);
});

Deno.test("output: by default at most 256 KiB per stream wait before `add` holds the relay", async () => {
  let release!: () => void;
  const stuck = new Promise<void>((resolve) => release = resolve);
  const batch = new LineBatch(() => stuck);
  const kib = new Uint8Array(1023).fill(0x61);
  const results: (Promise<void> | undefined)[] = [];
  for (let i = 0; i < 400; i++) results.push(batch.add(kib, NL));
  // Lines are handed to the writer in 64 KiB batches: the 321st line hands over the fifth,
  // which brings the queue to 320 KiB, past the bound; at 256 KiB it was not yet past.
  const first = results.findIndex((r) => r instanceof Promise);
  assert.equal(first, 320, "the first line that finds more than 256 KiB queued waits");
  assert.ok(results.slice(first).every((r) => r instanceof Promise), "and so do the next");
  release();
  await batch.drain();
});

Deno.test("output: a failing writer drops its batch and the relay goes on", async () => {
  let calls = 0;
  const batch = new LineBatch(() => {
    calls++;
    throw new Error("broken pipe");
  });
  batch.add(encoder.encode("x"), NL);
  await batch.drain();
  batch.add(encoder.encode("y"), NL);
  await batch.drain();
  assert.equal(calls, 2);
  assert.equal(batch.queuedBytes, 0);
});

function run(format: "text" | "json" | "raw") {
  const out = collector();
  const err = collector();
  const writer = createOutputWriter(out.write, err.write, format);
  writer.write({ workload: "a", stream: "stdout", line: encoder.encode("one"), continued: false });
  writer.write({ workload: "b", stream: "stderr", line: encoder.encode("two"), continued: true });
  return { out, err, drain: writer.drain };
}

Deno.test("output: text format prefixes the workload and keeps streams apart", async () => {
  const { out, err, drain } = run("text");
  await drain();
  assert.deepEqual([out.writes.join(""), err.writes.join("")], ["[a] one\n", "[b] two\n"]);
});

Deno.test("output: raw format writes the bare lines", async () => {
  const { out, err, drain } = run("raw");
  await drain();
  assert.deepEqual([out.writes.join(""), err.writes.join("")], ["one\n", "two\n"]);
});

Deno.test("output: json format writes one parseable record per line, all on stdout", async () => {
  const { out, err, drain } = run("json");
  await drain();
  assert.equal(err.writes.length, 0);
  const records = out.writes.join("").trimEnd().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(records.map(({ time: _t, ...r }) => r), [
    { workload: "a", stream: "stdout", line: "one" },
    { workload: "b", stream: "stderr", line: "two", continued: true },
  ]);
  for (const r of records) assert.ok(!Number.isNaN(Date.parse(r.time)));
});
