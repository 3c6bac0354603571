#!/usr/bin/env bash
# How long a manager's loop stalls when a large job is cancelled: a manager without workers
# holds one job of TASKS increment.wasm tasks (default 1,000,000); `wasmgrid cancel` runs
# while curl requests GET /v1/workers one after the other, each timed.
# Usage: bench/cancel/run.sh [TASKS] [WASMGRID...]   (several binaries: side by side)
set -euo pipefail
cd "$(dirname "$0")/../.."
tasks=${1:-1000000}
shift || true
bins=("$@")
[ ${#bins[@]} -eq 0 ] && bins=(build/wasmgrid)
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
seq 1 "$tasks" > "$tmp/args"
for bin in "${bins[@]}"; do
	d="$tmp/data"
	rm -rf "$d" && mkdir -p "$d"
	"$bin" manager --data "$d" --listen 127.0.0.1:0 --api 127.0.0.1:0 \
		--api-port-file "$d/api.port" --port-file "$d/port" 2>"$d/log" &
	mp=$!
	while [ ! -s "$d/api.port" ]; do sleep 0.1; done
	api=127.0.0.1:$(cat "$d/api.port")
	"$bin" submit build/examples/increment.wasm --args-file "$tmp/args" --api "$api" >/dev/null
	(while true; do curl -s -o /dev/null -w '%{time_total}\n' "http://$api/v1/workers"; done) \
		> "$tmp/lat" &
	probe=$!
	sleep 1
	s=$(date +%s%N)
	"$bin" cancel 1 --api "$api" >/dev/null
	e=$(date +%s%N)
	while [ "$(sqlite3 "$d/manager.db" 'SELECT count(*) FROM tasks WHERE state IN (0, 1)' 2>/dev/null)" != 0 ]; do
		sleep 0.05
	done
	e2=$(date +%s%N)
	sleep 0.5
	kill $probe; wait $probe 2>/dev/null || true
	kill $mp; wait $mp || true
	sort -n "$tmp/lat" > "$tmp/lat.sorted"
	n=$(wc -l < "$tmp/lat.sorted")
	printf '%s: %d tasks: cancel answered in %d ms, tasks all marked %d ms later; %d other requests, longest %s s, second longest %s s, median %s s\n' \
		"$bin" "$tasks" $(( (e - s) / 1000000 )) $(( (e2 - e) / 1000000 )) "$n" \
		"$(tail -1 "$tmp/lat.sorted")" "$(tail -2 "$tmp/lat.sorted" | head -1)" \
		"$(sed -n "$(( (n + 1) / 2 ))p" "$tmp/lat.sorted")"
done
