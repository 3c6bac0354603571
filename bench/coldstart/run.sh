#!/usr/bin/env bash
# Cold start: how long a never-seen program takes to give its first result, side by side:
#   run auto       `wasmgrid run` on an empty cache (quick tier first, the default)
#   run optimised  `wasmgrid run --tier optimised` on an empty cache (cc -O2 first: before tiers)
#   node           Node.js's WASI running the same .wasm (it compiles on every run)
#   worker auto / worker optimised
#                  `wasmgrid submit --wait` of the program to a real manager with one fresh
#                  worker (empty data directory), end to end: upload, store, dispatch, the
#                  worker's fetch over its node connection, compile, run, report, commit;
#                  and, from the worker's log, how long the program took from its bytes
#                  being verified on the worker to its runnable form.
# Wall-clock milliseconds, median and range of RUNS runs (default 5), every run with an empty
# data directory. Each example gets a small argument: the program's start is measured, not
# its work.
# Usage: bench/coldstart/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-5}
OUT=build/bench-coldstart
make -s build/wasmgrid examples >/dev/null
rm -rf "$OUT"
mkdir -p "$OUT"
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT


EXAMPLES=(
	"primes|1 1000"
	"mandelbrot|-2 -1.5 1 1.5 32 24 100"
	"hashsearch|ab"
)

now_ms() { date +%s%3N; }

# The optimised builds that `run` leaves behind compete for the cores: none may run while
# something is timed.
quiet() {
	while pgrep -f "wasmgrid compile" >/dev/null; do sleep 0.1; done
}

# stats MS...: "median (min-max)"
stats() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		printf "%d (%d-%d)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

# A manager and one worker with empty data directories; sets API and the pids.
start_grid() {
	local tier=$1 d=$2
	mkdir -p "$d/m" "$d/w"
	build/wasmgrid manager --data "$d/m" --listen 127.0.0.1:0 --api 127.0.0.1:0 \
		--port-file "$d/m/port" --api-port-file "$d/m/api.port" 2>"$d/m/log" &
	MPID=$!
	while [ ! -s "$d/m/port" ] || [ ! -s "$d/m/api.port" ]; do sleep 0.02; done
	build/wasmgrid worker --data "$d/w" --manager "127.0.0.1:$(cat "$d/m/port")" --slots 1 \
		--tier "$tier" 2>"$d/w/log" &
	WPID=$!
	API=127.0.0.1:$(cat "$d/m/api.port")
	until build/wasmgrid workers --api "$API" 2>/dev/null | grep -q attached; do sleep 0.05; done
}

stop_grid() {
	kill "$WPID" "$MPID" 2>/dev/null || true
	wait "$WPID" "$MPID" 2>/dev/null || true
}

printf "%-11s %-15s %-15s %-15s %-15s %-15s %s\n" example "run auto" "run optimised" "node" \
	"worker auto" "worker optim." "worker: bytes to runnable (auto)"
for entry in "${EXAMPLES[@]}"; do
	name=${entry%%|*}
	arg=${entry#*|}
	wasm=build/examples/$name.wasm
	want=$OUT/$name.want
	node --no-warnings bench/node-wasi.cjs "$wasm" "$arg" >"$want"
	declare -A t=()
	for col in auto optimised node wauto woptimised; do t[$col]=""; done
	ready=()
	for i in $(seq "$RUNS"); do
		for tier in auto optimised; do
			d=$OUT/run-$tier-$i
			s=$(now_ms)
			build/wasmgrid run --tier "$tier" --data "$d" "$wasm" "$arg" >"$OUT/got"
			e=$(now_ms)
			cmp -s "$OUT/got" "$want" || { echo "$name: run --tier $tier differs" >&2; exit 1; }
			t[$tier]+="$((e - s)) "
			quiet
		done
		s=$(now_ms)
		node --no-warnings bench/node-wasi.cjs "$wasm" "$arg" >/dev/null
		e=$(now_ms)
		t[node]+="$((e - s)) "
		for tier in auto optimised; do
			d=$OUT/grid-$name-$tier-$i
			start_grid "$tier" "$d"
			s=$(now_ms)
			build/wasmgrid submit "$wasm" --arg "$arg" --api "$API" --wait >/dev/null 2>&1
			e=$(now_ms)
			job=1
			build/wasmgrid results "$job" --api "$API" --output-dir "$d/out" >/dev/null
			stop_grid
			cat "$d"/out/* >"$OUT/got"
			cmp -s "$OUT/got" "$want" || { echo "$name: worker --tier $tier differs" >&2; exit 1; }
			t[w$tier]+="$((e - s)) "
			if [ "$tier" = auto ]; then
				ready+=("$(sed -n 's/.*quick tier ready in \([0-9]*\) ms.*/\1/p' "$d/w/log" | head -1)")
			fi
		done
	done
	# shellcheck disable=SC2086
	printf "%-11s %-15s %-15s %-15s %-15s %-15s %s\n" "$name" "$(stats ${t[auto]})" \
		"$(stats ${t[optimised]})" "$(stats ${t[node]})" "$(stats ${t[wauto]})" \
		"$(stats ${t[woptimised]})" "$(stats "${ready[@]}")"
	unset t
done
rm -rf "$OUT"/run-* "$OUT"/grid-*
