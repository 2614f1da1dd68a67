/**
 * Lazy access to `@kubernetes/client-node`: importing it is the largest part of the
 * launcher's start (about 0.6 s from source, about a quarter of that from the bundle),
 * which commands that never contact the API (validate, schema, static anchors) should not
 * pay.
 *
 * The dynamic import of the narrow `client_node_api.ts` is also the bundle's split point:
 * `deno task bundle` puts client-node in a chunk of its own that only this call loads.
 *
 * @module
 */
import process from "node:process";

/** The client-node classes and helpers cplauncher uses. */
export type ClientNode = typeof import("./client_node_api.ts");

let loading: Promise<ClientNode> | undefined;

/** Whether client-node was asked for in this process (its import may still be running). */
export function clientNodeRequested(): boolean {
  return loading !== undefined;
}

/** Imports client-node once, on first call. */
export function loadClientNode(): Promise<ClientNode> {
  loading ??= (async () => {
    // A dependency of client-node's HTTP stack loads node's deprecated `punycode` module,
    // which prints a DEP0040 warning into the launcher's log. It says nothing about
    // cplauncher, so warnings are muted for the duration of the import only.
    const muted = process.noDeprecation;
    process.noDeprecation = true;
    try {
      return await import("./client_node_api.ts");
    } finally {
      process.noDeprecation = muted;
    }
  })();
  return loading;
}
