#!/bin/sh
# Installs Debian's containerd (with ctr) so the benchmark can run it as a
# peer. Needs root; does nothing when both are already there.
set -e
if command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "bench:peer: installing containerd needs root" >&2; exit 1; fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends containerd >/dev/null
# The daemon the package starts is not the one the benchmark uses: it runs
# its own on a private root and socket.
