/**
 * The part of `@kubernetes/client-node` cplauncher calls, and nothing else. Importing these
 * names through one module lets the bundler keep only what they reach (client-node's index
 * re-exports every API group, the port-forward, exec, metrics and cache helpers) and put it
 * in a chunk of its own that {@linkcode loadClientNode} loads when the first API request
 * needs it.
 *
 * Import it only through `loadClientNode()` (in `client_node.ts`); a static import would
 * pull the whole client into every command's start.
 *
 * @module
 */
export {
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  Watch,
} from "@kubernetes/client-node";
