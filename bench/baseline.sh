#!/usr/bin/env bash
# The baseline of the benchmarks: what a Linux operator scripts instead of cplauncher.
#
#   baseline.sh SELECTOR NAMESPACE TIMEOUT -- COMMAND [ARGS...]
#
# Waits for the anchor pod to be Ready, reads its IP, finds the network namespace that
# holds the IP and starts COMMAND in it with nsenter (which execs it: same pid, so the
# caller's signals reach the workload). kubectl and KUBECONFIG come from the environment.
# BASELINE_KUBECTL_V=N adds -v=N to `kubectl wait` only (the benchmark reads its log to
# know when the watch is open before it flips the pod to Ready).
set -euo pipefail
selector="$1" namespace="$2" timeout="$3"
shift 3
[[ "${1:-}" == "--" ]] && shift

# shellcheck source=bench/find_netns.sh
source "$(dirname "${BASH_SOURCE[0]}")/find_netns.sh"

kubectl wait ${BASELINE_KUBECTL_V:+-v="$BASELINE_KUBECTL_V"} --for=condition=Ready pod \
  -l "$selector" -n "$namespace" --timeout="$timeout" >/dev/null
ip="$(kubectl get pod -l "$selector" -n "$namespace" -o jsonpath='{.items[0].status.podIP}')"
netns="$(find_netns "$ip")" || {
  echo "baseline: no network namespace holds $ip" >&2
  exit 3
}
exec nsenter --net="/var/run/netns/$netns" -- "$@"
