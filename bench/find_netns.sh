#!/usr/bin/env bash
# find_netns IP: prints the `ip netns` name whose interfaces carry IP (IPv4), the way an
# operator would script it: every named namespace, `ip -o addr` in each, first match.
# Sourced by baseline.sh; run directly it does the lookup for its argument.
find_netns() {
  local want="$1" ns
  for ns in $(ip netns list | cut -d' ' -f1); do
    if ip -n "$ns" -o -4 addr show 2>/dev/null | grep -qF " $want/"; then
      echo "$ns"
      return 0
    fi
  done
  return 1
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  find_netns "$1"
fi
