/*
 * Gearman client for the job-engine benchmark. Two workloads, matching the other systems:
 *
 *   gearman_client HOST PORT throughput N
 *	Submits N tasks "increment(i)" at once (gearman_client_add_task for each, then one
 *	gearman_client_run_tasks) and waits for every result. Prints "N SECONDS": the time
 *	from the first submission to the last result.
 *   gearman_client HOST PORT latency N WARMUP
 *	Runs WARMUP untimed, then N timed one-task jobs in sequence with gearman_client_do
 *	(submit one, wait for its result, repeat). Prints each round trip in milliseconds,
 *	one per line.
 *
 * Every result is checked (it must be the argument plus one); a wrong or missing result
 * makes the run fail, so a broken setup cannot report a fast figure. Waits are bounded by a
 * no-progress timeout, and the process dies with its parent.
 */
#include <libgearman-1.0/gearman.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

/* Longest the client waits without any progress before it gives up. */
#define STALL_TIMEOUT_MS 30000
#define ARG_LEN 24
#define MAX_TASKS 10000000

/*
 * Tasks handed to one gearman_client_run_tasks call. libgearman looks up the task of every
 * packet it receives by walking the list of outstanding tasks, so one call with all 20,000
 * tasks spends its time in that walk (quadratic: 1.1 s of client CPU, half the run). Batches
 * of 1,000 keep the walk short; the pause between batches is one round trip.
 */
#ifndef BATCH
#define BATCH 1000
#endif

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Checks that a result of SIZE bytes is the decimal text of ARG + 1. */
static int result_ok(long arg, const void *result, size_t size)
{
	char expect[ARG_LEN];
	int len = snprintf(expect, sizeof expect, "%ld", arg + 1);
	return result != NULL && size == (size_t)len && memcmp(result, expect, size) == 0;
}

/* Counts of the throughput run, shared with the completion callback. */
static long completed;
static long wrong;

static gearman_return_t on_complete(gearman_task_st *task)
{
	long arg = (long)(intptr_t)gearman_task_context(task);
	if (result_ok(arg, gearman_task_data(task), gearman_task_data_size(task)))
		completed++;
	else
		wrong++;
	return GEARMAN_SUCCESS;
}

static int run_throughput(gearman_client_st *client, long n)
{
	char(*args)[ARG_LEN] = NULL;
	gearman_return_t ret;
	double start, elapsed;
	int status = 1;

	/* The argument texts must outlive the tasks that point at them. */
	args = calloc((size_t)n, sizeof *args);
	if (args == NULL) {
		fprintf(stderr, "gearman_client: out of memory\n");
		goto out;
	}
	for (long i = 0; i < n; i++)
		snprintf(args[i], ARG_LEN, "%ld", i);
	gearman_client_add_options(client, GEARMAN_CLIENT_FREE_TASKS);
	gearman_client_set_complete_fn(client, on_complete);

	start = now_s();
	for (long first = 0; first < n; first += BATCH) {
		long end = first + BATCH < n ? first + BATCH : n;
		for (long i = first; i < end; i++) {
			gearman_client_add_task(client, NULL, (void *)(intptr_t)i, "increment",
						args[i], args[i], strlen(args[i]), &ret);
			if (ret != GEARMAN_SUCCESS) {
				fprintf(stderr, "gearman_client: add_task: %s\n",
					gearman_client_error(client));
				goto out;
			}
		}
		ret = gearman_client_run_tasks(client);
		if (ret != GEARMAN_SUCCESS) {
			fprintf(stderr, "gearman_client: run_tasks: %s\n",
				gearman_client_error(client));
			goto out;
		}
	}
	elapsed = now_s() - start;
	if (completed != n || wrong != 0) {
		fprintf(stderr, "gearman_client: %ld of %ld results correct, %ld wrong\n",
			completed, n, wrong);
		goto out;
	}
	printf("%ld %.6f\n", n, elapsed);
	status = 0;
out:
	free(args);
	return status;
}

/* One synchronous round trip; returns its duration in seconds, or -1 on failure. */
static double round_trip(gearman_client_st *client, long arg)
{
	char text[ARG_LEN];
	gearman_return_t ret;
	size_t size = 0;
	double start, elapsed;
	void *result;
	int len = snprintf(text, sizeof text, "%ld", arg);

	start = now_s();
	result = gearman_client_do(client, "increment", NULL, text, (size_t)len, &size, &ret);
	elapsed = now_s() - start;
	if (ret != GEARMAN_SUCCESS || !result_ok(arg, result, size)) {
		fprintf(stderr, "gearman_client: do(%ld): %s\n", arg,
			ret != GEARMAN_SUCCESS ? gearman_client_error(client) : "wrong result");
		elapsed = -1;
	}
	free(result);
	return elapsed;
}

static int run_latency(gearman_client_st *client, long n, long warmup)
{
	for (long i = 0; i < warmup; i++)
		if (round_trip(client, i) < 0)
			return 1;
	for (long i = 0; i < n; i++) {
		double t = round_trip(client, i);
		if (t < 0)
			return 1;
		printf("%.6f\n", t * 1e3);
	}
	return 0;
}

int main(int argc, char **argv)
{
	gearman_client_st *client = NULL;
	gearman_return_t ret;
	long n, warmup = 0;
	int status = 2;

	if (argc < 5 || (strcmp(argv[3], "throughput") == 0 && argc != 5) ||
	    (strcmp(argv[3], "latency") == 0 && argc != 6)) {
		fprintf(stderr, "usage: %s HOST PORT throughput N | HOST PORT latency N WARMUP\n",
			argv[0]);
		return 2;
	}
	n = atol(argv[4]);
	if (argc == 6)
		warmup = atol(argv[5]);
	if (n <= 0 || n > MAX_TASKS || warmup < 0 || warmup > MAX_TASKS) {
		fprintf(stderr, "gearman_client: counts must be in 1..%d\n", MAX_TASKS);
		return 2;
	}
	prctl(PR_SET_PDEATHSIG, SIGTERM);

	status = 1;
	client = gearman_client_create(NULL);
	if (client == NULL) {
		fprintf(stderr, "gearman_client: cannot create client\n");
		goto out;
	}
	ret = gearman_client_add_server(client, argv[1], (in_port_t)atoi(argv[2]));
	if (ret != GEARMAN_SUCCESS) {
		fprintf(stderr, "gearman_client: add_server: %s\n", gearman_client_error(client));
		goto out;
	}
	gearman_client_set_timeout(client, STALL_TIMEOUT_MS);
	if (strcmp(argv[3], "throughput") == 0)
		status = run_throughput(client, n);
	else if (strcmp(argv[3], "latency") == 0)
		status = run_latency(client, n, warmup);
	else
		fprintf(stderr, "gearman_client: unknown workload %s\n", argv[3]);
out:
	if (client != NULL)
		gearman_client_free(client);
	return status;
}
