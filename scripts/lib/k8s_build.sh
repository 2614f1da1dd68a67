# Shared by kube_build.sh and node_build.sh (sourced, not run): both build Kubernetes
# binaries from the same k8s.io/kubernetes module in tests/kube.

# Sets go_bin: $GO, else `go` on PATH, else /usr/local/go/bin/go; exits naming PREFIX when
# there is none. Usage: find_go PREFIX
find_go() {
  go_bin="${GO:-}"
  [[ -n "$go_bin" ]] && return 0
  if command -v go >/dev/null 2>&1; then
    go_bin="$(command -v go)"
  elif [[ -x /usr/local/go/bin/go ]]; then
    go_bin=/usr/local/go/bin/go
  else
    echo "$1: no Go toolchain found (set GO=/path/to/go)" >&2
    exit 1
  fi
}

# `go build` prints nothing for minutes; say every 30 s that it is still working.
# Usage: with_heartbeat PREFIX WHAT COMMAND...
with_heartbeat() {
  local prefix="$1" what="$2"
  shift 2
  local start=$SECONDS last=$SECONDS
  "$@" &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((SECONDS - last >= 30)); then
      last=$SECONDS
      echo "$prefix: still building $what, $((SECONDS - start))s elapsed" >&2
    fi
  done
  wait "$pid"
}

# Sets kver and vflags: the version stamps hack/lib/version.sh would set. Without them the
# binaries report v0.0.0-master, which kubectl flags as a version skew, and kubelet and
# apiserver would disagree. Usage: k8s_version_flags MODULE_DIR GO
k8s_version_flags() {
  local mod="$1" go_bin="$2" kmajor kminor pkg
  kver="$(cd "$mod" && "$go_bin" list -m -f '{{.Version}}' k8s.io/kubernetes)"
  kmajor="${kver#v}"
  kmajor="${kmajor%%.*}"
  kminor="${kver#v*.}"
  kminor="${kminor%%.*}"
  vflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    vflags+=" -X $pkg.gitVersion=$kver -X $pkg.gitMajor=$kmajor -X $pkg.gitMinor=$kminor"
    vflags+=" -X $pkg.gitTreeState=clean"
  done
}
