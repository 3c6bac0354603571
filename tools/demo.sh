#!/usr/bin/env bash
# `make demo`: a manager and one worker per core on loopback, a real job, its results.
# Everything runs in a temporary directory and is stopped cleanly at the end; with --keep
# (`make demo KEEP=1`) the cluster stays up, for the dashboard and the Python client,
# until Ctrl-C. It exits non-zero when the job does not complete with every result.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
KEEP=${2:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
W="$BUILD/wasmgrid"
TASKS=300
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

step "submitting a job: hash-pattern search over $TASKS arguments"
awk -v n=$TASKS 'BEGIN { for (i = 0; i < n; i++) printf "%05x\n", i * 7919 }' > "$DIR/args"
JOB=$("$W" submit "$BUILD/examples/hashsearch.wasm" --args-file "$DIR/args" \
	--name "demo: hash search" --api "$API")
echo "job $JOB"
step "wasmgrid wait $JOB"
"$W" wait "$JOB" --api "$API"
step "wasmgrid status $JOB"
"$W" status "$JOB" --api "$API"
step "first results (wasmgrid results $JOB)"
"$W" results "$JOB" --api "$API" > "$DIR/results"
head -n 12 "$DIR/results"
ok=$(awk '$2 == "completed"' "$DIR/results" | wc -l)
echo "... $ok of $TASKS tasks completed with a result"
[ "$ok" -eq "$TASKS" ] || { echo "demo: expected $TASKS results" >&2; exit 1; }

if [ "$KEEP" = --keep ]; then
	step "the cluster stays up until Ctrl-C"
	cat <<-EOT
	dashboard:  http://$API/
	CLI:        $W status --api $API
	Python:     PYTHONPATH=$ROOT/python python3 -c 'import wasmgrid;
	            c = wasmgrid.Client("$API"); print([r.text for r in c.job($JOB).results()][:5])'
	EOT
	trap 'echo' INT
	wait "${pids[0]}" || true
fi

step "stopping: the workers leave with ManagerBye, then the manager stops"
for p in "${pids[@]:1}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${pids[@]:1}"; do wait "$p" 2>/dev/null || true; done
kill -TERM "${pids[0]}" 2>/dev/null || true
wait 2>/dev/null || true
pids=()
grep -h "ManagerBye\|stopped" "$DIR"/manager.log | tail -n 4
