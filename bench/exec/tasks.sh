#!/usr/bin/env bash
# Engine per-task overhead (bench/exec/tasks.c): TASKS (10000) trivial tasks through one
# engine with 1 and 2 slots. Usage: bench/exec/tasks.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
TASKS=${TASKS:-10000}
make -s -j2 build/libwasmgrid.a build/examples/increment.wasm
PKGS="libuv libprotobuf-c libsodium sqlite3 libcurl libseccomp"
cc -std=c11 -D_GNU_SOURCE -O2 -Isrc $(pkg-config --cflags $PKGS) -rdynamic -o build/tasks_bench \
	bench/exec/tasks.c build/libwasmgrid.a $(pkg-config --libs $PKGS) -lpthread -ldl -lm
data=build/bench-exec/tasks-data
mkdir -p "$data"
for slots in 1 2; do
	build/tasks_bench "$data" build/examples/increment.wasm "$TASKS" "$slots"
done
