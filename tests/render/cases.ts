/**
 * The render cases shared by the golden and dry-run tests: every cplauncher config in
 * examples/ and config/ on both platforms, plus fixtures that exercise the options.
 *
 * @module
 */

/** Repository root, with a trailing slash. */
export const ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);

/** One `cplauncher render` invocation. */
export interface RenderCase {
  /** Golden file stem, relative to tests/render/golden/. */
  readonly id: string;
  /** Config path relative to the repository root. */
  readonly config: string;
  /** Arguments after `-c <config>`. */
  readonly args: readonly string[];
}

/** Configs that must be found: the tests may not pass by finding nothing. */
export const REQUIRED_CONFIGS = [
  "config/compartments.yaml",
  "examples/albums-linux.yaml",
  "examples/multi.yaml",
  "examples/static-netns.yaml",
  "examples/windows-static.yaml",
];

const MARKER = /^apiVersion:[ \t]*["']?cplauncher\/v1["']?[ \t]*(#.*)?$/m;

async function* yamlFiles(dir: string): AsyncGenerator<string> {
  const entries: Deno.DirEntry[] = [];
  for await (const entry of Deno.readDir(`${ROOT}${dir}`)) entries.push(entry);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory && entry.name !== "node_modules") yield* yamlFiles(`${path}/`);
    else if (entry.isFile && /\.ya?ml$/.test(entry.name)) yield path;
  }
}

/** Every standalone cplauncher config file in examples/ and config/, sorted. */
export async function exampleConfigs(): Promise<string[]> {
  const found: string[] = [];
  for (const dir of ["config/", "examples/"]) {
    for await (const file of yamlFiles(dir)) {
      if (MARKER.test(await Deno.readTextFile(`${ROOT}${file}`))) found.push(file);
    }
  }
  return found;
}

/** Fixed images in goldens, so a version bump does not change them. */
const IMAGE = ["--image", "registry.example/cplauncher:1.0.0"];

/** Cases with options, on fixtures made for them. */
export const FIXTURE_CASES: readonly RenderCase[] = [
  {
    id: "fixtures/claim-windows.replicas-3",
    config: "tests/render/fixtures/claim-windows.yaml",
    args: [
      "--platform",
      "windows",
      "--replicas",
      "3",
      "--anchor-annotation",
      "sidecar.istio.io/inject=false",
      "--anchor-annotation",
      "example.com/team=shop",
      "--name",
      "shop-launcher",
      "--namespace",
      "shop-system",
      ...IMAGE,
    ],
  },
  {
    id: "fixtures/claim-windows.replicas-1",
    config: "tests/render/fixtures/claim-windows.yaml",
    args: ["--platform", "windows", ...IMAGE],
  },
  {
    id: "fixtures/linux-netns",
    config: "tests/render/fixtures/linux-netns.yaml",
    args: [
      "--namespace",
      "cplauncher-system",
      "--launcher-path",
      "/opt/cplauncher/bin/cplauncher",
      "--pause-image",
      "registry.example/pause:3.10",
      ...IMAGE,
    ],
  },
  {
    // An anchor in every namespace: cluster-wide RBAC, its pods in the launcher's namespace.
    id: "fixtures/all-namespaces",
    config: "tests/render/fixtures/all-namespaces.yaml",
    args: ["--platform", "linux", "--namespace", "cplauncher-system", ...IMAGE],
  },
  {
    // No --platform: compartment anchors only, so windows.
    id: "fixtures/windows-static.inferred",
    config: "examples/windows-static.yaml",
    args: IMAGE,
  },
];

/** All cases: each example config on each platform, then the fixtures. */
export async function allCases(): Promise<RenderCase[]> {
  const cases: RenderCase[] = [];
  for (const config of await exampleConfigs()) {
    for (const platform of ["linux", "windows"]) {
      cases.push({
        id: `${config.replace(/\.ya?ml$/, "")}.${platform}`,
        config,
        args: ["--platform", platform, ...IMAGE],
      });
    }
  }
  return [...cases, ...FIXTURE_CASES];
}
