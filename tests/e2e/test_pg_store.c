/* A manager whose job store is PostgreSQL (--store postgresql://...): real manager and
 * worker processes, a real PostgreSQL server (harness/pg.h), real WebAssembly programs. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e/cluster.h"
#include "harness/pg.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "util/alloc.h"

enum { N_TASKS = 20 };
/* The lease of the managers that share a store here: short, so that a killed one's work
 * comes back soon. */
#define MANAGER_LEASE_MS "3000"

/* Arguments 200, 201...: t_slow sleeps that many milliseconds and says "slept ARG". */
static const char *slow_args(const char **args)
{
	for (int i = 0; i < N_TASKS; i++)
		args[i] = wg_asprintf("%d", 200 + i);
	return e2e_args_file("args", args, N_TASKS);
}

static void free_args(const char **args)
{
	for (int i = 0; i < N_TASKS; i++)
		free((char *)args[i]);
}

TEST_SLOW(e2e_manager_on_postgresql_sigkilled_mid_job_restarts_and_loses_nothing, 240)
{
	char *uri = wg_test_pg_store();
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, "--store", uri, NULL);
	CHECK(wg_test_wait_log("manager", "job store: PostgreSQL", 5000));
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	pid_t w1 = e2e_worker_start("w1", addr, "--slots", "1", NULL);
	pid_t w2 = e2e_worker_start("w2", addr, "--slots", "1", NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 2, 20000));
	const char *args[N_TASKS];
	char *job = e2e_submit(m.api, e2e_program("t_slow"), slow_args(args), NULL);
	while (e2e_job_count(m.api, job, "completed") < 3)
		usleep(50000);
	int port = m.port;
	wg_test_stop(m.pid, SIGKILL, 5000);
	/* Its data directory holds no job store: everything is in PostgreSQL. */
	CHECK(access(wg_test_path("manager/manager.db"), F_OK) != 0);
	e2e_manager_start(&m, "manager", port, "--store", uri, NULL);
	CHECK_EQ(e2e_wait(m.api, job), 0);
	e2e_check_slow_results(m.api, job, args, N_TASKS);
	free(job);
	free_args(args);
	free(uri);
	wg_test_stop(w1, SIGTERM, 10000);
	wg_test_stop(w2, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

TEST_SLOW(e2e_postgresql_restarted_mid_job_the_manager_reconnects_and_loses_nothing, 240)
{
	struct wg_test_pg *pg = wg_test_pg_own("pg");
	char *uri = wg_test_pg_uri(pg);
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, "--store", uri, NULL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	pid_t w1 = e2e_worker_start("w1", addr, "--slots", "1", NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 20000));
	const char *args[N_TASKS];
	char *job = e2e_submit(m.api, e2e_program("t_slow"), slow_args(args), NULL);
	while (e2e_job_count(m.api, job, "completed") < 3)
		usleep(50000);

	/* The server goes away: the manager keeps running, says why it cannot answer, and
	 * acknowledges nothing it could not commit. */
	wg_test_pg_stop(pg);
	struct wg_buf err = {0};
	bool says_why = false;
	for (int waited = 0; !says_why && waited < 15000; waited += 200) {
		CHECK_EQ(kill(m.pid, 0), 0);
		err.len = 0;
		says_why = wg_test_run(NULL, &err, "status", job, "--api", m.api, NULL) == 1 &&
			   strstr(wg_buf_cstr(&err), "job store");
		if (!says_why)
			usleep(200000);
	}
	CHECK_MSG(says_why, "status said: %s", wg_buf_cstr(&err));

	/* Back: the manager reconnects by itself and the job ends with every result once. */
	wg_test_pg_start(pg);
	CHECK(wg_test_wait_log("manager", "the job store is back", 30000));
	CHECK_EQ(e2e_wait(m.api, job), 0);
	e2e_check_slow_results(m.api, job, args, N_TASKS);
	wg_buf_free(&err);
	free(job);
	free_args(args);
	free(uri);
	wg_test_stop(w1, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
	wg_test_pg_free(pg);
}

TEST_SLOW(e2e_manager_with_an_unreachable_store_says_so_and_exits, 60)
{
	struct wg_buf err = {0};
	/* A socket directory where no server listens. */
	char *uri = wg_asprintf("postgresql://postgres:s3cret@/wasmgrid?host=%s", wg_test_tmpdir());
	int rc = wg_test_run(NULL, &err, "manager", "--data", wg_test_path("m"), "--listen",
			     "127.0.0.1:0", "--api", "127.0.0.1:0", "--store", uri, NULL);
	CHECK(rc != 0);
	CHECK_CONTAINS(wg_buf_cstr(&err), "cannot connect");
	CHECK_CONTAINS(wg_buf_cstr(&err), wg_test_tmpdir());
	/* The store is named without its password. */
	CHECK_MSG(!strstr(wg_buf_cstr(&err), "s3cret"), "%s", wg_buf_cstr(&err));
	err.len = 0;
	rc = wg_test_run(NULL, &err, "manager", "--data", wg_test_path("m"), "--store", "mysql://x",
			 NULL);
	CHECK_EQ(rc, 2);
	CHECK_CONTAINS(wg_buf_cstr(&err), "--store takes 'sqlite' or a PostgreSQL URI");
	wg_buf_free(&err);
	free(uri);
}

/* Managers "ma" and "mb" on the store `uri` with a short lease; their node addresses into
 * addr_a and addr_b (64 bytes each). */
static void start_pair(struct e2e_manager *a, struct e2e_manager *b, const char *uri, char *addr_a,
		       char *addr_b)
{
	e2e_manager_start(a, "ma", 0, "--store", uri, "--lease-ms", MANAGER_LEASE_MS, NULL);
	e2e_manager_start(b, "mb", 0, "--store", uri, "--lease-ms", MANAGER_LEASE_MS, NULL);
	snprintf(addr_a, 64, "127.0.0.1:%d", a->port);
	snprintf(addr_b, 64, "127.0.0.1:%d", b->port);
}

/* Two managers on one store with four workers, each worker given only its own manager's
 * address. A job submitted to A is drained by both; A is killed mid-job; its workers move
 * to B by themselves (B was named to them when they attached), B takes A's attempts back
 * when A's lease runs out, and the job ends from B with every result exact and none
 * doubled. A, restarted, rejoins. */
TEST_SLOW(e2e_two_managers_on_one_store_a_killed_managers_job_finishes_on_the_other, 240)
{
	char *uri = wg_test_pg_store();
	struct e2e_manager a, b;
	char addr_a[64], addr_b[64];
	start_pair(&a, &b, uri, addr_a, addr_b);
	pid_t w[4];
	w[0] = e2e_worker_start("w1", addr_a, "--slots", "1", NULL);
	w[1] = e2e_worker_start("w2", addr_a, "--slots", "1", NULL);
	w[2] = e2e_worker_start("w3", addr_b, "--slots", "1", NULL);
	w[3] = e2e_worker_start("w4", addr_b, "--slots", "1", NULL);
	CHECK(e2e_wait_workers(a.api_port, "attached", 2, 20000));
	CHECK(e2e_wait_workers(b.api_port, "attached", 2, 20000));
	enum { N = 40 };
	const char *args[N];
	for (int i = 0; i < N; i++)
		args[i] = wg_asprintf("%d", 200 + i);
	char *job = e2e_submit(a.api, e2e_program("t_slow"), e2e_args_file("args", args, N), NULL);
	/* B's workers take part: the job is in the shared store. */
	while (e2e_job_count(b.api, job, "completed") < 6)
		usleep(50000);
	size_t n_done = 0;
	struct e2e_result *r = e2e_results(b.api, job, &n_done);
	bool by_b_worker = false;
	char *w3 = wg_test_node_id(e2e_data("w3")), *w4 = wg_test_node_id(e2e_data("w4"));
	for (size_t i = 0; i < n_done; i++)
		by_b_worker |= !strcmp(r[i].worker, w3) || !strcmp(r[i].worker, w4);
	e2e_results_free(r, n_done);
	free(w3);
	free(w4);
	wg_test_stop(a.pid, SIGKILL, 5000);
	CHECK(e2e_wait_workers(b.api_port, "attached", 4, 30000));
	CHECK_EQ(e2e_wait(b.api, job), 0);
	e2e_check_slow_results(b.api, job, args, N);
	CHECK(wg_test_wait_log("mb", "stopped renewing its lease", 1000));
	CHECK_MSG(by_b_worker, "no task of the job ran on B's workers before A was killed");
	/* A comes back on the same store and answers for the job too. */
	e2e_manager_start(&a, "ma", 0, "--store", uri, "--lease-ms", MANAGER_LEASE_MS, NULL);
	CHECK_EQ(e2e_wait(a.api, job), 0);
	CHECK_EQ(e2e_job_count(a.api, job, "completed"), N);
	for (int i = 0; i < 4; i++)
		wg_test_stop(w[i], SIGTERM, 10000);
	wg_test_stop(a.pid, SIGTERM, 10000);
	wg_test_stop(b.pid, SIGTERM, 10000);
	for (int i = 0; i < N; i++)
		free((char *)args[i]);
	free(job);
	free(uri);
}

static bool worker_idle(void *arg)
{
	return e2e_children(*(pid_t *)arg) == 0;
}

/* Two managers on one store, a worker on A only: B lists both managers, waits on a job
 * submitted to A and running on A's worker, and cancels another, whose running task A then
 * stops on its worker. */
TEST_SLOW(e2e_a_job_submitted_to_one_manager_is_waited_on_and_cancelled_through_another, 120)
{
	char *uri = wg_test_pg_store();
	struct e2e_manager a, b;
	char addr_a[64], addr_b[64];
	start_pair(&a, &b, uri, addr_a, addr_b);
	pid_t w = e2e_worker_start("w1", addr_a, "--slots", "1", NULL);
	CHECK(e2e_wait_workers(a.api_port, "attached", 1, 20000));

	struct wg_buf body = {0};
	CHECK_EQ(wg_test_http_get(b.api_port, "/v1/managers", &body), 200);
	char *id_a = wg_test_node_id(e2e_data("ma")), *id_b = wg_test_node_id(e2e_data("mb"));
	CHECK_CONTAINS(wg_buf_cstr(&body), id_a);
	CHECK_CONTAINS(wg_buf_cstr(&body), id_b);
	CHECK_CONTAINS(wg_buf_cstr(&body), "\"store\":\"PostgreSQL");
	const char *self = strstr(wg_buf_cstr(&body), "\"self\":true");
	CHECK(self && !strstr(self + 1, "\"self\":true"));
	body.len = 0;
	CHECK_EQ(wg_test_run(&body, NULL, "workers", "--api", b.api, NULL), 0);
	CHECK_CONTAINS(wg_buf_cstr(&body), "2 managers share its store");
	CHECK_CONTAINS(wg_buf_cstr(&body), "this one");

	const char *args[] = {"300", "300", "300", "300", "300", "300"};
	char *job = e2e_submit(a.api, e2e_program("t_slow"), e2e_args_file("args", args, 6), NULL);
	CHECK(e2e_job_count(b.api, job, "completed") < 6);
	CHECK_EQ(e2e_wait(b.api, job), 0);
	CHECK_EQ(e2e_job_count(b.api, job, "completed"), 6);

	const char *long_args[] = {"60000", "60000"};
	char *job2 =
	    e2e_submit(a.api, e2e_program("t_slow"), e2e_args_file("args2", long_args, 2), NULL);
	while (e2e_job_count(a.api, job2, "running") < 1)
		usleep(50000);
	CHECK_EQ(wg_test_run(NULL, NULL, "cancel", job2, "--api", b.api, NULL), 0);
	/* A aborts its attempt at its next lease renewal (a third of the lease). */
	CHECK_MSG(wg_test_wait_for(worker_idle, &w, 15000), "the worker still runs the task");
	body.len = 0;
	CHECK_EQ(wg_test_run(&body, NULL, "status", job2, "--api", a.api, NULL), 0);
	CHECK_CONTAINS(wg_buf_cstr(&body), "cancelled");
	wg_buf_free(&body);
	free(id_a);
	free(id_b);
	free(job);
	free(job2);
	free(uri);
	wg_test_stop(w, SIGTERM, 10000);
	wg_test_stop(a.pid, SIGTERM, 10000);
	wg_test_stop(b.pid, SIGTERM, 10000);
}

/* A worker given only manager A learns of B (they share a store) and, when A is killed,
 * goes to B by itself; a worker whose --managers allows only A learns nothing and stays
 * away from B. */
TEST_SLOW(e2e_a_worker_told_of_another_manager_fails_over_to_it_when_its_own_is_gone, 180)
{
	char *uri = wg_test_pg_store();
	struct e2e_manager a, b;
	char addr_a[64], addr_b[64];
	start_pair(&a, &b, uri, addr_a, addr_b);
	char *id_a = wg_test_node_id(e2e_data("ma")), *id_b = wg_test_node_id(e2e_data("mb"));
	const char *only_a = e2e_args_file("only-a", (const char *const *)&id_a, 1);
	pid_t w1 = e2e_worker_start("w1", addr_a, "--slots", "1", NULL);
	pid_t w2 = e2e_worker_start("w2", addr_a, "--slots", "1", "--managers", only_a, NULL);
	CHECK(e2e_wait_workers(a.api_port, "attached", 2, 20000));
	char learned[96];
	snprintf(learned, sizeof learned, "learned of manager %.16s", id_b);
	CHECK(wg_test_wait_log("w1", learned, 5000));
	char *log2 = wg_test_log("w2");
	CHECK(!strstr(log2, "learned of manager"));
	free(log2);

	const char *args[10];
	for (int i = 0; i < 10; i++)
		args[i] = "300";
	char *job = e2e_submit(a.api, e2e_program("t_slow"), e2e_args_file("args", args, 10), NULL);
	while (e2e_job_count(a.api, job, "completed") < 2)
		usleep(50000);
	wg_test_stop(a.pid, SIGKILL, 5000);
	CHECK_MSG(e2e_wait_workers(b.api_port, "attached", 1, 20000), "w1 did not come to B");
	CHECK_EQ(e2e_wait(b.api, job), 0);
	CHECK_EQ(e2e_job_count(b.api, job, "completed"), 10);
	/* w2 still only knows A, and keeps trying it. */
	CHECK_EQ(e2e_count_workers(b.api_port, "attached"), 1);
	char *id_w1 = wg_test_node_id(e2e_data("w1"));
	CHECK(e2e_worker_listed(b.api_port, id_w1));
	free(id_w1);
	wg_test_stop(w1, SIGTERM, 10000);
	wg_test_stop(w2, SIGTERM, 10000);
	wg_test_stop(b.pid, SIGTERM, 10000);
	free(id_a);
	free(id_b);
	free(job);
	free(uri);
}
