#!/usr/bin/env bash
# The job core alone (bench/core/core.c): the store's CPU time per task for assignment and
# the Started and Completed reports, on a real SQLite file, without network or workers.
# Usage: bench/core/run.sh     (TASKS=100000 BATCH=64)
set -euo pipefail
cd "$(dirname "$0")/../.."
TASKS=${TASKS:-100000}
BATCH=${BATCH:-64}
make -s -j2 build/libwasmgrid.a
PKGS="libuv libprotobuf-c libsodium sqlite3 libcurl libseccomp"
mkdir -p build/bench
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Isrc $(pkg-config --cflags $PKGS) \
	-o build/bench/core bench/core/core.c build/libwasmgrid.a $(pkg-config --libs $PKGS) \
	-lpthread -ldl -lm
db=$(mktemp -d /tmp/wasmgrid-core.XXXXXX)
trap 'rm -rf "$db"' EXIT
for k in 1 3; do
	build/bench/core "$db/jobs.db" "$TASKS" "$BATCH" "$k"
	echo
done
