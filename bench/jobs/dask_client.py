"""Dask client for the job-engine benchmark. Same two workloads as gearman_client.c:

    dask_client.py SCHEDULER_FILE throughput N
        Submits N tasks increment(str(i)) with client.map and collects the results as they
        complete (as_completed, gathered batch by batch). Prints "N SECONDS", from just before client.map to the last result.
    dask_client.py SCHEDULER_FILE latency N WARMUP
        WARMUP untimed, then N timed one-task jobs in sequence: client.submit(...).result().
        Prints each round trip in milliseconds, one per line.

Every result is checked (argument plus one); a wrong or missing result fails the run.
Run it with Debian's /usr/bin/python3, which has python3-distributed.
"""
import signal
import sys
import time

from distributed import Client, as_completed

# Longest wait for a worker or a result before giving up: the benchmark must never hang.
STALL_TIMEOUT_S = 60
# Longest the whole client may run. as_completed has no timeout in this version of
# distributed, so an alarm bounds it: SIGALRM's default action ends the process.
MAX_RUN_S = 600
WORKERS = 2


def increment(arg):
    """The task: a decimal integer in, the integer plus one out (as text, like the others)."""
    return str(int(arg) + 1)


def throughput(client, n):
    args = [str(i) for i in range(n)]
    done = 0
    start = time.perf_counter()
    # pure=False: each task gets a fresh key, as a new job would; nothing is deduplicated.
    futures = client.map(increment, args, pure=False)
    index_of = {future.key: i for i, future in enumerate(futures)}
    # Results are fetched as their tasks complete, one gather per batch of completed futures:
    # as_completed(..., with_results=True) would cost one round trip per result and measure our
    # client rather than Dask.
    for batch in as_completed(futures).batches():
        for future, result in zip(batch, client.gather(batch)):
            index = index_of[future.key]
            if result != str(index + 1):
                raise SystemExit(f"dask_client: task {index} returned {result!r}")
            done += 1
    elapsed = time.perf_counter() - start
    if done != n:
        raise SystemExit(f"dask_client: {done} of {n} results")
    print(f"{n} {elapsed:.6f}")


def round_trip(client, i):
    start = time.perf_counter()
    result = client.submit(increment, str(i), pure=False).result(timeout=STALL_TIMEOUT_S)
    elapsed = time.perf_counter() - start
    if result != str(i + 1):
        raise SystemExit(f"dask_client: task {i} returned {result!r}")
    return elapsed


def latency(client, n, warmup):
    for i in range(warmup):
        round_trip(client, i)
    samples = [round_trip(client, i) for i in range(n)]
    sys.stdout.write("".join(f"{s * 1e3:.6f}\n" for s in samples))


def main():
    if len(sys.argv) < 4 or sys.argv[2] not in ("throughput", "latency"):
        raise SystemExit(__doc__)
    scheduler_file, workload, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    signal.alarm(MAX_RUN_S)
    with Client(scheduler_file=scheduler_file, timeout=STALL_TIMEOUT_S) as client:
        client.wait_for_workers(WORKERS, timeout=STALL_TIMEOUT_S)
        if workload == "throughput":
            throughput(client, n)
        else:
            latency(client, n, int(sys.argv[4]) if len(sys.argv) > 4 else 0)


if __name__ == "__main__":
    main()
