/* docs/api.md: every answer of the API describes durable state. A count the API has shown
 * must never go down when the manager is killed and restarted: what it showed had been
 * committed. The test reads a busy job's counts as fast as it can, kills the manager with
 * SIGKILL at once, and compares with what the restarted manager holds. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e/cluster.h"
#include "harness/proc.h"
#include "harness/test.h"

/* The "completed" count of job 1, or -1. */
static long completed(int api_port)
{
	return e2e_http_number(api_port, "/v1/jobs/1", "\"completed\":");
}

TEST_SLOW(e2e_api_shows_only_committed_counts_across_sigkill, 240)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	int listen_port = m.port;
	pid_t w1 = e2e_worker_start("w1", addr, "--slots", "2", NULL);
	pid_t w2 = e2e_worker_start("w2", addr, "--slots", "2", NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 2, 20000));
	enum { TASKS = 300000 };
	char *job = e2e_submit(m.api, e2e_program("increment"),
			       e2e_args_file_repeat("args", "7", TASKS), NULL);
	CHECK_STREQ(job, "1");
	int worse = 0;
	for (int round = 0; round < 3; round++) {
		/* Let results flow, then read the count as fast as possible for a while. */
		long seen = -1;
		for (int i = 0; i < 100; i++) {
			long c = completed(m.api_port);
			if (c > seen)
				seen = c;
		}
		CHECK_EQ(wg_test_stop(m.pid, SIGKILL, 5000) & 0x7f, SIGKILL);
		e2e_manager_start(&m, "manager", listen_port, NULL);
		long after = completed(m.api_port);
		fprintf(stderr,
			"    round %d: the API showed %ld completed, after the restart %ld\n",
			round, seen, after);
		if (after < seen)
			worse++;
		CHECK(after >= 0);
		CHECK(e2e_wait_workers(m.api_port, "attached", 2, 20000));
	}
	CHECK_MSG(worse == 0, "a count shown by the API went down after a restart (%d of 3)",
		  worse);
	free(job);
	wg_test_stop(w1, SIGTERM, 10000);
	wg_test_stop(w2, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}
