#!/usr/bin/env bash
# Several managers on one PostgreSQL store drain one job together: TASKS tasks that each
# keep a core busy for SLEEP_MS (build/examples/t_slow.wasm), submitted to the first
# manager, timed from submission to the end of `wasmgrid wait`:
#   one:  one manager with WORKERS one-slot workers;
#   two:  two managers sharing the store, WORKERS workers each (the second's workers take
#         tasks of the job through the shared store).
# The default, one worker per manager, fits a two-core machine: one worker uses one core,
# two use both.
# Usage: bench/managers/run.sh      Environment: TASKS (200), SLEEP_MS (50), WORKERS (1).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
RUN=$ROOT/build/bench/managers-run
BIN=$ROOT/build/wasmgrid
TASKS=${TASKS:-200}
SLEEP_MS=${SLEEP_MS:-50}
WORKERS=${WORKERS:-1}
log() { echo "managers: $*" >&2; }
[ -x "$BIN" ] && [ -f build/examples/t_slow.wasm ] || { log "run 'make' first"; exit 1; }
BINDIR=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$BINDIR" ] || { log "PostgreSQL is not installed (tools/deps.sh)"; exit 1; }
AS=()
[ "$(id -u)" = 0 ] && AS=(runuser -u postgres --)
PIDS=()
SOCK=

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	sleep 0.5
	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	if [ -n "$SOCK" ]; then
		"${AS[@]}" "$BINDIR/pg_ctl" -D "$RUN/pg/data" -w -m fast stop >/dev/null 2>&1 || true
		rm -rf "$SOCK"
	fi
}
trap cleanup EXIT

rm -rf "$RUN"
mkdir -p "$RUN/pg"
SOCK=$(mktemp -d /tmp/wgbench-pg.XXXXXX)
[ "$(id -u)" = 0 ] && chown postgres "$RUN/pg" "$SOCK"
"${AS[@]}" "$BINDIR/initdb" -D "$RUN/pg/data" -A trust -U postgres -E UTF8 --no-instructions \
	>"$RUN/initdb.log" 2>&1
"${AS[@]}" "$BINDIR/pg_ctl" -D "$RUN/pg/data" -w -l "$RUN/pg/server.log" \
	-o "-k $SOCK -c listen_addresses=" start >/dev/null
for t in $(seq "$TASKS"); do echo "$SLEEP_MS"; done >"$RUN/args"

wait_port() {
	local i
	for i in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
	log "no $1"
	return 1
}

# run NAME MANAGERS: a fresh store, MANAGERS managers with WORKERS workers each; prints the
# seconds the job took.
run() {
	local name=$1 managers=$2 dir=$RUN/$1 db=wasmgrid_$1 i w api attached start end
	mkdir -p "$dir"
	"${AS[@]}" "$BINDIR/createdb" -h "$SOCK" -U postgres "$db"
	local uri="postgresql://postgres@/$db?host=$SOCK"
	for i in $(seq "$managers"); do
		"$BIN" manager --listen 127.0.0.1:0 --port-file "$dir/port$i" --api 127.0.0.1:0 \
			--api-port-file "$dir/api$i" --data "$dir/m$i" --store "$uri" \
			>"$dir/m$i.log" 2>&1 &
		PIDS+=($!)
		wait_port "$dir/port$i"
		wait_port "$dir/api$i"
		for w in $(seq "$WORKERS"); do
			"$BIN" worker --manager "127.0.0.1:$(cat "$dir/port$i")" --slots 1 \
				--data "$dir/w$i-$w" >"$dir/w$i-$w.log" 2>&1 &
			PIDS+=($!)
		done
	done
	for i in $(seq "$managers"); do
		api=127.0.0.1:$(cat "$dir/api$i")
		for w in $(seq 100); do
			attached=$("$BIN" workers --json --api "$api" | grep -o '"attached"' | wc -l)
			[ "$attached" -ge "$WORKERS" ] && break
			sleep 0.1
		done
	done
	api=127.0.0.1:$(cat "$dir/api1")
	# Untimed: every worker compiles the program (quick tier, then cc -O2).
	local warm
	warm=$("$BIN" submit build/examples/t_slow.wasm --api "$api" --args-file <(
		for t in $(seq $((managers * WORKERS * 2))); do echo 1; done) | head -n 1)
	"$BIN" wait "$warm" --api "$api" >/dev/null 2>&1
	for w in $(seq 300); do
		[ "$(cat "$dir"/w*.log | grep -c "compiled in")" -ge $((managers * WORKERS)) ] && break
		sleep 0.1
	done
	start=$(date +%s.%N)
	local job
	job=$("$BIN" submit build/examples/t_slow.wasm --api "$api" --args-file "$RUN/args" |
		head -n 1)
	"$BIN" wait "$job" --api "$api" >/dev/null 2>&1
	end=$(date +%s.%N)
	local done_n
	done_n=$("$BIN" status "$job" --json --api "$api" | grep -o '"completed":[0-9]*' | head -n 1)
	[ "$done_n" = "\"completed\":$TASKS" ] || { log "$name: $done_n, not $TASKS"; exit 1; }
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	PIDS=()
	awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }'
}

one=$(run one 1)
two=$(run two 2)
printf '%-6s %8s %10s %12s\n' setup workers seconds "tasks/s"
awk -v t="$TASKS" -v w="$WORKERS" -v a="$one" -v b="$two" 'BEGIN {
	printf "%-6s %8d %10.2f %12.1f\n", "one", w, a, t / a
	printf "%-6s %8d %10.2f %12.1f\n", "two", 2 * w, b, t / b
	printf "(%d tasks of %d ms; two managers on one PostgreSQL store: %.2fx the rate of one)\n", t, '"$SLEEP_MS"', a / b }'
