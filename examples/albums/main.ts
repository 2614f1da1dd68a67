/**
 * A small albums HTTP service, the example workload for cplauncher.
 *
 * It knows nothing about namespaces or compartments: it listens on 0.0.0.0 (port 8080, or
 * `--port N`, or env `PORT`), and cplauncher decides which network it lands in.
 *
 *   GET /albums             JSON list of albums
 *   GET /albums/:id         one album, 404 if unknown
 *   GET /health/readiness   200
 *   GET /health/liveness    200
 *
 * Logs one line at start and one per request to stdout; exits 0 on SIGTERM/SIGINT.
 *
 * Run: `deno run --allow-net --allow-env examples/albums/main.ts [--port N]`
 *
 * @module
 */

/** An album. */
export interface Album {
  /** Identifier. */
  readonly id: string;
  /** Title. */
  readonly title: string;
  /** Artist. */
  readonly artist: string;
  /** Price in USD. */
  readonly price: number;
}

/** The catalogue served by `/albums`. */
export const ALBUMS: readonly Album[] = [
  { id: "1", title: "Blue Train", artist: "John Coltrane", price: 56.99 },
  { id: "2", title: "Jeru", artist: "Gerry Mulligan", price: 17.99 },
  { id: "3", title: "Sarah Vaughan and Clifford Brown", artist: "Sarah Vaughan", price: 39.99 },
  { id: "4", title: "Kind of Blue", artist: "Miles Davis", price: 24.99 },
];

const encoder = new TextEncoder();
// Written straight to stdout (no buffering) so a supervisor sees lines immediately.
function say(line: string): void {
  Deno.stdout.writeSync(encoder.encode(`${line}\n`));
}

/** Handles one request. */
export function handle(req: Request): Response {
  const { pathname } = new URL(req.url);
  if (req.method !== "GET") return Response.json({ error: "method not allowed" }, { status: 405 });
  if (pathname === "/health/readiness" || pathname === "/health/liveness") {
    return new Response("ok\n");
  }
  if (pathname === "/albums" || pathname === "/albums/") return Response.json(ALBUMS);
  const m = /^\/albums\/([^/]+)$/.exec(pathname);
  if (m) {
    const album = ALBUMS.find((a) => a.id === decodeURIComponent(m[1]));
    return album ? Response.json(album) : Response.json({ error: "not found" }, { status: 404 });
  }
  return Response.json({ error: "not found" }, { status: 404 });
}

/** The port from `--port N` / `--port=N`, else env `PORT`, else 8080. */
export function portFrom(args: readonly string[], env: string | undefined): number {
  let text = env;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--port") text = args[++i];
    else if (args[i].startsWith("--port=")) text = args[i].slice("--port=".length);
  }
  const port = Number(text ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`invalid port '${text}'`);
  }
  return port;
}

if (import.meta.main) {
  const port = portFrom(Deno.args, Deno.env.get("PORT"));
  const hostname = "0.0.0.0";
  const server = Deno.serve({
    hostname,
    port,
    onListen: (addr) => say(`albums listening on ${addr.hostname}:${addr.port}`),
  }, (req, info) => {
    const res = handle(req);
    const peer = info.remoteAddr.hostname;
    say(`${peer} ${req.method} ${new URL(req.url).pathname} ${res.status}`);
    return res;
  });
  const stop = async (signal: string) => {
    say(`albums: ${signal}, shutting down`);
    await server.shutdown();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
}
