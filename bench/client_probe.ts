/**
 * The client of the benchmarks: runs inside the client network namespace (started by
 * `bench/lib/prober.ts` with `ip netns exec`) and plays `curl` in a tight, bounded loop.
 *
 * Protocol: one JSON request per stdin line, `{"id", "urls", "timeoutMs", "intervalMs"}`;
 * for each, one JSON line on stdout, `{"id", "times", "attempts"}`, where `times[i]` is the
 * epoch time (ms, sub-ms resolution) at which `urls[i]` first answered with status 200, or
 * null if it did not within `timeoutMs`. Every attempt is a fresh TCP connection with a
 * plain `GET` (no connection reuse, so an answer always comes from whatever listens now).
 * The first line it prints is `ready`. Only the addresses it is given are contacted; the
 * benchmark gives it pod IPs inside namespaces it made itself.
 *
 * @module
 */

const encoder = new TextEncoder();

function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

function say(value: unknown): void {
  const line = typeof value === "string" ? value : JSON.stringify(value);
  Deno.stdout.writeSync(encoder.encode(`${line}\n`));
}

/** One attempt: true when the URL answered `HTTP/1.x 200`. */
async function attempt(url: URL, timeoutMs: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  const timer = setTimeout(() => conn?.close(), timeoutMs);
  try {
    conn = await Deno.connect({ hostname: url.hostname, port: Number(url.port || 80) });
    const request = `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n` +
      "Connection: close\r\nUser-Agent: cplauncher-bench\r\n\r\n";
    await conn.write(encoder.encode(request));
    const buffer = new Uint8Array(64);
    let got = 0;
    while (got < 12) {
      const n = await conn.read(buffer.subarray(got));
      if (n === null) break;
      got += n;
    }
    const head = new TextDecoder().decode(buffer.subarray(0, got));
    return /^HTTP\/1\.[01] 200/.test(head);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* closed by the timer */ }
  }
}

interface ProbeRequest {
  id: number;
  urls: string[];
  timeoutMs: number;
  intervalMs: number;
}

async function probe(request: ProbeRequest): Promise<void> {
  const urls = request.urls.map((u) => new URL(u));
  const times: (number | null)[] = urls.map(() => null);
  const deadline = performance.now() + request.timeoutMs;
  let attempts = 0;
  // Bounded: at most timeoutMs / intervalMs rounds, each one attempt per pending URL.
  while (performance.now() < deadline) {
    const pending = urls.map((_, i) => i).filter((i) => times[i] === null);
    if (pending.length === 0) break;
    await Promise.all(pending.map(async (i) => {
      attempts++;
      if (await attempt(urls[i], 1000)) times[i] = epochMs();
    }));
    if (times.every((t) => t !== null)) break;
    await new Promise((r) => setTimeout(r, request.intervalMs));
  }
  say({ id: request.id, times, attempts });
}

if (import.meta.main) {
  say("ready");
  let buffered = "";
  const decoder = new TextDecoder();
  const work: Promise<void>[] = [];
  for await (const chunk of Deno.stdin.readable) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line) work.push(probe(JSON.parse(line) as ProbeRequest));
    }
  }
  await Promise.all(work);
}
