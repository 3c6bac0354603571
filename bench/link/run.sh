#!/usr/bin/env bash
# Secure link throughput on loopback (src/net/link.c).
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s -j2 build/libwasmgrid.a
PKGS="libuv libprotobuf-c libsodium"
cc -std=c11 -D_GNU_SOURCE -O2 -Isrc $(pkg-config --cflags $PKGS) -o build/link_bench \
	bench/link/link_bench.c build/libwasmgrid.a $(pkg-config --libs $PKGS)
build/link_bench
