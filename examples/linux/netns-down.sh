#!/usr/bin/env bash
# Removes what examples/linux/netns-up.sh created (same environment variables). Deleting the
# namespace destroys its veth end, and with it the host end.
set -euo pipefail

NETNS="${NETNS:-albums}"
HOST_IF="${HOST_IF:-cpl-albums0}"

if [[ $(id -u) -ne 0 ]]; then
  echo "netns-down: must run as root" >&2
  exit 1
fi
if [[ -e "/var/run/netns/$NETNS" ]]; then
  ip netns del "$NETNS"
fi
if ip link show "$HOST_IF" >/dev/null 2>&1; then
  ip link del "$HOST_IF"
fi
echo "netns-down: $NETNS and $HOST_IF removed"
