/**
 * A stand-in for jsr.io on 127.0.0.1, speaking just enough of its protocol for
 * `deno publish` to upload a package (`JSR_URL=<url> deno publish --token <token>`) and for
 * Deno to import it as `jsr:@scope/name@version` with the same `JSR_URL`. What it stores is
 * exactly the tarball `deno publish` built (its own file selection and specifier rewriting),
 * so a consumer runs the code JSR would serve, without anything leaving the machine.
 *
 * Not modelled: JSR's server-side checks, provenance, dependency metadata.
 *
 * @module
 */

/** One uploaded package version: its files by absolute path (`/mod.ts`) and its exports. */
export interface StoredVersion {
  readonly files: ReadonlyMap<string, Uint8Array<ArrayBuffer>>;
  readonly exports: Readonly<Record<string, string>>;
}

/** A running registry. */
export interface LocalJsr {
  /** Base URL, for `JSR_URL` (with the trailing slash). */
  readonly url: string;
  /** The token `deno publish --token` must present. */
  readonly token: string;
  /** What was uploaded for `@scope/name` at `version`. */
  stored(name: string, version: string): StoredVersion | undefined;
  /** Stops serving. */
  stop(): Promise<void>;
}

const decoder = new TextDecoder();

/** The regular files of a gzipped ustar archive, keyed `/path`. */
async function untar(
  gzipped: Uint8Array<ArrayBuffer>,
): Promise<Map<string, Uint8Array<ArrayBuffer>>> {
  const tar = new Uint8Array(
    await new Response(new Blob([gzipped]).stream().pipeThrough(new DecompressionStream("gzip")))
      .arrayBuffer(),
  );
  const text = (at: number, length: number) =>
    decoder.decode(tar.subarray(at, at + length)).replace(/\0[^]*$/, "");
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  for (let at = 0; at + 512 <= tar.length && tar[at] !== 0;) {
    const size = parseInt(text(at + 124, 12).trim() || "0", 8);
    const type = text(at + 156, 1);
    if (type === "0" || type === "") {
      const prefix = text(at + 345, 155);
      const path = `${prefix ? `${prefix}/` : ""}${text(at, 100)}`.replace(/^\.?\/+/, "");
      if (path.split("/").some((part) => part === ".." || part === "")) {
        throw new Error(`unexpected archive path ${JSON.stringify(path)}`);
      }
      files.set(`/${path}`, tar.slice(at + 512, at + 512 + size));
    }
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

async function checksum(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return `sha256-${Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function exportsOf(config: { exports?: unknown }): Record<string, string> {
  if (typeof config.exports === "string") return { ".": config.exports };
  if (typeof config.exports !== "object" || config.exports === null) return {};
  return Object.fromEntries(
    Object.entries(config.exports).filter((e): e is [string, string] => typeof e[1] === "string"),
  );
}

/** Starts the registry on an ephemeral loopback port. */
export function startLocalJsr(): LocalJsr {
  const token = crypto.randomUUID();
  const packages = new Map<string, Map<string, StoredVersion>>();
  let tasks = 0;
  const json = (body: unknown, status = 200) => Response.json(body, { status });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = new URL(request.url).pathname;
    let m: RegExpMatchArray | null;
    // The publish API.
    if ((m = path.match(/^\/api\/scopes\/([^/]+)\/packages\/([^/]+)\/versions\/([^/]+)$/))) {
      const [, scope, name, version] = m;
      const key = `@${scope}/${name}`;
      if (request.method !== "POST") {
        return packages.get(key)?.has(version)
          ? json({ scope, package: name, version })
          : json({ code: "packageVersionNotFound" }, 404);
      }
      if (request.headers.get("authorization") !== `Bearer ${token}`) {
        return json({ code: "unauthorized" }, 401);
      }
      const files = await untar(new Uint8Array(await request.arrayBuffer()));
      const config = files.get("/deno.json") ?? files.get("/jsr.json");
      if (!config) return json({ code: "missingConfigFile" }, 400);
      const versions = packages.get(key) ?? new Map<string, StoredVersion>();
      versions.set(version, { files, exports: exportsOf(JSON.parse(decoder.decode(config))) });
      packages.set(key, versions);
      return json({ id: `task-${++tasks}`, status: "pending" });
    }
    if (/^\/api\/scopes\/[^/]+\/packages\/[^/]+$/.test(path)) return json({});
    if ((m = path.match(/^\/api\/publish_status\/([^/]+)$/))) {
      return json({ id: m[1], status: "success", error: null });
    }
    // The registry a consumer reads.
    if ((m = path.match(/^\/(@[^/]+\/[^/]+)\/meta\.json$/))) {
      const versions = [...(packages.get(m[1])?.keys() ?? [])].sort();
      if (versions.length === 0) return json({ code: "packageNotFound" }, 404);
      const [scope, name] = m[1].slice(1).split("/");
      return json({
        scope,
        name,
        latest: versions.at(-1),
        versions: Object.fromEntries(versions.map((v) => [v, {}])),
      });
    }
    if ((m = path.match(/^\/(@[^/]+\/[^/]+)\/([^/]+)_meta\.json$/))) {
      const stored = packages.get(m[1])?.get(m[2]);
      if (!stored) return json({ code: "packageVersionNotFound" }, 404);
      const manifest: Record<string, { size: number; checksum: string }> = {};
      for (const [file, bytes] of stored.files) {
        manifest[file] = { size: bytes.byteLength, checksum: await checksum(bytes) };
      }
      return json({ manifest, exports: stored.exports });
    }
    if ((m = path.match(/^\/(@[^/]+\/[^/]+)\/([^/]+)(\/.+)$/))) {
      const bytes = packages.get(m[1])?.get(m[2])?.files.get(decodeURIComponent(m[3]));
      if (!bytes) return new Response("not found", { status: 404 });
      return new Response(bytes);
    }
    return json({ code: "notFound" }, 404);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    token,
    stored: (name, version) => packages.get(name)?.get(version),
    stop: () => server.shutdown(),
  };
}
