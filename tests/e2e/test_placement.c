/* Where tasks go: only to workers that can take them (a job asking more memory than a
 * worker's --memory waits for another, without being offered and refused over and over,
 * and says why), and never more at once than the manager's --max-slots lets a worker run
 * (measured inside the tasks: no two of them overlap). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e/cluster.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "util/json.h"

/* A counter of the manager's /metrics, or -1. */
static long metric(int api_port, const char *name)
{
	char key[96];
	snprintf(key, sizeof key, "\n%s ", name);
	return e2e_http_number(api_port, "/metrics", key);
}

TEST_SLOW(e2e_job_asking_more_memory_than_a_worker_gives_waits_for_one_that_does, 120)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	pid_t small = e2e_worker_start("small", addr, "--memory", "64", NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 20000));
	struct wg_buf out = {0}, err = {0};
	CHECK_EQ(wg_test_run(&out, &err, "submit", e2e_program("increment"), "--arg", "1", "--arg",
			     "2", "--memory", "128", "--api", m.api, NULL),
		 0);
	/* Long enough for several refusals under the old 2 s cool-down. */
	sleep(5);
	CHECK_EQ(metric(m.api_port, "wasmgrid_attempts_refused_total"), 0);
	CHECK_EQ(e2e_job_count(m.api, "1", "queued"), 2);
	out.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "status", "1", "--api", m.api, NULL), 0);
	CHECK_CONTAINS(wg_buf_cstr(&out), "no attached worker accepts 128 MiB");
	/* A worker that gives enough takes them. */
	pid_t big = e2e_worker_start("big", addr, "--memory", "256", NULL);
	CHECK_EQ(e2e_wait(m.api, "1"), 0);
	char *big_id = wg_test_node_id(e2e_data("big"));
	size_t n = 0;
	struct e2e_result *r = e2e_results(m.api, "1", &n);
	CHECK_EQ(n, 2);
	for (size_t i = 0; i < n; i++)
		CHECK_STREQ(r[i].worker, big_id);
	e2e_results_free(r, n);
	free(big_id);
	out.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "status", "1", "--json", "--api", m.api, NULL), 0);
	CHECK_CONTAINS(wg_buf_cstr(&out), "\"waiting\":null");
	wg_buf_free(&out);
	wg_buf_free(&err);
	wg_test_stop(small, SIGTERM, 10000);
	wg_test_stop(big, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

static int by_start(const void *a, const void *b)
{
	const long long *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

TEST_SLOW(e2e_max_slots_caps_what_runs_at_once_on_a_worker, 120)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, "--max-slots", "1", NULL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	pid_t w = e2e_worker_start("w1", addr, "--slots", "4", NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 20000));
	enum { N = 6 };
	const char *args[N];
	for (int i = 0; i < N; i++)
		args[i] = "300";
	char *job = e2e_submit(m.api, e2e_program("t_span"), e2e_args_file("args", args, N), NULL);
	CHECK_EQ(e2e_wait(m.api, job), 0);
	size_t n = 0;
	struct e2e_result *r = e2e_results(m.api, job, &n);
	CHECK_EQ(n, N);
	long long span[N][2];
	for (size_t i = 0; i < n; i++)
		CHECK_EQ(sscanf(r[i].result, "%lld %lld", &span[i][0], &span[i][1]), 2);
	qsort(span, N, sizeof span[0], by_start);
	for (int i = 1; i < N; i++)
		CHECK_MSG(span[i][0] >= span[i - 1][1],
			  "tasks overlapped: one ran %lld-%lld, the next started at %lld",
			  span[i - 1][0], span[i - 1][1], span[i][0]);
	e2e_results_free(r, n);
	free(job);
	wg_test_stop(w, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

struct counts_seen {
	struct e2e_manager *m;
};

static bool one_running_one_assigned(void *arg)
{
	struct counts_seen *c = arg;
	return e2e_job_count(c->m->api, "1", "running") == 1 &&
	       e2e_job_count(c->m->api, "1", "assigned") >= 1;
}

TEST_SLOW(e2e_counts_tell_assigned_from_running, 120)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	/* One slot: the manager sends two tasks, the worker starts one and holds the other. */
	pid_t w = e2e_worker_start("w1", addr, "--slots", "1", NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 20000));
	const char *args[] = {"1500", "1500", "1500"};
	char *job = e2e_submit(m.api, e2e_program("t_slow"), e2e_args_file("args", args, 3), NULL);
	struct counts_seen c = {&m};
	CHECK(wg_test_wait_for(one_running_one_assigned, &c, 30000));
	struct wg_buf out = {0}, err = {0};
	CHECK_EQ(wg_test_run(&out, &err, "status", job, "--api", m.api, NULL), 0);
	CHECK_CONTAINS(wg_buf_cstr(&out), "1 assigned, 1 running");
	struct wg_buf body = {0};
	CHECK_EQ(wg_test_http_get(m.api_port, "/metrics", &body), 200);
	CHECK_CONTAINS(wg_buf_cstr(&body), "wasmgrid_tasks{state=\"assigned\"} 1\n");
	CHECK_CONTAINS(wg_buf_cstr(&body), "wasmgrid_tasks{state=\"running\"} 1\n");
	CHECK_EQ(e2e_wait(m.api, job), 0);
	wg_buf_free(&body);
	wg_buf_free(&out);
	wg_buf_free(&err);
	free(job);
	wg_test_stop(w, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

TEST_SLOW(e2e_results_carry_each_attempts_worker_and_timings, 120)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	pid_t w = e2e_worker_start("w1", addr, NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 20000));
	const char *args[] = {"300", "300"};
	char *job = e2e_submit(m.api, e2e_program("t_slow"), e2e_args_file("args", args, 2), NULL);
	CHECK_EQ(e2e_wait(m.api, job), 0);
	char *id = wg_test_node_id(e2e_data("w1"));
	struct wg_buf out = {0};
	CHECK_EQ(wg_test_run(&out, NULL, "results", job, "--json", "--api", m.api, NULL), 0);
	int lines = 0;
	char *save = NULL;
	for (char *line = strtok_r(wg_buf_cstr(&out), "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct wg_json *doc = NULL;
		char why[128];
		CHECK_EQ(wg_json_parse(line, strlen(line), NULL, &doc, why, sizeof why), 0);
		const struct wg_json *runs = wg_json_get(doc, "runs");
		CHECK_EQ(wg_json_len(runs), 1);
		const struct wg_json *run = wg_json_at(runs, 0);
		CHECK_STREQ(wg_json_as_str(wg_json_get(run, "worker"), NULL), id);
		CHECK_STREQ(wg_json_as_str(wg_json_get(run, "state"), NULL), "completed");
		uint64_t assigned = 0, started = 0, finished = 0, wall = 0, cpu = 0;
		CHECK_EQ(wg_json_as_u64(wg_json_get(run, "assigned_ms"), &assigned), 0);
		CHECK_EQ(wg_json_as_u64(wg_json_get(run, "started_ms"), &started), 0);
		CHECK_EQ(wg_json_as_u64(wg_json_get(run, "finished_ms"), &finished), 0);
		CHECK_EQ(wg_json_as_u64(wg_json_get(run, "wall_ms"), &wall), 0);
		CHECK_EQ(wg_json_as_u64(wg_json_get(run, "cpu_ms"), &cpu), 0);
		/* Consistent figures, not timings: the start is the worker's word (TaskStarted),
		 * the end the manager's receipt of the report. */
		CHECK(assigned <= started && started <= finished);
		CHECK_EQ(wall, finished - started);
		CHECK(wall > 0);
		CHECK(cpu > 0);
		wg_json_free(doc);
		lines++;
	}
	CHECK_EQ(lines, 2);
	wg_buf_free(&out);
	free(id);
	free(job);
	wg_test_stop(w, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}
