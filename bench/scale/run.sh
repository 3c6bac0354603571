#!/usr/bin/env bash
# A job of a million tasks, end to end, as a user runs it: `wasmgrid submit --args-file` of
# TASKS increment.wasm arguments to a manager with two workers, `wasmgrid wait`, then
# `wasmgrid results` streaming every result; the manager's resident memory is sampled
# every 0.2 s throughout, and its peak (VmHWM) read at the end. Every result is checked.
# Usage: bench/scale/run.sh [TASKS]      (default 1000000; SLOTS=2 per worker)
set -euo pipefail
cd "$(dirname "$0")/../.."
tasks=${1:-1000000}
slots=${SLOTS:-2}
make -s all examples >/dev/null
bin=$PWD/build/wasmgrid wasm=$PWD/build/examples/increment.wasm
tmp=$(mktemp -d /tmp/wasmgrid-scale.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
ms() { date +%s%3N; }
seq 0 $((tasks - 1)) >"$tmp/args"
"$bin" manager --data "$tmp/m" --listen 127.0.0.1:0 --port-file "$tmp/port" --api 127.0.0.1:0 \
	--api-port-file "$tmp/api-port" --workers open 2>"$tmp/manager.log" &
manager=$!
while [ ! -s "$tmp/port" ] || [ ! -s "$tmp/api-port" ]; do sleep 0.1; done
api=127.0.0.1:$(cat "$tmp/api-port")
for w in 1 2; do
	"$bin" worker --manager "127.0.0.1:$(cat "$tmp/port")" --slots "$slots" --data "$tmp/w$w" \
		--managers open 2>"$tmp/worker$w.log" &
done
until [ "$("$bin" workers --api "$api" 2>/dev/null | grep -c attached)" -ge 2 ]; do sleep 0.1; done
# Untimed: both workers have the program on its optimised tier.
"$bin" submit "$wasm" $(printf -- '--arg %d ' 1 2 3 4 5 6 7 8) --wait --api "$api" >/dev/null 2>&1
until [ "$(cat "$tmp"/worker*.log | grep -c "compiled in")" -ge 2 ]; do sleep 0.2; done
(while kill -0 "$manager" 2>/dev/null; do
	awk '/VmRSS/ {print $2}' "/proc/$manager/status" 2>/dev/null || true
	sleep 0.2
done) >"$tmp/rss" &
t0=$(ms)
job=$("$bin" submit "$wasm" --args-file "$tmp/args" --api "$api")
t1=$(ms)
"$bin" wait "$job" --api "$api" >/dev/null 2>&1
t2=$(ms)
"$bin" results "$job" --api "$api" >"$tmp/results"
t3=$(ms)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$manager/status")
peak=$(sort -n "$tmp/rss" | tail -1)
# Lines are "INDEX STATUS RESULT"; argument INDEX gives INDEX + 1.
right=$(awk '$2 == "completed" && $3 == $1 + 1 { n++ } END { print n + 0 }' "$tmp/results")
lines=$(wc -l <"$tmp/results")
echo "tasks                     $tasks ($lines result lines, $right checked right)"
echo "submit (wasmgrid submit)  $(((t1 - t0)))  ms"
echo "run to the last result    $(((t2 - t1)))  ms  ($((tasks * 1000 / (t2 - t1 + 1))) tasks/s)"
echo "results streamed          $(((t3 - t2)))  ms"
echo "manager RSS peak          $((hwm / 1024)) MiB (VmHWM; largest sample $((peak / 1024)) MiB)"
[ "$right" -eq "$tasks" ] || { echo "scale: $((tasks - right)) results missing or wrong" >&2; exit 1; }
