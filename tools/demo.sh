#!/usr/bin/env bash
# `make demo`: a manager and one worker per core on loopback, a real job, its results.
# Everything runs in a temporary directory and is stopped cleanly at the end.
set -euo pipefail
BUILD=${1:-build}
W="$PWD/$BUILD/wasmgrid"
DIR=$(mktemp -d /tmp/wasmgrid-demo.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "demo: logs were in $DIR (removed)"
	rm -rf "$DIR"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "starting a manager on loopback"
"$W" manager --listen 127.0.0.1:0 --api 127.0.0.1:0 --data "$DIR/manager" \
	--port-file "$DIR/port" --api-port-file "$DIR/api-port" 2>"$DIR/manager.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$DIR/api-port" ] && [ -s "$DIR/port" ] && break; sleep 0.05; done
PORT=$(cat "$DIR/port"); API="127.0.0.1:$(cat "$DIR/api-port")"
echo "manager $("$W" id --data "$DIR/manager") on 127.0.0.1:$PORT, API on $API"

N=$(nproc)
step "starting $N workers (one per core)"
for i in $(seq "$N"); do
	"$W" worker --manager "127.0.0.1:$PORT" --slots 1 --data "$DIR/worker$i" 2>"$DIR/worker$i.log" &
	pids+=($!)
done
for _ in $(seq 100); do
	[ "$("$W" workers --json --api "$API" | grep -o '"attached"' | wc -l)" -ge "$N" ] && break
	sleep 0.1
done

step "wasmgrid workers"
"$W" workers --api "$API"

if "$W" help | grep -q '^  wasmgrid submit'; then
	step "submitting a job: hash-pattern search over 300 arguments"
	awk 'BEGIN { for (i = 0; i < 300; i++) printf "%05x\n", i * 7919 }' > "$DIR/args"
	JOB=$("$W" submit "$BUILD/examples/hashsearch.wasm" --args-file "$DIR/args" --api "$API")
	echo "job $JOB"
	step "wasmgrid wait $JOB"
	"$W" wait "$JOB" --api "$API" || true
	step "wasmgrid status $JOB"
	"$W" status "$JOB" --api "$API"
	step "first results (wasmgrid results $JOB)"
	"$W" results "$JOB" --api "$API" | head -n 12
fi

step "stopping: the workers leave with ManagerBye, then the manager stops"
for p in "${pids[@]:1}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${pids[@]:1}"; do wait "$p" 2>/dev/null || true; done
kill -TERM "${pids[0]}" 2>/dev/null || true
wait 2>/dev/null || true
pids=()
grep -h "ManagerBye\|stopped" "$DIR"/manager.log | tail -n 4
