/* The job core alone (src/manager/jobs.c, sched.c on a real SQLite file): what the manager
 * spends per task on its store, without the network, the workers or the API. One job of N
 * tasks; the loop then does what the dispatcher does for a busy worker each turn: one
 * transaction holding an assignment of BATCH tasks and the Started and Completed reports of
 * the previous batch. Prints the submit time and the CPU time per task of each phase.
 * Usage: core DB TASKS BATCH REDUNDANCY */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "manager/jobs.h"

static double cpu_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static double wall_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void check(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "core: %s failed: %d\n", what, rc);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: core DB TASKS BATCH REDUNDANCY\n");
		return 2;
	}
	size_t n = strtoul(argv[2], NULL, 10), batch = strtoul(argv[3], NULL, 10);
	uint32_t k = (uint32_t)strtoul(argv[4], NULL, 10);
	char why[512];
	struct wg_jobs *j;
	remove(argv[1]);
	if (wg_jobs_open(argv[1], NULL, &j, why, sizeof why) != 0) {
		fprintf(stderr, "core: %s\n", why);
		return 1;
	}
	static const uint8_t program[] = "\0asm\1\0\0\0";
	char hash[65];
	check(wg_jobs_program_put(j, program, sizeof program - 1, hash), "program_put");
	struct wg_jobs_arg *args = calloc(n, sizeof *args);
	char(*text)[16] = calloc(n, sizeof *text);
	for (size_t i = 0; i < n; i++) {
		args[i].len = (size_t)snprintf(text[i], sizeof text[i], "%zu", i);
		args[i].data = (const uint8_t *)text[i];
	}
	struct wg_job_options o;
	wg_job_options_init(&o);
	o.redundancy = k;
	o.quorum = k;
	const char *addr = "wasmgrid://x";
	uint64_t job;
	double t0 = wall_s(), c0 = cpu_us();
	check(wg_jobs_submit(j, hash, &addr, 1, &o, args, n, &job), "submit");
	double submit_s = wall_s() - t0, submit_us = cpu_us() - c0;

	/* k workers, so that every replica has a worker of its own. */
	char names[8][8];
	for (uint32_t w = 0; w < k && w < 8; w++)
		snprintf(names[w], sizeof names[w], "w%u", w);
	double assign_us = 0, started_us = 0, completed_us = 0, commit_us = 0;
	size_t done = 0, turns = 0;
	t0 = wall_s();
	while (done < n * k) {
		for (uint32_t w = 0; w < k; w++) {
			struct wg_assignment *a = NULL;
			size_t na = 0;
			check(wg_jobs_begin(j), "begin");
			double c = cpu_us();
			check(wg_jobs_assign(j, names[w], (uint32_t)batch, &a, &na), "assign");
			double c1 = cpu_us();
			for (size_t i = 0; i < na; i++)
				check(wg_jobs_started(j, names[w], a[i].attempt_id, 0, NULL),
				      "started");
			double c2 = cpu_us();
			for (size_t i = 0; i < na; i++) {
				char r[24];
				int len = snprintf(r, sizeof r, "%.*s+1", (int)a[i].argument_len,
						   (const char *)a[i].argument);
				check(wg_jobs_completed(j, names[w], a[i].attempt_id, (uint8_t *)r,
							(size_t)len, 1, NULL),
				      "completed");
			}
			double c3 = cpu_us();
			check(wg_jobs_commit(j), "commit");
			commit_us += cpu_us() - c3;
			assign_us += c1 - c;
			started_us += c2 - c1;
			completed_us += c3 - c2;
			done += na;
			turns++;
			wg_assignments_free(a, na);
		}
	}
	double run_s = wall_s() - t0;
	enum wg_job_state st;
	check(wg_jobs_state(j, job, &st), "state");
	if (st != WG_JOB_COMPLETED) {
		fprintf(stderr, "core: the job ended %s\n", wg_job_state_name(st));
		return 1;
	}
	double per = (double)n;
	printf("tasks %zu  batch %zu  redundancy %u  turns %zu\n", n, batch, k, turns);
	printf("submit     %8.3f s  %6.2f us CPU/task\n", submit_s, submit_us / per);
	printf("assign     %6.2f us CPU/task\n", assign_us / per);
	printf("started    %6.2f us CPU/task\n", started_us / per);
	printf("completed  %6.2f us CPU/task\n", completed_us / per);
	printf("commit     %6.2f us CPU/task\n", commit_us / per);
	printf("total      %6.2f us CPU/task, %.0f tasks/s wall\n",
	       (assign_us + started_us + completed_us + commit_us) / per, per / run_s);
	wg_jobs_close(j);
	free(args);
	free(text);
	return 0;
}
