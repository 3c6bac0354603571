#!/usr/bin/env bash
# A manager with many attached workers: WORKERS real `wasmgrid worker --slots 1 --tier quick`
# processes (each its own identity, data directory and connection; the quick tier keeps a
# thousand compilations of the program cheap) attach to one manager. Measured:
#   - the time until all are attached;
#   - the manager's CPU and memory while they are idle, for IDLE_S seconds (heartbeats:
#     every worker answers the manager's pings, and pings it), and workers lost meanwhile;
#   - a job of TASKS tasks over all of them, once each has run the program (an untimed job
#     of two tasks per worker first): its duration, and how evenly the tasks were spread
#     (tasks per worker: min, median, max, from each result's worker).
# Usage: bench/workers/run.sh [WORKERS]     (default 1000; IDLE_S=30 TASKS=20000
#        HEARTBEAT_MS=5000)
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-1000}
idle_s=${IDLE_S:-30}
tasks=${TASKS:-20000}
hb=${HEARTBEAT_MS:-5000}
make -s all examples >/dev/null
bin=$PWD/build/wasmgrid wasm=$PWD/build/examples/increment.wasm
tmp=$(mktemp -d /tmp/wasmgrid-workers.XXXXXX)
cleanup() {
	pkill -f -- "--data $tmp/" 2>/dev/null || true
	sleep 0.5
	pkill -9 -f -- "--data $tmp/" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
ms() { date +%s%3N; }
hz=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
"$bin" manager --data "$tmp/m" --listen 127.0.0.1:0 --port-file "$tmp/port" --api 127.0.0.1:0 \
	--api-port-file "$tmp/api-port" --workers open --heartbeat-ms "$hb" 2>"$tmp/manager.log" &
manager=$!
while [ ! -s "$tmp/port" ] || [ ! -s "$tmp/api-port" ]; do sleep 0.1; done
api=127.0.0.1:$(cat "$tmp/api-port")
port=$(cat "$tmp/port")
rss_empty=$(awk '/VmRSS/ {print $2}' "/proc/$manager/status")
attached() { curl -s "http://$api/metrics" | awk '$1 == "wasmgrid_workers_attached" {print $2}'; }
t0=$(ms)
for i in $(seq 1 "$n"); do
	"$bin" worker --manager "127.0.0.1:$port" --slots 1 --tier quick --data "$tmp/w$i" \
		--managers open --heartbeat-ms "$hb" 2>"$tmp/w$i.log" &
done
until [ "$(attached)" = "$n" ]; do sleep 0.5; done
t1=$(ms)
rss_start=$(awk '/VmRSS/ {print $2}' "/proc/$manager/status")
c0=$(cpu_ticks "$manager")
# The attached count, once a second (each sample is one small API request).
min_attached=$n
for _ in $(seq 1 "$idle_s"); do
	sleep 1
	a=$(attached)
	[ "$a" -lt "$min_attached" ] && min_attached=$a
done
c1=$(cpu_ticks "$manager")
rss_idle=$(awk '/VmRSS/ {print $2}' "/proc/$manager/status")
# Untimed: every worker compiles the program and starts its runner (a task or two each).
seq 0 $((2 * n - 1)) >"$tmp/warm"
"$bin" submit "$wasm" --args-file "$tmp/warm" --wait --api "$api" >/dev/null 2>&1 || true
seq 0 $((tasks - 1)) >"$tmp/args"
t2=$(ms)
job=$("$bin" submit "$wasm" --args-file "$tmp/args" --api "$api")
"$bin" wait "$job" --api "$api" >/dev/null 2>&1 || true # a failed task is counted below
t3=$(ms)
"$bin" results "$job" --api "$api" --json >"$tmp/results.json"
python3 - "$tmp/results.json" "$n" "$tasks" <<'PY'
import json, statistics, sys
n, tasks = int(sys.argv[2]), int(sys.argv[3])
# One result per line.
rs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
per = {}
right = 0
for r in rs:
    per[r.get("worker")] = per.get(r.get("worker"), 0) + 1
    right += r.get("status") == "completed" and r.get("result", "").strip() == str(int(r["index"]) + 1)
counts = sorted(per.values()) + [0] * (n - len(per))
counts.sort()
print(f"tasks per worker          min {counts[0]}, median {statistics.median(counts):.0f}, "
      f"max {counts[-1]} ({len(per)} of {n} workers ran some)")
print(f"results checked right     {right} of {tasks}")
errors = {}
for r in rs:
    if r.get("error"):
        k = (r["status"], r["error"], r.get("error_detail", "")[:80])
        errors[k] = errors.get(k, 0) + 1
for (status, kind, detail), count in sorted(errors.items(), key=lambda e: -e[1])[:5]:
    print(f"  {count} tasks {status} with {kind}: {detail}")
PY
idle_cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" -v s="$idle_s" 'BEGIN {printf "%.2f", (b - a) / hz / s * 100}')
echo "workers                   $n (heartbeat $hb ms)"
echo "all attached after        $((t1 - t0)) ms"
echo "manager CPU while idle    $idle_cpu% of a core over ${idle_s} s" \
	"($(awk -v c="$idle_cpu" -v n="$n" 'BEGIN {printf "%.4f", c / n}')% per worker)"
echo "manager RSS               $((rss_start / 1024)) MiB attached, $((rss_idle / 1024)) MiB after idling" \
	"($(( (rss_idle - rss_empty) / n )) KiB per worker over the $((rss_empty / 1024)) MiB of none)"
echo "fewest attached, idling   $min_attached of $n (sampled every second)"
echo "job of $tasks tasks       $((t3 - t2)) ms ($((tasks * 1000 / (t3 - t2 + 1))) tasks/s)"
