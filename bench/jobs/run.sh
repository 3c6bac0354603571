#!/usr/bin/env bash
# Job-engine benchmark: wasmgrid beside Dask distributed and Gearman, on two workloads.
#   throughput: THROUGHPUT_TASKS trivial tasks (a decimal integer in, that integer plus one
#               out) through one scheduler and two one-slot workers, first submit to last
#               result, in tasks/s;
#   latency:    LATENCY_JOBS one-task jobs in sequence (submit, wait for the result, repeat),
#               median and p99 round trip in ms, after LATENCY_WARMUP untimed ones.
# Each system runs alone, on loopback ports the kernel picks, and is stopped before the next
# starts. Prints one table (and writes build/bench/jobs.tsv); see bench/jobs/README.md.
#
# Usage: bench/jobs/run.sh [SYSTEM...]     (default: dask dask-unqueued gearman wasmgrid;
#        also wasmgrid-pg and wasmgrid-pg2: the jobs in PostgreSQL, one and two managers)
# Environment: THROUGHPUT_TASKS (20000), LATENCY_JOBS (500), LATENCY_WARMUP (20),
#              GEARMAND_THREADS (0), BENCH_MAX_SECONDS (900: lifetime of every process).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/build/bench
RUN=$OUT/jobs-run
THROUGHPUT_TASKS=${THROUGHPUT_TASKS:-20000}
LATENCY_JOBS=${LATENCY_JOBS:-500}
LATENCY_WARMUP=${LATENCY_WARMUP:-20}
GEARMAND_THREADS=${GEARMAND_THREADS:-0}
BENCH_MAX_SECONDS=${BENCH_MAX_SECONDS:-900}
# Debian's Python, which has python3-distributed; the python3 first on PATH may not.
PY=/usr/bin/python3
SYSTEMS=("$@")
[ ${#SYSTEMS[@]} -gt 0 ] || SYSTEMS=(dask dask-unqueued gearman wasmgrid)
# Exit status of a system's function when it cannot run here (not built): a skip, not a failure.
SKIP=77

log() { echo "jobs: $*" >&2; }

install_deps() {
	local pkgs="python3-distributed gearman-job-server libgearman-dev gcc" missing="" p
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	log "installing Debian packages:$missing"
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	# policy-rc.d keeps the gearman-job-server service from starting where it is honoured;
	# where it is not, that daemon listens on 4730, never on the port we use.
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >&2
}

build_helpers() {
	local name
	mkdir -p "$OUT"
	for name in gearman_worker gearman_client; do
		gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -o "$OUT/$name" \
			"bench/jobs/$name.c" -lgearman
	done
	# The wasmgrid client uses the project's JSON code: build/libwasmgrid.a (make all).
	if [ -f "$ROOT/build/libwasmgrid.a" ]; then
		gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Isrc -o "$OUT/wasmgrid_client" \
			bench/jobs/wasmgrid_client.c "$ROOT/build/libwasmgrid.a" \
			$(pkg-config --libs libcurl libsodium)
	fi
}

# --- Processes ---------------------------------------------------------------------------
# Every process is started through `timeout`, so it ends by itself after BENCH_MAX_SECONDS
# even if this script is killed without running its traps. Each is recorded in $RUN/pids as
# "PID STARTTIME", and killed only if that pid still has that start time (never a reused pid).

pid_start_time() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }

# start NAME CMD...: starts CMD in the background, output in $RUN/NAME.log; its pid (that of
# its `timeout`) in STARTED.
STARTED=
start() {
	local name=$1
	shift
	timeout --kill-after=5 "$BENCH_MAX_SECONDS" "$@" >"$RUN/$name.log" 2>&1 &
	STARTED=$!
	echo "$STARTED $(pid_start_time "$STARTED")" >>"$RUN/pids"
}

# run_client CMD...: runs CMD to its end, recorded like the daemons so that an interrupted
# run stops it too; returns its exit status.
run_client() {
	local pid
	timeout --kill-after=5 "$BENCH_MAX_SECONDS" "$@" &
	pid=$!
	echo "$pid $(pid_start_time "$pid")" >>"$RUN/pids"
	wait "$pid"
}

# Stops every recorded process, the last started first (workers before their server): TERM
# (timeout passes it on), a bounded wait, then KILL for what is left, with the children of
# `timeout` too. Processes may exit on their own meanwhile, so no failure here is an error.
stop_all() {
	local - pid start alive i
	set +e
	[ -f "$RUN/pids" ] || return 0
	tac "$RUN/pids" >"$RUN/pids.stop"
	while read -r pid start; do
		[ "$(pid_start_time "$pid")" = "$start" ] && kill -TERM "$pid" 2>/dev/null
	done <"$RUN/pids.stop"
	for i in $(seq 50); do
		alive=0
		while read -r pid start; do
			[ "$(pid_start_time "$pid")" = "$start" ] && alive=1
		done <"$RUN/pids.stop"
		[ $alive = 0 ] && break
		sleep 0.1
	done
	while read -r pid start; do
		if [ "$(pid_start_time "$pid")" = "$start" ]; then
			pkill -KILL -P "$pid" 2>/dev/null
			kill -KILL "$pid" 2>/dev/null
		fi
	done <"$RUN/pids.stop"
	rm -f "$RUN/pids" "$RUN/pids.stop"
	return 0
}

# The TCP port a process listens on, from /proc: its socket inodes matched against the
# listening sockets in /proc/net/tcp. Used for daemons that bind port 0 but do not say
# which port they got.
listen_port() {
	local inodes hex
	inodes=$(find "/proc/$1/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null |
		tr -dc '0-9\n' | tr '\n' ' ')
	[ -n "$inodes" ] || return 1
	hex=$(awk -v inodes=" $inodes" 'NR > 1 && $4 == "0A" && index(inodes, " " $10 " ") {
		split($2, a, ":"); print a[2]; exit }' /proc/net/tcp)
	[ -n "$hex" ] || return 1
	echo $((16#$hex))
}

# wait_for SECONDS WHAT PID CMD...: polls CMD every 0.1 s until it succeeds, at most SECONDS,
# and gives up at once if process PID (the one that should get ready) has exited.
wait_for() {
	local seconds=$1 what=$2 pid=$3 i
	shift 3
	for i in $(seq $((seconds * 10))); do
		"$@" && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$what: exited before it was ready; see ${RUN#"$ROOT"/}/*.log"
			return 1
		fi
		sleep 0.1
	done
	log "$what: not ready after ${seconds}s"
	return 1
}

# --- Systems -----------------------------------------------------------------------------
# bench_SYSTEM runs in its own subshell with `set -e` and $SYSTEM set to its name: it starts
# its system, leaves the throughput result in $RUN/$SYSTEM.throughput ("TASKS SECONDS") and the
# latency samples in $RUN/$SYSTEM.latency (ms, one a line), and exits 0; $SKIP if it cannot
# run here. Its processes are stopped when it returns (see main). Adding a system is adding
# one such function (and its name to the default list above).

bench_dask() {
	local dir=$RUN/$SYSTEM scheduler
	mkdir -p "$dir/config"
	# An empty configuration directory: no user's ~/.config/dask changes the figures.
	export DASK_CONFIG=$dir/config
	# The scheduler's and workers' HTTP servers start even with --no-dashboard, on
	# 0.0.0.0:8787 by default: --dashboard-address keeps them on loopback, port 0.
	start dask-scheduler "$PY" /usr/bin/dask scheduler --host 127.0.0.1 --port 0 \
		--no-dashboard --dashboard-address 127.0.0.1:0 --scheduler-file "$dir/scheduler.json"
	scheduler=$STARTED
	wait_for 60 "dask scheduler" "$scheduler" test -s "$dir/scheduler.json"
	for w in 1 2; do
		start "dask-worker$w" "$PY" /usr/bin/dask worker --scheduler-file "$dir/scheduler.json" \
			--nthreads 1 --no-nanny --no-dashboard --dashboard-address 127.0.0.1:0 \
			--host 127.0.0.1 --local-directory "$dir/worker$w"
	done
	# The client waits for both workers before it starts its clock.
	run_client "$PY" bench/jobs/dask_client.py "$dir/scheduler.json" \
		throughput "$THROUGHPUT_TASKS" >"$RUN/$SYSTEM.throughput"
	run_client "$PY" bench/jobs/dask_client.py "$dir/scheduler.json" \
		latency "$LATENCY_JOBS" "$LATENCY_WARMUP" >"$RUN/$SYSTEM.latency"
}

# Dask with scheduler-side queuing off. Since distributed 2022.11 the scheduler holds tasks
# back until a worker has a free thread (worker-saturation 1.1: at most two tasks on a
# one-thread worker), so each task is sent on its own when a slot frees and waits for a
# worker-scheduler exchange. With saturation "inf" every task is sent to a worker at once,
# in large batches, as before 2022.11: the best Dask does on this workload.
bench_dask-unqueued() {
	export DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION=inf
	bench_dask
}

# How many workers gearmand has for "increment", from its text admin command "status"
# (lines "FUNCTION\tTOTAL\tRUNNING\tAVAILABLE_WORKERS", then ".").
gearman_workers() {
	local name total running available count=0
	{ exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
	printf 'status\n' >&3
	while IFS=$'\t' read -r -t 2 name total running available <&3; do
		[ "$name" = . ] && break
		[ "$name" = increment ] && count=$available
	done
	exec 3<&-
	echo "$count"
}

gearman_has_workers() {
	local count
	count=$(gearman_workers "$1") || return 1
	[ "${count:-0}" -ge "$2" ]
}

bench_gearman() {
	local dir=$RUN/$SYSTEM port="" pid daemon
	mkdir -p "$dir"
	# --threads 0 runs gearmand's I/O in its main thread: on two cores shared with two
	# workers and a client, its default of four I/O threads halves its rate.
	start gearmand /usr/sbin/gearmand --listen 127.0.0.1 --port 0 \
		--threads "$GEARMAND_THREADS" --log-file "$dir/gearmand.log" \
		--pid-file "$dir/gearmand.pid"
	daemon=$STARTED
	wait_for 30 "gearmand" "$daemon" test -s "$dir/gearmand.pid"
	pid=$(cat "$dir/gearmand.pid")
	wait_for 30 "gearmand port" "$daemon" listen_port "$pid" >/dev/null
	port=$(listen_port "$pid")
	log "gearman: gearmand pid $pid on 127.0.0.1:$port"
	for w in 1 2; do
		start "gearman-worker$w" "$OUT/gearman_worker" 127.0.0.1 "$port" "$BENCH_MAX_SECONDS"
	done
	wait_for 30 "gearman workers" "$daemon" gearman_has_workers "$port" 2
	run_client "$OUT/gearman_client" 127.0.0.1 "$port" \
		throughput "$THROUGHPUT_TASKS" >"$RUN/$SYSTEM.throughput"
	run_client "$OUT/gearman_client" 127.0.0.1 "$port" \
		latency "$LATENCY_JOBS" "$LATENCY_WARMUP" >"$RUN/$SYSTEM.latency"
}

# wasmgrid: `wasmgrid manager` and two `wasmgrid worker --slots 1`, driven over the HTTP API
# by wasmgrid_client.c on one kept-alive connection (the other clients keep theirs open too).
# wasmgrid_run STORE MANAGERS: MANAGERS (1 or 2) managers on STORE ("sqlite", or a
# PostgreSQL URI they share), the two workers spread over them, the client on the first.
wasmgrid_run() {
	local store=$1 managers=$2 dir=$RUN/$SYSTEM bin=$ROOT/build/wasmgrid
	local wasm=$ROOT/build/examples/increment.wasm api manager i
	if [ ! -x "$bin" ] || [ ! -f "$wasm" ]; then
		log "wasmgrid: build/wasmgrid or build/examples/increment.wasm missing, skipped"
		exit $SKIP
	fi
	mkdir -p "$dir"
	for i in $(seq "$managers"); do
		start "wasmgrid-manager$i" "$bin" manager --listen 127.0.0.1:0 --port-file "$dir/port$i" \
			--api 127.0.0.1:0 --api-port-file "$dir/api-port$i" --data "$dir/manager$i" \
			--workers open --store "$store"
		manager=$STARTED
		wait_for 60 "wasmgrid manager" "$manager" test -s "$dir/api-port$i"
		wait_for 60 "wasmgrid manager" "$manager" test -s "$dir/port$i"
	done
	api=127.0.0.1:$(cat "$dir/api-port1")
	for w in 1 2; do
		i=$(((w - 1) % managers + 1))
		start "wasmgrid-worker$w" "$bin" worker --manager "127.0.0.1:$(cat "$dir/port$i")" \
			--slots 1 --data "$dir/worker$w" --managers open
	done
	wasmgrid_has_workers() {
		local n=0 i
		for i in $(seq "$managers"); do
			n=$((n + $("$bin" workers --json --api "127.0.0.1:$(cat "$dir/api-port$i")" \
				2>/dev/null | grep -o '"attached"' | wc -l)))
		done
		[ "$n" -ge 2 ]
	}
	wait_for 60 "wasmgrid workers" "$manager" wasmgrid_has_workers
	# Untimed: both workers compile the program once (it stays in their cache), as Dask's
	# and Gearman's workers have their function loaded before the clock starts (through
	# each manager: one manager's short job may end before another's workers ask).
	for i in $(seq "$managers"); do
		run_client "$OUT/wasmgrid_client" "127.0.0.1:$(cat "$dir/api-port$i")" "$wasm" \
			throughput 40 >/dev/null
	done
	# The first tasks ran on the quick tier; the clock starts once both workers have the
	# optimised one too (its `cc -O2` would otherwise share the cores with the timed run).
	wasmgrid_compiled() {
		[ "$(cat "$RUN"/wasmgrid-worker[12].log | grep -c "compiled in")" -ge 2 ]
	}
	wait_for 120 "wasmgrid workers' optimised tier" "$manager" wasmgrid_compiled
	run_client "$OUT/wasmgrid_client" "$api" "$wasm" throughput "$THROUGHPUT_TASKS" \
		>"$RUN/$SYSTEM.throughput"
	run_client "$OUT/wasmgrid_client" "$api" "$wasm" latency "$LATENCY_JOBS" \
		"$LATENCY_WARMUP" >"$RUN/$SYSTEM.latency"
}

bench_wasmgrid() {
	wasmgrid_run sqlite 1
}

# A PostgreSQL server of this run (Debian's postgresql), with PostgreSQL's defaults: fsync
# and synchronous_commit on, so every commit is on disk before it returns (SQLite's WAL with
# synchronous=NORMAL, the default store, does not fsync each commit). Its data in $RUN/pg,
# its socket in a short directory (a socket's path must fit in 107 bytes); stopped by
# stop_pg, or by cleanup if the run is interrupted. Prints the store's URI.
start_pg() {
	local bindir dir=$RUN/pg sock as=()
	bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
		log "$SYSTEM: PostgreSQL is not installed (tools/deps.sh installs it), skipped"
		exit $SKIP
	fi
	sock=$(mktemp -d /tmp/wgbench-pg.XXXXXX)
	mkdir -p "$dir"
	# PostgreSQL refuses to run as root: then as the package's postgres user.
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$dir" "$sock"
		as=(runuser -u postgres --)
	fi
	echo "$bindir $dir $sock" >"$RUN/pg.server"
	"${as[@]}" "$bindir/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 \
		--no-instructions >"$RUN/pg-initdb.log" 2>&1
	"${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -w -l "$dir/server.log" \
		-o "-k $sock -c listen_addresses=" start >&2
	"${as[@]}" "$bindir/createdb" -h "$sock" -U postgres wasmgrid
	echo "postgresql://postgres@/wasmgrid?host=$sock"
}

stop_pg() {
	local bindir dir sock as=()
	[ -f "$RUN/pg.server" ] || return 0
	read -r bindir dir sock <"$RUN/pg.server"
	[ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
	"${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -w -m fast stop >/dev/null 2>&1 || true
	rm -rf "$sock" "$RUN/pg.server"
}

# The same with the jobs in PostgreSQL (--store), one manager, then two sharing the store
# with a worker each (the client submits to the first; both drain the job).
bench_wasmgrid-pg() {
	local uri
	uri=$(start_pg)
	wasmgrid_run "$uri" 1
}

bench_wasmgrid-pg2() {
	local uri
	uri=$(start_pg)
	wasmgrid_run "$uri" 2
}

# --- Results -----------------------------------------------------------------------------

# "TASKS SECONDS" -> tasks/s; fails unless TASKS is what was asked.
throughput_of() {
	awk -v want="$THROUGHPUT_TASKS" 'NR == 1 && $1 == want && $2 > 0 {
		printf "%.0f", $1 / $2; ok = 1 } END { exit !ok }' "$1"
}

# Latency samples -> "MEDIAN P99" in ms: median of the sorted samples (mean of the middle two
# for an even count), p99 by nearest rank (the ceil(0.99 n)-th smallest). Fails unless there
# are as many samples as jobs asked.
latency_of() {
	sort -g "$1" | awk -v want="$LATENCY_JOBS" '{ v[NR] = $1 } END {
		if (NR != want || NR == 0) exit 1
		median = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		rank = int(0.99 * NR); if (rank < 0.99 * NR) rank++
		printf "%.3f %.3f", median, v[rank] }'
}

# The subshell running the current system; killed first on interruption, so that it starts
# nothing more while its processes are being stopped.
CHILD=
cleanup() {
	local status=$?
	if [ -n "$CHILD" ]; then
		kill -KILL "$CHILD" 2>/dev/null
		wait "$CHILD" 2>/dev/null
	fi
	stop_all
	stop_pg
	exit $status
}

main() {
	local system status throughput latency median p99 rows=()
	install_deps
	build_helpers
	rm -rf "$RUN"
	mkdir -p "$RUN"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	for system in "${SYSTEMS[@]}"; do
		if ! declare -F "bench_$system" >/dev/null; then
			log "unknown system $system"
			exit 2
		fi
		log "$system: running ($THROUGHPUT_TASKS tasks; $LATENCY_JOBS jobs)"
		# In the background and waited for, so that a TERM or INT to this script is handled
		# at once rather than when the current client finishes. Only this shell stops
		# processes: after each system, or in cleanup on the way out.
		set +e
		(
			set -e
			SYSTEM=$system
			"bench_$system"
		) &
		CHILD=$!
		wait "$CHILD"
		status=$?
		CHILD=
		stop_all
		stop_pg
		set -e
		throughput=- median=- p99=-
		if [ $status = 0 ] && throughput=$(throughput_of "$RUN/$system.throughput") &&
			latency=$(latency_of "$RUN/$system.latency"); then
			read -r median p99 <<<"$latency"
			status=ok
		elif [ $status = $SKIP ]; then
			throughput=- status=skipped
		else
			log "$system: failed (exit $status); logs in ${RUN#"$ROOT"/}"
			throughput=- status=failed
		fi
		rows+=("$system	$throughput	$median	$p99	$status")
	done
	{
		printf 'system\tthroughput_tasks_per_s\tmedian_ms\tp99_ms\tstatus\n'
		printf '%s\n' "${rows[@]}"
	} >"$OUT/jobs.tsv"
	printf '%-14s %18s %10s %10s  %s\n' system "throughput tasks/s" "median ms" "p99 ms" status
	tail -n +2 "$OUT/jobs.tsv" | while IFS=$'\t' read -r system throughput median p99 status; do
		printf '%-14s %18s %10s %10s  %s\n' "$system" "$throughput" "$median" "$p99" "$status"
	done
	echo "(also in ${OUT#"$ROOT"/}/jobs.tsv; $THROUGHPUT_TASKS tasks through 2 one-slot workers;" \
		"latency over $LATENCY_JOBS sequential jobs)"
	grep -q 'failed$' "$OUT/jobs.tsv" && return 1
	return 0
}

main
