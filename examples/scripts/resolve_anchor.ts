// deno-lint-ignore-file no-console -- an example script: its output is for people
/**
 * Resolve one anchor of a config and print where its network lives: the pod (for selector
 * anchors), its IP, and the Linux network namespace or Windows compartment behind it.
 * Nothing is launched.
 *
 *   sudo deno run --allow-all examples/scripts/resolve_anchor.ts -c examples/albums-linux.yaml albums
 *
 * Prints one `key: value` per line (anchor, kind, pod, ip, netns + inode, or compartment +
 * source, seconds) and exits 0; exit 2 for a bad config or anchor name, 3 when the anchor
 * does not resolve (the message says why).
 *
 * @module
 */
import {
  AnchorError,
  ConfigError,
  createPlatform,
  formatIssue,
  loadConfig,
  loadKubeConfig,
  resolveAnchor,
  setupLogging,
} from "../../mod.ts";

function usage(): never {
  console.error("usage: resolve_anchor.ts -c CONFIG ANCHOR");
  Deno.exit(2);
}

const args = [...Deno.args];
const at = args.indexOf("-c");
if (at === -1 || args.length !== 3) usage();
const [configPath] = args.splice(at, 2).slice(1);
const anchorName = args[0];

// Library logs go to stderr; only problems, so the output stays a clean report.
await setupLogging({ level: "warning" });

let config;
try {
  config = await loadConfig(configPath);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  for (const issue of error.issues) console.error(formatIssue(issue));
  Deno.exit(2);
}
const anchor = config.anchors[anchorName];
if (!anchor) {
  console.error(`no anchor "${anchorName}" (have: ${Object.keys(config.anchors).join(", ")})`);
  Deno.exit(2);
}

const platform = await createPlatform();
try {
  const resolved = await resolveAnchor(anchorName, anchor, {
    platform,
    kube: () => loadKubeConfig(config.kubernetes.kubeconfig),
  });
  console.log(`anchor: ${resolved.name}`);
  console.log(`kind: ${anchor.kind}`);
  if (resolved.pod) console.log(`pod: ${resolved.pod.namespace}/${resolved.pod.pod}`);
  if (resolved.ip) console.log(`ip: ${resolved.ip}`);
  const domain = resolved.domain;
  if (domain.kind === "netns") {
    console.log(`netns: ${domain.path}`);
    console.log(`inode: ${domain.inode}`);
  } else {
    console.log(`compartment: ${domain.id}`);
    console.log(`source: ${domain.source}`);
  }
  console.log(`seconds: ${resolved.resolutionSeconds.toFixed(3)}`);
  // A `pick: claim` anchor stays claimed until released; this script only looked.
  await resolved.pod?.claim?.release();
} catch (error) {
  if (!(error instanceof AnchorError)) throw error;
  console.error(`anchor ${anchorName} did not resolve (${error.stage}): ${error.message}`);
  Deno.exit(3);
}
