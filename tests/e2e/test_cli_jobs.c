/* Commands for a job's life after submission, through the real CLI against a real manager
 * and worker: `retry` of failed tasks, `results --follow` and the API's results cursor. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e/cluster.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "util/fs.h"
#include "util/hex.h"

/* BLAKE2b-256 of a file, in hex. */
static void file_hash(const char *path, char hex[65])
{
	uint8_t *data = NULL, digest[32];
	size_t len = 0;
	CHECK_EQ(wg_read_file(path, 64u << 20, &data, &len), 0);
	crypto_generichash(digest, sizeof digest, data, len, NULL, 0);
	wg_hex_encode(digest, sizeof digest, hex);
	free(data);
}

/* A program at a file:// address that is not there yet: every task fails to download it.
 * Once it is there, `retry` queues the failed tasks again and the job completes. */
TEST_SLOW(cli_retry_queues_failed_tasks_again_and_the_job_completes, 120)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	pid_t w = e2e_worker_start("w1", addr, NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 20000));

	char hash[65], url[600];
	file_hash(e2e_program("increment"), hash);
	const char *later = wg_test_path("later.wasm");
	snprintf(url, sizeof url, "file://%s", later);
	struct wg_buf out = {0}, err = {0};
	CHECK_EQ(wg_test_run(&out, &err, "submit", url, "--hash", hash, "--arg", "1", "--arg", "2",
			     "--arg", "3", "--max-failures", "0", "--wait", "--api", m.api, NULL),
		 1);
	CHECK_CONTAINS(wg_buf_cstr(&err), "job 1 failed: 0 of 3 tasks completed, 3 failed");

	/* Nothing is cancelled or unknown: retry says what it did. */
	uint8_t *bytes = NULL;
	size_t len = 0;
	CHECK_EQ(wg_read_file(e2e_program("increment"), 64u << 20, &bytes, &len), 0);
	CHECK_EQ(wg_write_file_atomic(later, bytes, len, 0644), 0);
	free(bytes);
	out.len = err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "retry", "1", "--api", m.api, NULL), 0);
	CHECK_STREQ(wg_buf_cstr(&out),
		    "job 1: 3 failed tasks queued again ('wasmgrid wait 1' follows them)\n");
	out.len = err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "wait", "1", "--api", m.api, NULL), 0);
	CHECK_CONTAINS(wg_buf_cstr(&err), "job 1 completed: 3 of 3 tasks completed");
	out.len = 0;
	CHECK_EQ(wg_test_run(&out, NULL, "results", "1", "--api", m.api, NULL), 0);
	CHECK_STREQ(wg_buf_cstr(&out), "0 completed 2\n1 completed 3\n2 completed 4\n");
	/* The earlier failures stay in each task's history. */
	out.len = 0;
	CHECK_EQ(wg_test_run(&out, NULL, "results", "1", "--json", "--api", m.api, NULL), 0);
	CHECK_CONTAINS(wg_buf_cstr(&out), "\"state\":\"error\"");

	out.len = err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "retry", "1", "--api", m.api, NULL), 0);
	CHECK_STREQ(wg_buf_cstr(&out), "job 1 has no failed task; nothing to retry\n");
	CHECK_EQ(wg_test_run(&out, &err, "submit", e2e_program("t_slow"), "--arg", "60000", "--api",
			     m.api, NULL),
		 0);
	CHECK_EQ(wg_test_run(&out, &err, "cancel", "2", "--api", m.api, NULL), 0);
	err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "retry", "2", "--api", m.api, NULL), 1);
	CHECK_CONTAINS(wg_buf_cstr(&err), "job 2 was cancelled: nothing of it runs again");
	err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "retry", "9", "--api", m.api, NULL), 1);
	CHECK_CONTAINS(wg_buf_cstr(&err), "no job 9");
	wg_buf_free(&out);
	wg_buf_free(&err);
	wg_test_stop(w, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

/* `results --follow` prints results as tasks end, in that order, and ends with the job;
 * the API's cursor (?after=) gives only what is new, and a long-poll with it is answered
 * as soon as a task ends. */
TEST_SLOW(cli_results_follow_prints_results_as_tasks_end, 120)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	pid_t w = e2e_worker_start("w1", addr, "--slots", "2", NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 20000));
	struct wg_buf out = {0}, err = {0};
	/* With 2 slots: task 1 ends first, then 2 (started when 1 ended), then 0. */
	CHECK_EQ(wg_test_run(&out, &err, "submit", e2e_program("t_slow"), "--arg", "1500", "--arg",
			     "50", "--arg", "400", "--api", m.api, NULL),
		 0);
	pid_t follower = wg_test_start("follow", "results", "1", "--follow", "--api", m.api, NULL);
	int ws = wg_test_stop(follower, 0, 60000);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
	char *log = wg_test_log("follow");
	CHECK_STREQ(log, "1 completed slept 50\n2 completed slept 400\n0 completed slept 1500\n");
	free(log);

	/* The cursor: after 1 gives the last two, in order, with their numbers. */
	struct wg_buf body = {0};
	CHECK_EQ(wg_test_http_get(m.api_port, "/v1/jobs/1/results?after=1", &body), 200);
	const char *b = wg_buf_cstr(&body);
	CHECK_CONTAINS(b,
		       "\"after\":1,\"results\":[{\"index\":2,\"status\":\"completed\",\"seq\":2");
	CHECK_CONTAINS(b, "{\"index\":0,\"status\":\"completed\",\"seq\":3");
	CHECK_CONTAINS(b, "\"last\":3,\"more\":false}");
	body.len = 0;
	CHECK_EQ(wg_test_http_get(m.api_port, "/v1/jobs/1/results?after=1&from=0", &body), 400);
	body.len = 0;
	CHECK_EQ(wg_test_http_get(m.api_port, "/v1/jobs/1/results?after=x", &body), 400);

	/* A job that does not complete: the follower says so and exits 1. */
	out.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "submit", e2e_program("t_slow"), "--arg", "50", "--arg",
			     "60000", "--api", m.api, NULL),
		 0);
	follower =
	    wg_test_start("follow2", "results", "2", "--follow", "--json", "--api", m.api, NULL);
	CHECK(wg_test_wait_log("follow2", "\"index\":0,\"status\":\"completed\"", 30000));
	CHECK_EQ(wg_test_run(&out, &err, "cancel", "2", "--api", m.api, NULL), 0);
	ws = wg_test_stop(follower, 0, 30000);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 1);
	log = wg_test_log("follow2");
	CHECK_CONTAINS(log, "job 2 cancelled; 'wasmgrid status 2' counts its tasks");
	free(log);
	wg_buf_free(&body);
	wg_buf_free(&out);
	wg_buf_free(&err);
	wg_test_stop(w, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

/* `explain` says why tasks wait, in the cases a user meets: no worker, none with the memory
 * asked, every slot busy with a job served first, more replicas than workers, a program
 * that cannot be fetched; and about one task. `status` points to it. */
TEST_SLOW(cli_explain_says_why_tasks_are_not_running, 120)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	struct wg_buf out = {0}, err = {0};
	const char *slow = e2e_program("t_slow");
#define EXPLAIN(...)                                                                               \
	(out.len = 0, err.len = 0,                                                                 \
	 wg_test_run(&out, &err, "explain", __VA_ARGS__, "--api", m.api, NULL))

	CHECK_EQ(wg_test_run(&out, &err, "submit", slow, "--arg", "60000", "--arg", "60000",
			     "--arg", "60000", "--memory", "128", "--name", "long", "--api", m.api,
			     NULL),
		 0);
	CHECK_EQ(EXPLAIN("1"), 0);
	CHECK_CONTAINS(wg_buf_cstr(&out), "job 1 (long): running; 3 tasks: 3 queued");
	CHECK_CONTAINS(wg_buf_cstr(&out), "  - 3 tasks wait for a worker\n");
	CHECK_CONTAINS(wg_buf_cstr(&out), "  - no worker is attached to this manager");
	out.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "status", "1", "--api", m.api, NULL), 0);
	CHECK_CONTAINS(wg_buf_cstr(&out),
		       "no worker is attached ('wasmgrid explain 1' tells more)");

	/* A worker too small for the job. */
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	pid_t small = e2e_worker_start("small", addr, "--memory", "64", "--slots", "1", NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 20000));
	CHECK_EQ(EXPLAIN("1"), 0);
	CHECK_CONTAINS(wg_buf_cstr(&out), "no attached worker gives a task the 128 MiB");
	CHECK_CONTAINS(wg_buf_cstr(&out), "gives a task at most 64 MiB; the job asks 128 MiB");
	wg_test_stop(small, SIGTERM, 10000);
	CHECK(e2e_wait_workers(m.api_port, "attached", 0, 20000));

	/* A worker that fits: job 1 fills it; job 2 waits behind it, and its two replicas
	 * need two workers. */
	pid_t w = e2e_worker_start("w1", addr, "--slots", "1", NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 20000));
	CHECK_EQ(wg_test_run(&out, &err, "submit", slow, "--arg", "10", "--redundancy", "2",
			     "--api", m.api, NULL),
		 0);
	/* Job 1's first task runs, its second waits in the worker's queue. */
	for (int i = 0; i < 600 && e2e_http_number(m.api_port, "/v1/jobs/1", "\"running\":") != 1;
	     i++)
		usleep(50 * 1000);
	CHECK_EQ(e2e_http_number(m.api_port, "/v1/jobs/1", "\"running\":"), 1);
	CHECK_EQ(EXPLAIN("2"), 0);
	const char *o = wg_buf_cstr(&out);
	CHECK_CONTAINS(o, "redundancy 2 needs 2 different workers, and 1 can take");
	CHECK_CONTAINS(o, "every worker that can take the job's tasks is full (1 of them)");
	CHECK_CONTAINS(o, "jobs served first have tasks waiting too: job 1 (priority 0)");
	CHECK_CONTAINS(o, "full: 2 attempts in flight (1 slot and a queue): job 1 x2");
	CHECK_EQ(EXPLAIN("1", "0"), 0);
	CHECK_CONTAINS(wg_buf_cstr(&out), "  - task 0 is running on worker ");
	CHECK_EQ(EXPLAIN("1", "2"), 0);
	CHECK_CONTAINS(wg_buf_cstr(&out), "  - task 2 is queued (0 attempts so far, 0 failed)");
	CHECK_EQ(EXPLAIN("1", "7"), 1);
	CHECK_CONTAINS(wg_buf_cstr(&err), "job 1 has no task 7 (its tasks are 0 to 2)");
	CHECK_EQ(EXPLAIN("9"), 1);
	CHECK_CONTAINS(wg_buf_cstr(&err), "no job 9");
	CHECK_EQ(EXPLAIN("x"), 2);
	CHECK_EQ(EXPLAIN("1", "--json"), 0);
	CHECK_CONTAINS(wg_buf_cstr(&out), "\"verdict\":\"full\"");
	CHECK_EQ(wg_test_run(&out, &err, "cancel", "1", "--api", m.api, NULL), 0);
	CHECK_EQ(wg_test_run(&out, &err, "cancel", "2", "--api", m.api, NULL), 0);

	/* A program that cannot be fetched: the job fails, and explain says why. */
	char url[600];
	snprintf(url, sizeof url, "file://%s", wg_test_path("missing.wasm"));
	CHECK_EQ(wg_test_run(&out, &err, "submit", url, "--hash",
			     "0000000000000000000000000000000000000000000000000000000000000000",
			     "--arg", "1", "--max-failures", "0", "--wait", "--api", m.api, NULL),
		 1);
	CHECK_EQ(EXPLAIN("3"), 0);
	o = wg_buf_cstr(&out);
	CHECK_CONTAINS(o, "  - the job is failed: nothing of it waits\n");
	CHECK_CONTAINS(o, "'wasmgrid retry 3' runs it again");
	CHECK_CONTAINS(o, "1 attempt ended in DownloadError on 1 worker (the program cannot be "
			  "fetched); the latest: ");
#undef EXPLAIN
	wg_buf_free(&out);
	wg_buf_free(&err);
	wg_test_stop(w, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}
