/*
 * Gearman worker for the job-engine benchmark: registers the function "increment", whose
 * argument is a decimal integer and whose result is that integer plus one, in decimal.
 *
 * Usage: gearman_worker HOST PORT MAX_SECONDS
 *
 * It serves one job at a time (one worker = one slot, like a one-thread Dask worker) until it
 * is killed, its parent dies, or MAX_SECONDS have passed: every benchmark process must end on
 * its own even if the script that started it is killed without running its traps.
 */
#include <errno.h>
#include <limits.h>
#include <libgearman-1.0/gearman.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

/* The longest argument we accept: a 64-bit integer in decimal, with sign, fits in 20 bytes. */
#define MAX_ARG_LEN 32

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Parses the workload as a decimal integer and answers with the integer plus one. The result
 * is allocated with malloc because libgearman frees it after sending. A malformed argument
 * fails the job rather than the worker.
 */
static void *increment(gearman_job_st *job, void *context, size_t *result_size,
		       gearman_return_t *ret)
{
	const char *workload = gearman_job_workload(job);
	size_t len = gearman_job_workload_size(job);
	char arg[MAX_ARG_LEN + 1];
	char *end;
	long long n;
	char *result;
	int written;

	(void)context;
	*result_size = 0;
	*ret = GEARMAN_WORK_FAIL;
	if (len == 0 || len > MAX_ARG_LEN)
		return NULL;
	memcpy(arg, workload, len);
	arg[len] = '\0';
	errno = 0;
	n = strtoll(arg, &end, 10);
	if (errno != 0 || *end != '\0' || n == LLONG_MAX)
		return NULL;
	result = malloc(MAX_ARG_LEN);
	if (result == NULL)
		return NULL;
	written = snprintf(result, MAX_ARG_LEN, "%lld", n + 1);
	*result_size = (size_t)written;
	*ret = GEARMAN_SUCCESS;
	return result;
}

int main(int argc, char **argv)
{
	gearman_worker_st *worker = NULL;
	gearman_return_t ret;
	double deadline;
	int status = 1;

	if (argc != 4) {
		fprintf(stderr, "usage: %s HOST PORT MAX_SECONDS\n", argv[0]);
		return 2;
	}
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	deadline = now_s() + atof(argv[3]);

	worker = gearman_worker_create(NULL);
	if (worker == NULL) {
		fprintf(stderr, "gearman_worker: cannot create worker\n");
		goto out;
	}
	ret = gearman_worker_add_server(worker, argv[1], (in_port_t)atoi(argv[2]));
	if (ret != GEARMAN_SUCCESS) {
		fprintf(stderr, "gearman_worker: add_server: %s\n", gearman_worker_error(worker));
		goto out;
	}
	ret = gearman_worker_add_function(worker, "increment", 0, increment, NULL);
	if (ret != GEARMAN_SUCCESS) {
		fprintf(stderr, "gearman_worker: add_function: %s\n", gearman_worker_error(worker));
		goto out;
	}
	/* Wake up every second when idle, so the deadline is checked even with no jobs. */
	gearman_worker_set_timeout(worker, 1000);

	while (now_s() < deadline) {
		ret = gearman_worker_work(worker);
		if (ret == GEARMAN_SUCCESS || ret == GEARMAN_TIMEOUT || ret == GEARMAN_NO_JOBS ||
		    ret == GEARMAN_IO_WAIT)
			continue;
		fprintf(stderr, "gearman_worker: work: %s\n", gearman_worker_error(worker));
		goto out;
	}
	status = 0;
out:
	if (worker != NULL)
		gearman_worker_free(worker);
	return status;
}
