#!/usr/bin/env bash
# Builds the node binaries of the single-node Kubernetes test cluster (kubelet,
# kube-controller-manager, kube-scheduler, kube-proxy) from the same Go module
# as the control plane (tests/kube/, see scripts/kube_build.sh) into
#
#   ${CPLAUNCHER_CACHE:-$HOME/.cache/cplauncher}/kube/<sha256 of tests/kube/go.sum>/node/bin/
#
# Same key and rules as scripts/kube_build.sh: a changed go.sum gives a new
# folder, changed build flags need the folder deleted by hand, and nothing is
# built when all four binaries exist. The bin dir is the last line of stdout;
# progress goes to stderr. Used by tests/support/node.ts and by .ci/run.
#
# Cost on 2 shared cores: about 13 minutes with a cold Go build cache (measured 806 s), 4
# minutes when scripts/kube_build.sh ran before (most packages are shared; measured 237 s).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mod="$root/tests/kube"
binaries=(kubelet kube-controller-manager kube-scheduler kube-proxy)

# Go lookup, heartbeat and version stamps shared with the other Kubernetes build script.
# shellcheck source=lib/k8s_build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/k8s_build.sh"
find_go node_build

hash="$(sha256sum "$mod/go.sum" | cut -d' ' -f1)"
cache="${CPLAUNCHER_CACHE:-$HOME/.cache/cplauncher}/kube/$hash/node"
bin="$cache/bin"

have_all() {
  local b
  for b in "${binaries[@]}"; do [[ -x "$bin/$b" ]] || return 1; done
}


if ! have_all; then
  mkdir -p "$cache"
  # Concurrent test processes on a cold cache wait for the first build.
  exec 9>"$cache/.lock"
  flock 9
  if ! have_all; then
    tmp="$cache/bin.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    k8s_version_flags "$mod" "$go_bin"
    echo "node_build: building ${binaries[*]} ($kver) into $bin;" \
      "about 13 min on 2 cores with a cold Go build cache, 4 min after kube_build.sh" >&2
    start=$SECONDS
    pkgs=()
    for b in "${binaries[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
    (
      cd "$mod"
      export CGO_ENABLED=0
      # One `go build` for all four: shared packages compile once, in parallel.
      with_heartbeat node_build "${binaries[*]}" \
        "$go_bin" build -mod=readonly -trimpath -ldflags="-s -w$vflags" -o "$tmp/" "${pkgs[@]}"
    )
    rm -rf "$bin"
    mv "$tmp" "$bin"
    echo "node_build: done in $((SECONDS - start))s" >&2
  fi
  exec 9>&-
fi

echo "$bin"
