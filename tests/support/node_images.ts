/**
 * The container images of the single-node test cluster, made on this machine because no
 * registry is reachable: OCI image layouts packed as tarballs, for `ctr images import`.
 *
 * - `pause`: the anchor pods' container, `tests/node/images/pause.c` built with `gcc -static`.
 * - `busybox`: the client pods' container, the host's static busybox with its applet links.
 * - `launcher`: an almost empty root whose `/bin`, `/lib`… point into `/usr`; the launcher
 *   pod mounts the host's `/usr`, Deno and the project over it (hostPath), so it runs the
 *   checkout under test instead of a built image.
 *
 * All are single-layer, `linux/amd64`, and reproducible (sorted, owner 0, mtime 0).
 *
 * @module
 */
import { join } from "node:path";

/** Image references; pods use them with `imagePullPolicy: Never`. */
export const NODE_IMAGES = {
  pause: "cplauncher.local/pause:1.0",
  busybox: "cplauncher.local/busybox:1.0",
  launcher: "cplauncher.local/launcher:1.0",
} as const;

const REPO = new URL("../../", import.meta.url);
const PAUSE_SOURCE = decodeURIComponent(new URL("tests/node/images/pause.c", REPO).pathname);
const BUSYBOX_CANDIDATES = ["/bin/busybox", "/usr/bin/busybox"];
const PATH_VARIABLE = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** What one image is made of. */
interface ImageSpec {
  readonly name: string;
  /** Fills the (empty) root folder. */
  readonly fill: (root: string) => Promise<void>;
  readonly entrypoint?: string[];
  readonly cmd?: string[];
  readonly env: string[];
}

/**
 * Builds the three images under `dir` and returns the paths of their archives.
 *
 * @throws when gcc or a static busybox is missing (with the package to install).
 */
export async function buildNodeImages(dir: string): Promise<string[]> {
  const busybox = await findStaticBusybox();
  const specs: ImageSpec[] = [
    {
      name: NODE_IMAGES.pause,
      fill: async (root) => {
        await run("gcc", ["-static", "-Os", "-s", "-o", join(root, "pause"), PAUSE_SOURCE]);
      },
      entrypoint: ["/pause"],
      env: [PATH_VARIABLE],
    },
    {
      name: NODE_IMAGES.busybox,
      fill: async (root) => {
        await Deno.mkdir(join(root, "bin"));
        await Deno.mkdir(join(root, "tmp"), { mode: 0o1777 });
        await Deno.chmod(join(root, "tmp"), 0o1777);
        await Deno.copyFile(busybox, join(root, "bin/busybox"));
        const list = await run(busybox, ["--list"]);
        for (const applet of list.split("\n").filter((a) => a && a !== "busybox")) {
          await Deno.symlink("busybox", join(root, "bin", applet));
        }
      },
      cmd: ["sh"],
      env: [PATH_VARIABLE],
    },
    {
      name: NODE_IMAGES.launcher,
      fill: async (root) => {
        for (const d of ["usr", "etc", "proc", "sys", "dev", "run", "root", "var"]) {
          await Deno.mkdir(join(root, d));
        }
        await Deno.mkdir(join(root, "tmp"));
        await Deno.chmod(join(root, "tmp"), 0o1777);
        // Debian's merged /usr: with the host's /usr mounted, these make its programs work.
        for (const d of ["bin", "sbin", "lib", "lib64"]) {
          await Deno.symlink(`usr/${d}`, join(root, d));
        }
      },
      env: [PATH_VARIABLE, "HOME=/root"],
    },
  ];
  const archives: string[] = [];
  for (const spec of specs) archives.push(await buildImage(dir, spec));
  return archives;
}

async function buildImage(dir: string, spec: ImageSpec): Promise<string> {
  const slug = spec.name.replace(/^.*\//, "").replace(/[^a-z0-9.]+/g, "-");
  const work = join(dir, slug);
  const root = join(work, "root");
  const layout = join(work, "layout");
  const blobs = join(layout, "blobs/sha256");
  await Deno.remove(work, { recursive: true }).catch(() => {});
  await Deno.mkdir(root, { recursive: true });
  await Deno.mkdir(blobs, { recursive: true });
  await spec.fill(root);

  const layerPath = join(work, "layer.tar");
  await run("tar", [
    "--sort=name",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--mtime=@0",
    "-C",
    root,
    "-cf",
    layerPath,
    ".",
  ]);
  const layer = await Deno.readFile(layerPath);
  const layerDigest = await addBlob(blobs, layer);

  const config = json({
    architecture: "amd64",
    os: "linux",
    config: {
      Env: spec.env,
      ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
      ...(spec.cmd ? { Cmd: spec.cmd } : {}),
      WorkingDir: "/",
    },
    rootfs: { type: "layers", diff_ids: [layerDigest] },
    history: [{ created_by: "tests/support/node_images.ts" }],
  });
  const configDigest = await addBlob(blobs, config);
  const manifest = json({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: configDigest,
      size: config.length,
    },
    layers: [{
      mediaType: "application/vnd.oci.image.layer.v1.tar",
      digest: layerDigest,
      size: layer.length,
    }],
  });
  const manifestDigest = await addBlob(blobs, manifest);
  await Deno.writeFile(join(layout, "oci-layout"), json({ imageLayoutVersion: "1.0.0" }));
  await Deno.writeFile(
    join(layout, "index.json"),
    json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: manifestDigest,
        size: manifest.length,
        platform: { architecture: "amd64", os: "linux" },
        annotations: {
          "io.containerd.image.name": spec.name,
          "org.opencontainers.image.ref.name": spec.name.slice(spec.name.lastIndexOf(":") + 1),
        },
      }],
    }),
  );
  const archive = join(dir, `${slug}.oci.tar`);
  await run("tar", ["-C", layout, "-cf", archive, "oci-layout", "index.json", "blobs"]);
  await Deno.remove(work, { recursive: true });
  return archive;
}

async function addBlob(blobs: string, bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const hex = Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  await Deno.writeFile(join(blobs, hex), bytes);
  return `sha256:${hex}`;
}

function json(value: unknown): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(JSON.stringify(value));
}

async function findStaticBusybox(): Promise<string> {
  for (const path of BUSYBOX_CANDIDATES) {
    // busybox-static installs /bin/busybox; the busybox package's dynamic one would need a libc.
    if (await isFile(path)) return path;
  }
  throw new Error("no busybox found: install the busybox-static package");
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function run(cmd: string, args: string[]): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
      .output();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`${cmd} is not installed (needed to build the node's images)`);
    }
    throw e;
  }
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}
