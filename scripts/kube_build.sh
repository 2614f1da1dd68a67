#!/usr/bin/env bash
# Builds the binaries of the Kubernetes test cluster (kube-apiserver, etcd,
# kubectl) from the Go module in tests/kube/ into a cache OUTSIDE the repo:
#
#   ${CPLAUNCHER_CACHE:-$HOME/.cache/cplauncher}/kube/<sha256 of tests/kube/go.sum>/bin/
#
# The key is the go.sum hash, so bumping any pinned version gives a new folder
# and an unchanged module reuses the old one. Build flags are not part of the
# key: after changing them here, delete the cache folder to force a rebuild.
# Nothing is built when all three binaries already exist. The bin dir is
# printed on the last line of stdout (all progress goes to stderr), which is
# what tests/support/kube_cluster.ts and scripts/kube.ts read.
#
# Needs only Go (and coreutils + flock): CGO is off, so no C toolchain either.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mod="$root/tests/kube"

# Go lookup, heartbeat and version stamps shared with the other Kubernetes build script.
# shellcheck source=lib/k8s_build.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/k8s_build.sh"
find_go kube_build

hash="$(sha256sum "$mod/go.sum" | cut -d' ' -f1)"
cache="${CPLAUNCHER_CACHE:-$HOME/.cache/cplauncher}/kube/$hash"
bin="$cache/bin"

have_all() {
  [[ -x "$bin/kube-apiserver" && -x "$bin/etcd" && -x "$bin/kubectl" ]]
}


if ! have_all; then
  mkdir -p "$cache"
  # Several test processes may start at once on a cold cache; the lock makes
  # the later ones wait for the first build instead of racing it.
  exec 9>"$cache/.lock"
  flock 9
  if ! have_all; then
    tmp="$cache/bin.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    k8s_version_flags "$mod" "$go_bin"
    echo "kube_build: building kube-apiserver, kubectl ($kver) and etcd into $bin;" \
      "about 12 min on 2 cores with a cold Go build cache (measured 716 s), seconds warm" >&2
    start=$(date +%s)
    (
      cd "$mod"
      export CGO_ENABLED=0
      # -mod=readonly: go.mod/go.sum are committed and complete; never let the
      # build rewrite them.
      with_heartbeat kube_build "kube-apiserver and kubectl" \
        "$go_bin" build -mod=readonly -trimpath -ldflags="-s -w$vflags" -o "$tmp/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
      # A separate -o: the package path ends in /v3, so go would name it "server".
      with_heartbeat kube_build etcd \
        "$go_bin" build -mod=readonly -trimpath -ldflags="-s -w" -o "$tmp/etcd" \
        go.etcd.io/etcd/server/v3
    )
    rm -rf "$bin"
    mv "$tmp" "$bin"
    echo "kube_build: done in $(($(date +%s) - start))s" >&2
  fi
  exec 9>&-
fi

echo "$bin"
