/**
 * Lazy access to `@kubernetes/client-node`: importing it costs ~0.6 s, which commands that
 * never contact the API (validate, schema, static anchors) should not pay.
 *
 * @module
 */
import process from "node:process";

type ClientNode = typeof import("@kubernetes/client-node");

let loading: Promise<ClientNode> | undefined;

/** Imports client-node once, on first call. */
export function loadClientNode(): Promise<ClientNode> {
  loading ??= (async () => {
    // A dependency of client-node's HTTP stack loads node's deprecated `punycode` module,
    // which prints a DEP0040 warning into the launcher's log. It says nothing about
    // cplauncher, so warnings are muted for the duration of the import only.
    const muted = process.noDeprecation;
    process.noDeprecation = true;
    try {
      return await import("@kubernetes/client-node");
    } finally {
      process.noDeprecation = muted;
    }
  })();
  return loading;
}
