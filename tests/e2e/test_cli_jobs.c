/* Commands for a job's life after submission, through the real CLI against a real manager
 * and worker: `retry` of failed tasks. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	CHECK_EQ(wg_test_run(&out, &err, "submit", e2e_program("t_slow"), "--arg", "60000",
			     "--api", m.api, NULL),
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
