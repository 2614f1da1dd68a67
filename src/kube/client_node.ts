/**
 * Lazy access to `@kubernetes/client-node`: importing it costs ~0.6 s, which commands that
 * never contact the API (validate, schema, static anchors) should not pay.
 *
 * @module
 */

type ClientNode = typeof import("@kubernetes/client-node");

let loading: Promise<ClientNode> | undefined;

/** Imports client-node once, on first call. */
export function loadClientNode(): Promise<ClientNode> {
  loading ??= import("@kubernetes/client-node");
  return loading;
}
