/* Large cancels and removals never hold the manager's loop (issue: cancelling 1,000,000 tasks
 * blocked it for 8.9 s): the answer comes before the tasks are all marked, heartbeats and
 * other requests are answered meanwhile; finished jobs can be removed (wasmgrid remove,
 * --keep-finished) and their rows then leave the store. */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e/cluster.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "util/fs.h"
#include "util/time.h"

/* A count from the manager's database, read by a connection of the test's own. */
static long long db_count(const struct e2e_manager *m, const char *sql)
{
	char *path = wg_path_join(m->data, "manager.db");
	sqlite3 *db = NULL;
	long long n = -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	free(path);
	return n;
}

struct count_until {
	const struct e2e_manager *m;
	const char *sql;
	long long want;
};

static bool count_is(void *arg)
{
	struct count_until *c = arg;
	return db_count(c->m, c->sql) == c->want;
}

static long http_status(int port, const char *path, struct wg_buf *body)
{
	return wg_test_http_get(port, path, body); /* it empties body first */
}

TEST_SLOW(e2e_cancel_of_a_large_job_leaves_the_manager_responsive, 300)
{
	struct e2e_manager m;
	/* A heartbeat short enough that a loop held for seconds would lose the worker. */
	e2e_manager_start(&m, "manager", 0, "--heartbeat-ms", "1000", NULL);
	enum { TASKS = 300000 };
	char *job = e2e_submit(m.api, e2e_program("increment"),
			       e2e_args_file_repeat("args", "7", TASKS), NULL);
	CHECK_STREQ(job, "1");
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	pid_t w = e2e_worker_start("w1", addr, "--slots", "1", "--heartbeat-ms", "1000", NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 20000));
	for (int i = 0; i < 200 && e2e_job_count(m.api, job, "completed") < 1; i++)
		usleep(50 * 1000);

	struct wg_buf out = {0}, err = {0};
	uint64_t t0 = wg_mono_ms();
	CHECK_EQ(wg_test_run(&out, &err, "cancel", job, "--api", m.api, NULL), 0);
	uint64_t t1 = wg_mono_ms();
	/* The answer came before the work: most tasks are still to be marked... */
	const char *open_tasks = "SELECT count(*) FROM tasks WHERE job_id = 1 AND state IN (0, 1)";
	long long left = db_count(&m, open_tasks);
	fprintf(stderr, "    right after the cancel answered: %lld tasks still to mark\n", left);
	CHECK(left > 0);
	/* ... and yet every answer says cancelled, and other requests are served meanwhile. */
	struct wg_buf body = {0};
	int served = 0;
	do {
		CHECK_EQ(http_status(m.api_port, "/v1/jobs/1", &body), 200);
		CHECK(strstr(wg_buf_cstr(&body), "\"state\":\"cancelled\""));
		CHECK(strstr(wg_buf_cstr(&body), "\"queued\":0"));
		CHECK_EQ(http_status(m.api_port, "/v1/workers", &body), 200);
		served++;
	} while (db_count(&m, open_tasks) > 0 && served < 100000);
	fprintf(stderr, "    %d pairs of requests answered while the tasks were marked\n", served);
	struct count_until c = {&m, open_tasks, 0};
	CHECK(wg_test_wait_for(count_is, &c, 120000));
	fprintf(stderr, "    wasmgrid cancel took %llu ms; all tasks marked %llu ms after it\n",
		(unsigned long long)(t1 - t0), (unsigned long long)(wg_mono_ms() - t1));
	CHECK_EQ(db_count(&m, "SELECT count(*) FROM tasks WHERE job_id = 1 AND state = 4"),
		 TASKS - e2e_job_count(m.api, job, "completed"));
	/* The worker's heartbeats were answered throughout: its relationship never ended. */
	char *log = wg_test_log("w1");
	CHECK_MSG(!strstr(log, "ManagerPong"), "the worker missed heartbeats:\n%s", log);
	free(log);
	CHECK_EQ(e2e_count_workers(m.api_port, "attached"), 1);

	/* Removed: unknown at once, its rows gone soon after. */
	wg_buf_free(&out);
	CHECK_EQ(wg_test_run(&out, &err, "remove", job, "--api", m.api, NULL), 0);
	CHECK(strstr(wg_buf_cstr(&out), "removed"));
	CHECK_EQ(http_status(m.api_port, "/v1/jobs/1", &body), 404);
	struct count_until gone = {&m, "SELECT count(*) FROM tasks", 0};
	CHECK(wg_test_wait_for(count_is, &gone, 120000));
	CHECK_EQ(db_count(&m, "SELECT count(*) FROM attempts"), 0);
	CHECK_EQ(wg_test_run(&out, &err, "remove", job, "--api", m.api, NULL), 1);
	CHECK(strstr(wg_buf_cstr(&err), "no job 1"));
	wg_buf_free(&body);
	wg_buf_free(&out);
	wg_buf_free(&err);
	free(job);
	wg_test_stop(w, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

static bool job_gone(void *arg)
{
	struct wg_buf body = {0};
	long status = wg_test_http_get(*(int *)arg, "/v1/jobs/1", &body);
	wg_buf_free(&body);
	return status == 404;
}

TEST_SLOW(e2e_keep_finished_removes_jobs_finished_long_enough_ago, 120)
{
	struct e2e_manager m;
	/* 0.00003 days: 2.6 s. */
	e2e_manager_start(&m, "manager", 0, "--keep-finished", "0.00003", NULL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	pid_t w = e2e_worker_start("w1", addr, NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 20000));
	const char *args[] = {"1", "2", "3"};
	char *job =
	    e2e_submit(m.api, e2e_program("increment"), e2e_args_file("args", args, 3), NULL);
	CHECK_EQ(e2e_wait(m.api, job), 0);
	/* Still there right after it finished... */
	struct wg_buf body = {0};
	CHECK_EQ(wg_test_http_get(m.api_port, "/v1/jobs/1", &body), 200);
	/* ... gone a little later, rows and all. */
	CHECK(wg_test_wait_for(job_gone, &m.api_port, 30000));
	struct count_until gone = {&m, "SELECT count(*) FROM tasks", 0};
	CHECK(wg_test_wait_for(count_is, &gone, 30000));
	CHECK(wg_test_wait_log("manager", "--keep-finished: removed", 1000));
	wg_buf_free(&body);
	free(job);
	wg_test_stop(w, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

TEST(cli_keep_finished_takes_a_positive_number_of_days)
{
	struct wg_buf out = {0}, err = {0};
	CHECK_EQ(wg_test_run(&out, &err, "manager", "--keep-finished", "0", NULL), 2);
	CHECK(strstr(wg_buf_cstr(&err), "--keep-finished takes a number of days"));
	wg_buf_free(&err);
	CHECK_EQ(wg_test_run(&out, &err, "manager", "--keep-finished", "a week", NULL), 2);
	CHECK(strstr(wg_buf_cstr(&err), "not 'a week'"));
	wg_buf_free(&out);
	wg_buf_free(&err);
}
