import assert from "node:assert/strict";
import { join } from "node:path";
import { Backoff } from "../../src/supervisor/backoff.ts";
import { handleHealth, renderMetrics } from "../../src/supervisor/health.ts";
import { RotatingLogFile } from "../../src/supervisor/logfile.ts";
import { ProbeState } from "../../src/supervisor/probes.ts";
import { relayLines } from "../../src/supervisor/relay.ts";
import type { WorkloadStatus } from "../../src/supervisor/types.ts";
import type { Probe } from "../../src/config/mod.ts";

Deno.test("backoff doubles up to max and resets after a long run", () => {
  const b = new Backoff({ initial: 100, max: 1000, resetAfter: 5000 });
  assert.deepEqual([b.next(0), b.next(0), b.next(0), b.next(0), b.next(0), b.next(0)], [
    100,
    200,
    400,
    800,
    1000,
    1000,
  ]);
  assert.equal(b.next(5000), 100, "a run of resetAfter forgets earlier failures");
  assert.equal(b.next(10), 200);
});

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return ReadableStream.from(chunks.map((c) => encoder.encode(c)));
}

Deno.test("relay: lines split across chunks come out whole; a final line without newline is kept", async () => {
  const lines: string[] = [];
  const decoder = new TextDecoder();
  const total = await relayLines(streamOf(["he", "llo\nwor", "ld\n\nlast"]), (line) => {
    lines.push(decoder.decode(line));
  });
  assert.deepEqual(lines, ["hello", "world", "", "last"]);
  assert.equal(total, "hello\nworld\n\nlast".length);
});

Deno.test("relay: an over-long line is passed on in bounded pieces, no byte lost", async () => {
  const pieces: { length: number; continued: boolean }[] = [];
  const long = "x".repeat(250);
  await relayLines(streamOf([long.slice(0, 120), long.slice(120), "\n"]), (line, continued) => {
    pieces.push({ length: line.length, continued });
  }, 100);
  assert.deepEqual(pieces.map((p) => p.continued), [true, true, false]);
  assert.equal(pieces.reduce((n, p) => n + p.length, 0), 250);
});

Deno.test("relay: while the handler is still writing a line, nothing more is read (backpressure)", async () => {
  const encoder = new TextEncoder();
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (++pulls > 50) controller.close();
      else controller.enqueue(encoder.encode(`line ${pulls}\n`));
    },
  }, { highWaterMark: 0 });
  let release!: () => void;
  const stuck = new Promise<void>((resolve) => release = resolve);
  let lines = 0;
  const relay = relayLines(stream, () => ++lines === 1 ? stuck : undefined);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(lines, 1, "no line is handed over while the first is being written");
  assert.ok(pulls <= 2, `${pulls} chunks were read while the writer was stuck`);
  release();
  await relay;
  assert.equal(lines, 50);
});

const probe = (failureThreshold: number, successThreshold: number) =>
  ({
    tcp: { port: 1 },
    period: 10,
    timeout: 10,
    failureThreshold,
    successThreshold,
    initialDelay: 0,
  }) as Probe;

Deno.test("probe state honours failure and success thresholds", () => {
  const state = new ProbeState(probe(3, 2));
  assert.equal(state.record(true), false);
  assert.equal(state.healthy, undefined);
  assert.equal(state.record(true), true);
  assert.equal(state.healthy, true);
  state.record(false);
  state.record(false);
  assert.equal(state.healthy, true, "two failures are below the threshold of 3");
  assert.equal(state.record(false), true);
  assert.equal(state.healthy, false);
  state.record(true);
  assert.equal(state.healthy, false, "one success is below the success threshold of 2");
});

const workloads: WorkloadStatus[] = [
  {
    name: "a",
    anchor: "x",
    state: "running",
    ready: true,
    pid: 10,
    restarts: 2,
    lastExitCode: 1,
    anchorResolutionSeconds: 0.25,
  },
  { name: 'b"q', anchor: "y", state: "backoff", ready: false, restarts: 0 },
];

Deno.test("health: /healthz, /readyz (all, named, unknown) and 404", () => {
  const get = (path: string) => handleHealth(new Request(`http://h${path}`), () => workloads);
  assert.equal(get("/healthz").status, 200);
  assert.equal(get("/readyz").status, 503);
  assert.equal(get("/readyz?workload=a").status, 200);
  assert.equal(get("/readyz?workload=zzz").status, 404);
  assert.equal(get("/nope").status, 404);
});

Deno.test("metrics: Prometheus text with escaped labels and every family", () => {
  const text = renderMetrics(workloads);
  assert.match(text, /^cplauncher_workload_up\{workload="a",anchor="x"\} 1$/m);
  assert.match(text, /^cplauncher_workload_up\{workload="b\\"q",anchor="y"\} 0$/m);
  assert.match(text, /^cplauncher_workload_restarts_total\{workload="a",anchor="x"\} 2$/m);
  assert.match(text, /^cplauncher_workload_last_exit_code\{workload="a",anchor="x"\} 1$/m);
  assert.match(text, /^cplauncher_anchor_resolution_seconds\{workload="a",anchor="x"\} 0.25$/m);
  assert.doesNotMatch(text, /last_exit_code\{workload="b/, "no sample without a value");
  assert.match(text, /^# TYPE cplauncher_workload_restarts_total counter$/m);
});

Deno.test("log file rotates by size and keeps `keep` old files", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = new RotatingLogFile("w", { dir, maxSize: 100, keep: 2 });
    const line = new TextEncoder().encode(`${"y".repeat(39)}\n`);
    for (let i = 0; i < 10; i++) await file.write(line);
    file.close();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["w.log", "w.log.1", "w.log.2"]);
    for (const name of names) assert.ok(Deno.statSync(join(dir, name)).size <= 100);
    assert.equal(Deno.statSync(join(dir, "w.log.1")).size, 80);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
