/**
 * The floor of P2: a Deno process that does the least the launcher must do before it can
 * start a workload — one pod list over TLS with `fetch` — and writes the time it has the
 * answer to MARKER (where the other arms' workload stamps its exec). Run with
 * `--no-config`; the credentials come as PEM files so nothing but the list is loaded.
 *
 *   deno run --allow-all --no-config bench/lib/fetch_floor.ts URL CA CERT KEY MARKER
 *
 * @module
 */
const [url, ca, cert, key, marker] = Deno.args;
const client = Deno.createHttpClient({
  caCerts: [Deno.readTextFileSync(ca)],
  cert: Deno.readTextFileSync(cert),
  key: Deno.readTextFileSync(key),
});
const response = await fetch(url, { client, headers: { Accept: "application/json" } });
const list = await response.json() as { items?: { status?: { podIP?: string } }[] };
const ip = list.items?.[0]?.status?.podIP;
if (response.status !== 200 || !ip) Deno.exit(1);
Deno.writeTextFileSync(marker, `${performance.timeOrigin + performance.now()} ${ip}\n`);
client.close();
