#!/usr/bin/env bash
# Where one round trip goes: a manager and one one-slot worker run one-task jobs in
# sequence (bench/jobs/wasmgrid_client.c latency: POST /v1/jobs, GET .../results?wait)
# while perf records the system calls of every process at their tracepoints (about a
# microsecond each, unlike strace). breakdown.py then cuts each job at the calls that mark a
# hop and prints the median time of every hop.
# Usage: bench/roundtrip/run.sh            (JOBS=200 after 20 untimed; root, for perf)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
JOBS=${JOBS:-200}
OUT=$ROOT/build/bench-roundtrip
command -v perf >/dev/null || { echo "roundtrip: perf is not installed" >&2; exit 1; }
make -s all examples >/dev/null
mkdir -p "$ROOT/build/bench"
gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Isrc -o "$ROOT/build/bench/wasmgrid_client" \
	bench/jobs/wasmgrid_client.c build/libwasmgrid.a $(pkg-config --libs libcurl libsodium)
rm -rf "$OUT" && mkdir -p "$OUT"
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
bin=$ROOT/build/wasmgrid wasm=$ROOT/build/examples/increment.wasm
"$bin" manager --listen 127.0.0.1:0 --port-file "$OUT/port" --api 127.0.0.1:0 \
	--api-port-file "$OUT/api-port" --data "$OUT/manager" --workers open 2>"$OUT/manager.log" &
manager=$!
while [ ! -s "$OUT/port" ] || [ ! -s "$OUT/api-port" ]; do sleep 0.1; done
"$bin" worker --manager "127.0.0.1:$(cat "$OUT/port")" --slots 1 --data "$OUT/worker" \
	--managers open 2>"$OUT/worker.log" &
worker=$!
api=127.0.0.1:$(cat "$OUT/api-port")
until "$bin" workers --api "$api" 2>/dev/null | grep -q attached; do sleep 0.1; done
# Untimed: the program compiled, on the optimised tier, and a runner started.
"$ROOT/build/bench/wasmgrid_client" "$api" "$wasm" throughput 40 >/dev/null
until grep -q "compiled in" "$OUT/worker.log"; do sleep 0.2; done
"$ROOT/build/bench/wasmgrid_client" "$api" "$wasm" latency 20 0 >/dev/null
runner=$(pgrep -P "$worker" | head -1)
events=read,write,writev,pwrite64,sendto,recvfrom
# --exclude-perf after each event: perf's own writes of its trace would be most of it.
perf record -q -a -o "$OUT/perf.data" $(for e in ${events//,/ }; do
	echo "-e syscalls:sys_enter_$e --exclude-perf -e syscalls:sys_exit_$e --exclude-perf"
done) 2>"$OUT/perf.log" &
perf_pid=$!
sleep 1
"$ROOT/build/bench/wasmgrid_client" "$api" "$wasm" latency "$JOBS" 20 >"$OUT/latency" &
client=$!
wait "$client"
kill -INT "$perf_pid"
wait "$perf_pid" || true
perf script -i "$OUT/perf.data" -F tid,time,event,trace 2>/dev/null >"$OUT/events"
echo "$client $manager $worker $runner" >"$OUT/tids"
python3 bench/roundtrip/breakdown.py "$OUT/events" "$client" "$manager" "$worker" "$runner" \
	"$OUT/latency"
