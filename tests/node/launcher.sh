#!/bin/sh
# The launcher command of the node tests' launcher pod (`render --launcher-path`): runs
# cplauncher from this checkout, which the pod mounts at the same path (hostPath), with the
# Deno the tests run on. --cached-only: the launcher uses the host network, and must never
# fetch anything.
repo="$(cd "$(dirname "$0")/../.." && pwd)"
exec deno run -P=launcher --cached-only --config "$repo/deno.json" "$repo/src/main.ts" "$@"
