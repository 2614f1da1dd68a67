#!/usr/bin/env bash
# Prepares everything the Windows proofs need on a Debian 12 (bookworm) Linux host:
#
#   * host: x86_64-w64-mingw32-gcc/g++ (ABI test, Wine helper program), mmdebstrap;
#   * a Debian 13 (trixie) root with Wine 10 under $CACHE/wine-root, because bookworm's
#     Wine 8 cannot start deno.exe (no ProcessPrng; V8 then crashes on VirtualAlloc2
#     placeholder flags) while trixie's Wine 10 runs it unmodified;
#   * the Windows Deno (@deno/win32-x64, same version as the Linux deno) inside that root;
#   * an initialised WINEPREFIX inside the root, so the first test run does not pay wineboot.
#
# Idempotent: every step is skipped when its stamp/output already exists. Prints the paths
# as KEY=VALUE lines at the end (tests/windows/wine_test.ts reads them).
#
# Usage: scripts/wine_setup.sh [--host-only]
#   --host-only   only install the host packages (enough for the ABI test).
# Needs root (apt-get, mmdebstrap, chroot) and the Debian and npm registries.
#
# Environment: CPLAUNCHER_CACHE (default $HOME/.cache/cplauncher),
#              DEBIAN_MIRROR (default http://deb.debian.org/debian),
#              DENO_WIN_VERSION (default: the version of the `deno` on PATH).
set -euo pipefail

CACHE="${CPLAUNCHER_CACHE:-$HOME/.cache/cplauncher}"
ROOT="$CACHE/wine-root"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
HOST_ONLY=0
[[ "${1:-}" == "--host-only" ]] && HOST_ONLY=1

t0=$(date +%s)
log() { printf 'wine_setup: [%3ds] %s\n' "$(($(date +%s) - t0))" "$*" >&2; }

if [[ $(id -u) -ne 0 ]]; then
  log "must run as root (apt-get, mmdebstrap, chroot)"
  exit 1
fi

# One setup at a time: test files running in parallel would otherwise race on apt's lock and
# on half-built roots.
mkdir -p "$CACHE"
exec 9>"$CACHE/.wine_setup.lock"
flock 9

# --- host packages ---------------------------------------------------------------------
need=()
# Only the win32-threads flavour: the gcc-mingw-w64-x86-64 metapackage would also pull the
# posix flavour, doubling the download for nothing we use.
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64-win32)
# g++ because the ABI test decomposes function types with C++ templates (see abi_test.ts).
command -v x86_64-w64-mingw32-g++ >/dev/null || need+=(g++-mingw-w64-x86-64-win32)
if [[ $HOST_ONLY -eq 0 ]]; then
  # mmdebstrap rather than debootstrap: it downloads through apt (pipelined) instead of one
  # wget per package, which measured 68 s instead of 108 s for this root.
  command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
fi
if ((${#need[@]})); then
  log "installing host packages: ${need[*]}"
  install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" \
      >"$CACHE/apt.log" 2>&1
  }
  mkdir -p "$CACHE"
  # Try the existing package lists first (`update` costs ~10 s); refresh them only when they
  # are missing or stale.
  if ! install; then
    apt-get update -qq
    install || {
      tail -n 20 "$CACHE/apt.log" >&2
      exit 1
    }
  fi
fi
if [[ $HOST_ONLY -eq 1 ]]; then
  echo "MINGW_GCC=$(command -v x86_64-w64-mingw32-gcc)"
  echo "MINGW_GXX=$(command -v x86_64-w64-mingw32-g++)"
  exit 0
fi

# --- trixie root with Wine --------------------------------------------------------------
# Only the 64-bit Wine packages and the Essential set (no apt, no recommends): deno.exe and our
# helpers are x86_64, and everything else is download time.
WINE_PKGS="wine64,wine,libwine"
if [[ ! -f "$ROOT/.cplauncher-root-ok" ]]; then
  log "building a trixie root in $ROOT (essential + $WINE_PKGS)"
  rm -rf "$ROOT"
  mkdir -p "$CACHE"
  # Check-Valid-Until off, as on the host: the mirror may serve a dated snapshot.
  mmdebstrap --variant=essential --include="$WINE_PKGS" \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    trixie "$ROOT" "$MIRROR" >"$CACHE/mmdebstrap.log" 2>&1 || {
    log "mmdebstrap failed; tail of $CACHE/mmdebstrap.log:"
    tail -n 30 "$CACHE/mmdebstrap.log" >&2
    exit 1
  }
  touch "$ROOT/.cplauncher-root-ok"
fi

WINE_BIN=""
for c in /usr/bin/wine /usr/lib/wine/wine64 /usr/bin/wine64; do
  # -L too: /usr/bin/wine is an absolute symlink that only resolves inside the chroot.
  if [[ -x "$ROOT$c" || -L "$ROOT$c" ]]; then
    WINE_BIN="$c"
    break
  fi
done
[[ -n "$WINE_BIN" ]] || {
  log "no wine binary inside $ROOT"
  exit 1
}

# --- Windows deno ------------------------------------------------------------------------
if [[ -z "${DENO_WIN_VERSION:-}" ]]; then
  command -v deno >/dev/null || {
    log "no deno on PATH: set DENO_WIN_VERSION to the Linux deno's version"
    exit 1
  }
  DENO_WIN_VERSION=$(deno --version | awk 'NR==1 {print $2}')
fi
DENO_EXE="$ROOT/opt/deno-$DENO_WIN_VERSION/deno.exe"
if [[ ! -f "$DENO_EXE" ]]; then
  log "fetching @deno/win32-x64@$DENO_WIN_VERSION from npm"
  tmp=$(mktemp -d)
  # `npm pack` fetches the tarball without the os/cpu check `npm install` would apply.
  (cd "$tmp" && npm pack --silent "@deno/win32-x64@$DENO_WIN_VERSION" >/dev/null)
  tar -xzf "$tmp"/deno-win32-x64-*.tgz -C "$tmp"
  mkdir -p "$(dirname "$DENO_EXE")"
  mv "$tmp/package/deno.exe" "$DENO_EXE"
  rm -rf "$tmp"
fi

# --- WINEPREFIX --------------------------------------------------------------------------
# The chroot sees the host's name server so the Windows deno could reach the npm registry;
# the tests avoid that (they run --cached-only against a DENO_DIR filled from Linux).
cp -f /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
PREFIX_IN_ROOT=/opt/wineprefix
if [[ ! -f "$ROOT$PREFIX_IN_ROOT/system.reg" ]]; then
  log "initialising WINEPREFIX"
  # A private mount namespace makes the bind mounts vanish with the process, even on error.
  # shellcheck disable=SC2016 # $1/$2 expand in the inner shell, on purpose
  unshare --mount --propagation private -- sh -c '
    set -e
    R="$1"
    mount -t proc proc "$R/proc"
    mount --rbind /dev "$R/dev"
    exec chroot "$R" env -i PATH=/usr/bin:/bin HOME=/root WINEPREFIX="$2" WINEDEBUG=-all \
      WINEDLLOVERRIDES="mscoree,mshtml=" sh -c "wineboot -i >/dev/null 2>&1; wineserver -w"
  ' _ "$ROOT" "$PREFIX_IN_ROOT"
fi

log "done in $(($(date +%s) - t0)) s"
echo "WINE_ROOT=$ROOT"
echo "WINE_BIN=$WINE_BIN"
echo "WINEPREFIX_IN_ROOT=$PREFIX_IN_ROOT"
echo "DENO_EXE=$DENO_EXE"
echo "DENO_EXE_IN_ROOT=${DENO_EXE#"$ROOT"}"
echo "MINGW_GCC=$(command -v x86_64-w64-mingw32-gcc)"
echo "MINGW_GXX=$(command -v x86_64-w64-mingw32-g++)"
