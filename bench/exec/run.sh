#!/usr/bin/env bash
# Execution benchmark: each CPU-bound example run three ways on the same input:
#   native    gcc -O2 of the same C source
#   wasmgrid  `wasmgrid run` with a warm cache (fork, load, sandbox, run)
#   node      Node.js's WASI running the same .wasm
# and the first-run cost of `wasmgrid run` (download, wasm2c, cc) on an empty cache.
# Times are CPU seconds (user + system, including every child process: the sandboxed
# task for wasmgrid, the JIT threads for node), best of RUNS (default 5): on a shared
# machine, wall-clock time mostly measures the neighbours. The compile column is wall-clock.
# Usage: bench/exec/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5}
OUT=build/bench-exec
make -s build/wasmgrid examples >/dev/null
mkdir -p "$OUT"


# name and argument (chosen to take 1-3 s natively on a 2020s x86-64 core)
EXAMPLES=(
	"primes|1 8000000"
	"mandelbrot|-2 -1.5 1 1.5 1000 1000 2000"
	"hashsearch|c0ffee0"
)

# best_of CMD...: the least CPU time (user + system) of RUNS runs, in seconds.
best_of() {
	local best="" t
	for _ in $(seq "$RUNS"); do
		t=$( { TIMEFORMAT='%U %S'; time "$@" >/dev/null 2>&1; } 2>&1 | awk '{print $1 + $2}' )
		if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN{exit !(a<b)}'; then best=$t; fi
	done
	echo "$best"
}

printf "%-11s %9s %11s %8s %14s %11s %14s\n" example "native s" "wasmgrid s" "node s" \
	"wasmgrid/nat" "node/nat" "compile s"
for entry in "${EXAMPLES[@]}"; do
	name=${entry%%|*}
	arg=${entry#*|}
	wasm=build/examples/$name.wasm
	gcc -O2 -o "$OUT/$name" "examples/$name.c"

	# The three must agree before their times mean anything.
	a=$("$OUT/$name" "$arg" | sha256sum)
	data=$(mktemp -d "$OUT/data.XXXXXX")
	first=$( { TIMEFORMAT=%R; time build/wasmgrid run --data "$data" "$wasm" "$arg" >/dev/null; } 2>&1 )
	warm=$( { TIMEFORMAT=%R; time build/wasmgrid run --data "$data" "$wasm" "$arg" >/dev/null; } 2>&1 )
	b=$(build/wasmgrid run --data "$data" "$wasm" "$arg" | sha256sum)
	c=$(node --no-warnings bench/node-wasi.cjs "$wasm" "$arg" | sha256sum)
	if [ "$a" != "$b" ] || [ "$a" != "$c" ]; then
		echo "$name: outputs differ (native $a, wasmgrid $b, node $c)" >&2
		exit 1
	fi

	native=$(best_of "$OUT/$name" "$arg")
	wasmgrid=$(best_of build/wasmgrid run --data "$data" "$wasm" "$arg")
	nodejs=$(best_of node --no-warnings bench/node-wasi.cjs "$wasm" "$arg")
	rm -rf "$data"
	awk -v n="$name" -v na="$native" -v w="$wasmgrid" -v no="$nodejs" -v f="$first" -v wr="$warm" 'BEGIN {
		printf "%-11s %9.2f %11.2f %8.2f %13.2fx %10.2fx %14.2f\n",
			n, na, w, no, w / na, no / na, f - wr }'
done
