/* GET /metrics of a real manager with a real worker: Prometheus's own checker finds nothing
 * wrong with it, the per-worker gauges and histograms say what happened, and an idle
 * manager does not commit. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e/cluster.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/version.h"

/* The value of an unlabelled series of the manager's /metrics, or -1. */
static long metric(int api_port, const char *name)
{
	char key[96];
	snprintf(key, sizeof key, "\n%s ", name);
	return e2e_http_number(api_port, "/metrics", key);
}

/* An idle manager, with no job and then with only a finished one, its worker attached and
 * both pinging (E2E_HEARTBEAT_MS: a ping every half second, TasksPing reconciliation every
 * 1.5 s), commits nothing: before, every tick (four a second) committed a transaction of
 * its own and another to look for work. */
TEST_SLOW(e2e_metrics_idle_manager_commits_nothing, 90)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	pid_t w = e2e_worker_start("w1", addr, "--slots", "2", NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 20000));

	long before = metric(m.api_port, "wasmgrid_db_commits_total");
	CHECK(before > 0); /* the worker was stored when it attached */
	sleep(3);
	CHECK_EQ(metric(m.api_port, "wasmgrid_db_commits_total"), before);

	const char *args[] = {"1", "2", "3"};
	char *job =
	    e2e_submit(m.api, e2e_program("increment"), e2e_args_file("args", args, 3), NULL);
	CHECK_EQ(e2e_wait(m.api, job), 0);
	free(job);
	long after_job = metric(m.api_port, "wasmgrid_db_commits_total");
	CHECK(after_job > before);
	sleep(1);
	after_job = metric(m.api_port, "wasmgrid_db_commits_total");
	sleep(3);
	CHECK_EQ(metric(m.api_port, "wasmgrid_db_commits_total"), after_job);
	CHECK_EQ(metric(m.api_port, "wasmgrid_workers_attached"), 1);

	wg_test_stop(w, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

/* The value of the series whose line starts with `series` (name and labels, as written),
 * or -1. */
static long series_value(const char *body, const char *series)
{
	size_t n = strlen(series);
	for (const char *line = body; line && *line; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (!strncmp(line, series, n) && line[n] == ' ')
			return atol(line + n + 1);
	}
	return -1;
}

/* Checks a histogram's buckets: WG_HISTOGRAM_BUCKETS + 1 of them in order, counts never
 * going down, the last le="+Inf" and equal to _count. Returns _count. */
static long check_histogram(const char *body, const char *name)
{
	char prefix[128];
	snprintf(prefix, sizeof prefix, "%s_bucket{le=\"", name);
	long last = -1, buckets = 0;
	const char *le = NULL;
	for (const char *p = body; (p = strstr(p, prefix)) != NULL; p++) {
		CHECK_MSG(p == body || p[-1] == '\n', "%s: a bucket in mid-line", name);
		le = p + strlen(prefix);
		const char *end = strstr(le, "\"} ");
		CHECK(end);
		long v = atol(end + 3);
		CHECK_MSG(v >= last,
			  "%s: bucket le=%.*s holds %ld, fewer than the one before (%ld)", name,
			  (int)(end - le), le, v, last);
		last = v;
		buckets++;
	}
	CHECK_EQ(buckets, 20);
	CHECK(le && !strncmp(le, "+Inf\"", 5));
	char count[128];
	snprintf(count, sizeof count, "%s_count", name);
	CHECK_EQ(series_value(body, count), last);
	return last;
}

/* promtool (Debian package prometheus, installed by tools/deps.sh) on a /metrics page, as
 * it would be scraped after a real job. */
TEST_SLOW(e2e_metrics_pass_promtool_with_workers_and_histograms, 120)
{
	const char *version[] = {"promtool", "--version", NULL};
	CHECK_MSG(wg_test_run_program(NULL, NULL, version) == 0,
		  "promtool is missing: it checks /metrics; install the Debian package "
		  "prometheus (tools/deps.sh does)");
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	pid_t w = e2e_worker_start("w1", addr, "--slots", "3", NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 20000));
	enum { N = 7 };
	const char *args[N] = {"1", "2", "3", "4", "5", "6", "7"};
	char *job =
	    e2e_submit(m.api, e2e_program("increment"), e2e_args_file("args", args, N), NULL);
	CHECK_EQ(e2e_wait(m.api, job), 0);
	free(job);

	struct wg_buf body = {0};
	CHECK_EQ(wg_test_http_get(m.api_port, "/metrics", &body), 200);
	const char *text = wg_buf_cstr(&body);
	const char *path = wg_test_path("metrics.txt");
	CHECK_EQ(wg_write_file_atomic(path, body.data, body.len, 0644), 0);
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "promtool check metrics < '%s'", path);
	const char *check[] = {"sh", "-c", cmd, NULL};
	struct wg_buf out = {0}, err = {0};
	int status = wg_test_run_program(&out, &err, check);
	CHECK_MSG(status == 0 && out.len == 0 && err.len == 0,
		  "promtool check metrics: exit %d, said: %s%s\n(the page: %s)", status,
		  wg_buf_cstr(&out), wg_buf_cstr(&err), path);

	char series[256];
	snprintf(series, sizeof series, "wasmgrid_build_info{version=\"%s\",", WG_VERSION);
	CHECK_CONTAINS(text, series);
	CHECK_CONTAINS(text, "\"} 1\n# HELP wasmgrid_peers_connected");
	char *id = wg_test_node_id(e2e_data("w1"));
	snprintf(series, sizeof series, "wasmgrid_worker_slots{worker=\"%s\"}", id);
	CHECK_EQ(series_value(text, series), 3);
	snprintf(series, sizeof series, "wasmgrid_worker_running{worker=\"%s\"}", id);
	CHECK_EQ(series_value(text, series), 0);
	snprintf(series, sizeof series, "wasmgrid_worker_assigned{worker=\"%s\"}", id);
	CHECK_EQ(series_value(text, series), 0);
	free(id);
	CHECK_EQ(series_value(text, "wasmgrid_tasks{state=\"completed\"}"), N);
	CHECK_EQ(check_histogram(text, "wasmgrid_task_run_seconds"), N);
	CHECK_EQ(check_histogram(text, "wasmgrid_task_queue_wait_seconds"), N);
	CHECK(series_value(text, "wasmgrid_task_run_seconds_sum") >= 0);

	wg_buf_free(&body);
	wg_buf_free(&out);
	wg_buf_free(&err);
	wg_test_stop(w, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}
