/* GET /metrics of a real manager with a real worker: an idle manager does not commit. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e/cluster.h"
#include "harness/proc.h"
#include "harness/test.h"

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
TEST_SLOW(e2e_idle_manager_commits_nothing, 90)
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
