#!/bin/sh
# Runs a kernel test in a network namespace of its own, so that its nftables
# table and its sockets never touch the host's. Usage: in-netns.sh TEST [ARGS]
set -eu

if [ "$(id -u)" -ne 0 ]; then
  # TAP: the whole program is skipped.
  echo "1..0 # SKIP the kernel tests need root (nftables, other uids, SOCK_DESTROY)"
  exit 0
fi

if [ "${SG_IN_NETNS:-}" != 1 ]; then
  SG_IN_NETNS=1 exec unshare --net -- "$0" "$@"
fi

ip link set lo up
exec "$@"
