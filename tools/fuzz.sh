#!/usr/bin/env bash
# Runs each libFuzzer target for a set time: tools/fuzz.sh BUILD_DIR SECONDS TARGET...
# Each starts from its checked-in seeds (fuzz/corpus/TARGET) and the inputs found by earlier
# runs (BUILD_DIR/corpus/TARGET, where new ones are written); one target per core at a time.
# A crash, leak, timeout or sanitizer report fails the run: the input that caused it is left
# in BUILD_DIR/crash-* and the target's log in BUILD_DIR/logs/TARGET.log. Prints one line per
# target: executions, coverage (edges) and features, corpus size, peak memory.
set -u
build=$1 seconds=$2
shift 2
mkdir -p "$build/logs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1

run_one() {
	local t=$1 log="$build/logs/$1.log"
	mkdir -p "$build/corpus/$t"
	"$build/fuzz-bin/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$build/crash-$t-" \
		"$build/corpus/$t" "fuzz/corpus/$t" >"$log" 2>&1
	local rc=$?
	local execs cov ft corp rss
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	corp=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
	if [ $rc -eq 0 ]; then
		printf 'fuzz %-18s ok    %10s execs in %ss, cov %s, ft %s, corpus %s, %s MB\n' \
			"$t" "${execs:-?}" "$seconds" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rss:-?}"
	else
		printf 'fuzz %-18s FAIL  (exit %d) see %s\n' "$t" $rc "$log"
		grep -m5 -E 'ERROR|SUMMARY|runtime error|deadly signal' "$log" | sed 's/^/    /'
	fi
	return $rc
}

jobs=$(nproc 2>/dev/null || echo 2)
failed=0 passed=0
pids=() names=()
for t in "$@"; do
	run_one "$t" > "$build/logs/$t.line" &
	pids+=($!) names+=("$t")
	if [ ${#pids[@]} -ge "$jobs" ]; then
		wait "${pids[0]}" && passed=$((passed + 1)) || failed=$((failed + 1))
		cat "$build/logs/${names[0]}.line"
		pids=("${pids[@]:1}") names=("${names[@]:1}")
	fi
done
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" && passed=$((passed + 1)) || failed=$((failed + 1))
	cat "$build/logs/${names[$i]}.line"
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
