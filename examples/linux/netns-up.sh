#!/usr/bin/env bash
# Creates the network namespace used by examples/static-netns.yaml: a namespace with a veth
# pair to the host, so the host (and only the host) reaches the workload on its own address.
#
#   sudo bash examples/linux/netns-up.sh     # then: cplauncher run -c examples/static-netns.yaml
#   curl http://10.231.0.2:8080/albums       # from the host
#   sudo bash examples/linux/netns-down.sh
#
# Environment (defaults in brackets): NETNS [albums], HOST_IF [cpl-albums0],
# HOST_ADDR [10.231.0.1/24], NETNS_ADDR [10.231.0.2/24]. Needs root and iproute2.
set -euo pipefail

NETNS="${NETNS:-albums}"
HOST_IF="${HOST_IF:-cpl-albums0}"
HOST_ADDR="${HOST_ADDR:-10.231.0.1/24}"
NETNS_ADDR="${NETNS_ADDR:-10.231.0.2/24}"

if [[ $(id -u) -ne 0 ]]; then
  echo "netns-up: must run as root (creating namespaces needs CAP_SYS_ADMIN)" >&2
  exit 1
fi
if [[ -e "/var/run/netns/$NETNS" ]]; then
  echo "netns-up: /var/run/netns/$NETNS already exists; run netns-down.sh first to recreate it" >&2
  exit 0
fi

ip netns add "$NETNS"
# Undo everything if a later step fails, so a retry starts clean.
trap 'ip link del "$HOST_IF" 2>/dev/null || true; ip netns del "$NETNS" 2>/dev/null || true' ERR

ip link add "$HOST_IF" type veth peer name eth0 netns "$NETNS"
ip addr add "$HOST_ADDR" dev "$HOST_IF"
ip link set "$HOST_IF" up
ip -n "$NETNS" link set lo up
ip -n "$NETNS" addr add "$NETNS_ADDR" dev eth0
ip -n "$NETNS" link set eth0 up
ip -n "$NETNS" route add default via "${HOST_ADDR%/*}"

echo "netns-up: /var/run/netns/$NETNS ready: ${NETNS_ADDR%/*} inside, ${HOST_ADDR%/*} on $HOST_IF"
