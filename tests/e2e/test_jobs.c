/* Jobs end to end: a real manager, real workers, real WebAssembly programs on loopback,
 * each test a scenario a user would recognise. */
#include <glob.h>
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
#include "util/alloc.h"
#include "util/fs.h"

struct cluster {
	struct e2e_manager m;
	char addr[64];
	pid_t workers[4];
	int n_workers;
};

static void cluster_start(struct cluster *c, int n_workers, const char *slots)
{
	memset(c, 0, sizeof *c);
	e2e_manager_start(&c->m, "manager", 0, NULL);
	snprintf(c->addr, sizeof c->addr, "127.0.0.1:%d", c->m.port);
	for (int i = 0; i < n_workers; i++) {
		char name[16];
		snprintf(name, sizeof name, "w%d", i + 1);
		c->workers[i] = e2e_worker_start(name, c->addr, "--slots", slots, NULL);
	}
	c->n_workers = n_workers;
	CHECK_MSG(e2e_wait_workers(c->m.api_port, "attached", n_workers, 20000),
		  "workers did not attach");
}

static void cluster_stop(struct cluster *c)
{
	for (int i = 0; i < c->n_workers; i++)
		if (c->workers[i] > 0)
			wg_test_stop(c->workers[i], SIGTERM, 10000);
	wg_test_stop(c->m.pid, SIGTERM, 10000);
}

/* Arguments "PREFIX0".."PREFIX{n-1}" or plain numbers. */
static const char **numbers(size_t n, long scale)
{
	const char **args = wg_calloc(n, sizeof *args);
	for (size_t i = 0; i < n; i++)
		args[i] = wg_asprintf("%ld", (long)i * scale);
	return args;
}

static void free_args(const char **args, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)args[i]);
	free(args);
}

TEST_SLOW(e2e_job_over_three_workers_completes_with_every_result_correct, 240)
{
	struct cluster c;
	cluster_start(&c, 3, "1");
	/* The hash-pattern search: "PATTERN" -> "N HASH", N the smallest counter whose
	 * SHA-256 (of N in decimal) contains PATTERN in hex. Checked here with libsodium. */
	enum { N = 60 };
	const char *args[N];
	for (int i = 0; i < N; i++)
		args[i] = wg_asprintf("%02x%x", i * 7 % 256, i % 16);
	char *job =
	    e2e_submit(c.m.api, e2e_program("hashsearch"), e2e_args_file("args", args, N), NULL);
	CHECK_EQ(e2e_wait(c.m.api, job), 0);
	size_t n;
	struct e2e_result *r = e2e_results(c.m.api, job, &n);
	CHECK_EQ(n, N);
	int workers_used = 0;
	char seen[3][65] = {"", "", ""};
	for (int i = 0; i < N; i++) {
		CHECK_STREQ(r[i].status, "completed");
		unsigned long long counter;
		char hash_hex[65];
		CHECK_MSG(sscanf(r[i].result, "%llu %64s", &counter, hash_hex) == 2, "result: %s",
			  r[i].result);
		char text[32];
		snprintf(text, sizeof text, "%llu", counter);
		uint8_t h[32];
		crypto_hash_sha256(h, (const uint8_t *)text, strlen(text));
		char want[65];
		sodium_bin2hex(want, sizeof want, h, 32);
		CHECK_STREQ(hash_hex, want);
		CHECK_CONTAINS(want, args[i]);
		/* The smallest such counter: no smaller one matches. */
		for (unsigned long long k = counter > 300 ? counter - 300 : 0; k < counter; k++) {
			snprintf(text, sizeof text, "%llu", k);
			crypto_hash_sha256(h, (const uint8_t *)text, strlen(text));
			sodium_bin2hex(want, sizeof want, h, 32);
			CHECK_MSG(!strstr(want, args[i]), "%llu matches %s before %llu", k, args[i],
				  counter);
		}
		int known = 0;
		for (int w = 0; w < workers_used; w++)
			known |= !strcmp(seen[w], r[i].worker);
		if (!known && workers_used < 3)
			snprintf(seen[workers_used++], 65, "%s", r[i].worker);
	}
	CHECK_MSG(workers_used == 3, "the job ran on %d of 3 workers", workers_used);
	e2e_results_free(r, n);
	free(job);
	for (int i = 0; i < N; i++)
		free((char *)args[i]);
	cluster_stop(&c);
}

TEST_SLOW(e2e_sigkilled_worker_mid_job_its_tasks_finish_elsewhere, 240)
{
	struct cluster c;
	cluster_start(&c, 2, "1");
	enum { N = 16 };
	const char **args = numbers(N, 0);
	for (int i = 0; i < N; i++) {
		free((char *)args[i]);
		args[i] = wg_asprintf("%d", 300 + i);
	}
	char *job =
	    e2e_submit(c.m.api, e2e_program("t_slow"), e2e_args_file("args", args, N), NULL);
	/* Kill the first worker while it holds tasks (each worker holds two). */
	while (e2e_job_count(c.m.api, job, "completed") < 2)
		usleep(50000);
	wg_test_stop(c.workers[0], SIGKILL, 5000);
	c.workers[0] = -1;
	CHECK(wg_test_wait_log("manager", "of the lost worker go back to the queue", 10000));
	CHECK_EQ(e2e_wait(c.m.api, job), 0);
	e2e_check_slow_results(c.m.api, job, args, N);
	free(job);
	free_args(args, N);
	cluster_stop(&c);
}

TEST_SLOW(e2e_manager_sigkilled_mid_job_restarts_and_loses_nothing, 240)
{
	struct cluster c;
	cluster_start(&c, 2, "1");
	enum { N = 20 };
	const char **args = numbers(N, 0);
	for (int i = 0; i < N; i++) {
		free((char *)args[i]);
		args[i] = wg_asprintf("%d", 200 + i);
	}
	char *job =
	    e2e_submit(c.m.api, e2e_program("t_slow"), e2e_args_file("args", args, N), NULL);
	while (e2e_job_count(c.m.api, job, "completed") < 3)
		usleep(50000);
	int port = c.m.port;
	wg_test_stop(c.m.pid, SIGKILL, 5000);
	e2e_manager_start(&c.m, "manager", port, NULL);
	CHECK_EQ(e2e_wait(c.m.api, job), 0);
	/* Every task exactly once, each with its own correct result. */
	e2e_check_slow_results(c.m.api, job, args, N);
	CHECK_EQ(e2e_job_count(c.m.api, job, "completed"), N);
	free(job);
	free_args(args, N);
	cluster_stop(&c);
}

TEST_SLOW(e2e_silent_worker_is_detected_and_its_tasks_move, 240)
{
	struct cluster c;
	cluster_start(&c, 2, "1");
	enum { N = 12 };
	const char **args = numbers(N, 0);
	for (int i = 0; i < N; i++) {
		free((char *)args[i]);
		args[i] = wg_asprintf("%d", 250 + i);
	}
	char *job =
	    e2e_submit(c.m.api, e2e_program("t_slow"), e2e_args_file("args", args, N), NULL);
	while (e2e_job_count(c.m.api, job, "completed") < 2)
		usleep(50000);
	kill(c.workers[0], SIGSTOP);
	CHECK(wg_test_wait_log("manager", "no ManagerPong within the heartbeat deadline", 20000));
	CHECK(wg_test_wait_log("manager", "of the lost worker go back to the queue", 10000));
	CHECK_EQ(e2e_wait(c.m.api, job), 0);
	e2e_check_slow_results(c.m.api, job, args, N);
	kill(c.workers[0], SIGCONT);
	free(job);
	free_args(args, N);
	cluster_stop(&c);
}

TEST_SLOW(e2e_cancel_stops_running_tasks_on_the_workers, 120)
{
	struct cluster c;
	cluster_start(&c, 2, "1");
	const char *args[] = {"600000", "600000", "600000", "600000"};
	char *job =
	    e2e_submit(c.m.api, e2e_program("t_slow"), e2e_args_file("args", args, 4), NULL);
	/* Both workers run a sandbox. */
	for (int waited = 0;
	     waited < 30000 && (e2e_children(c.workers[0]) < 1 || e2e_children(c.workers[1]) < 1);
	     waited += 100)
		usleep(100000);
	CHECK(e2e_children(c.workers[0]) >= 1 && e2e_children(c.workers[1]) >= 1);
	struct wg_buf out = {0};
	CHECK_EQ(wg_test_run(&out, NULL, "cancel", job, "--api", c.m.api, NULL), 0);
	for (int waited = 0;
	     waited < 10000 && (e2e_children(c.workers[0]) || e2e_children(c.workers[1]));
	     waited += 100)
		usleep(100000);
	CHECK_EQ(e2e_children(c.workers[0]), 0);
	CHECK_EQ(e2e_children(c.workers[1]), 0);
	CHECK_EQ(e2e_job_count(c.m.api, job, "cancelled"), 4);
	CHECK(e2e_wait(c.m.api, job) != 0);
	wg_buf_free(&out);
	free(job);
	cluster_stop(&c);
}

TEST_SLOW(e2e_task_failing_beyond_max_failures_is_reported_with_kind_and_stderr, 120)
{
	struct cluster c;
	cluster_start(&c, 2, "1");
	const char *args[] = {"0", "3"};
	char *job = e2e_submit(c.m.api, e2e_program("t_exit"), e2e_args_file("args", args, 2),
			       "--max-failures", "2", NULL);
	CHECK_EQ(e2e_wait(c.m.api, job), 1);
	size_t n;
	struct e2e_result *r = e2e_results(c.m.api, job, &n);
	CHECK_EQ(n, 2);
	CHECK_STREQ(r[0].status, "completed");
	CHECK_STREQ(r[1].status, "failed");
	CHECK_STREQ(r[1].error, "RunningError");
	CHECK_CONTAINS(r[1].stderr_tail, "exiting with status 3");
	CHECK_EQ(r[1].attempts, 3);
	e2e_results_free(r, n);
	free(job);
	cluster_stop(&c);
}

TEST_SLOW(e2e_unreachable_program_fails_as_download_error_without_retrying_forever, 120)
{
	struct cluster c;
	cluster_start(&c, 1, "1");
	const char *args[] = {"1"};
	/* Nothing listens on port 1. */
	char *job =
	    e2e_submit(c.m.api, "http://127.0.0.1:1/missing.wasm", e2e_args_file("args", args, 1),
		       "--hash", "0000000000000000000000000000000000000000000000000000000000000000",
		       "--max-failures", "1", NULL);
	CHECK_EQ(e2e_wait(c.m.api, job), 1);
	size_t n;
	struct e2e_result *r = e2e_results(c.m.api, job, &n);
	CHECK_EQ(n, 1);
	CHECK_STREQ(r[0].status, "failed");
	CHECK_STREQ(r[0].error, "DownloadError");
	CHECK_EQ(r[0].attempts, 2);
	e2e_results_free(r, n);
	free(job);
	cluster_stop(&c);
}

/* Plants, in a worker's compiled-program cache, the compiled code of `impostor` under the
 * hash of `program`: that worker then returns wrong results for `program`, as a faulty or
 * compromised machine would, while passing every check a worker makes itself. */
static void plant_wrong_program(const char *data_dir, const char *program, const char *impostor)
{
	struct wg_buf out = {0};
	CHECK_EQ(wg_test_run(&out, NULL, "run", impostor, "1", "--data", data_dir, NULL), 0);
	wg_buf_free(&out);
	uint8_t *bytes;
	size_t len;
	uint8_t h[32];
	char target[65], source[65];
	CHECK_EQ(wg_read_file(program, 64 << 20, &bytes, &len), 0);
	crypto_generichash(h, 32, bytes, len, NULL, 0);
	sodium_bin2hex(target, sizeof target, h, 32);
	free(bytes);
	CHECK_EQ(wg_read_file(impostor, 64 << 20, &bytes, &len), 0);
	crypto_generichash(h, 32, bytes, len, NULL, 0);
	sodium_bin2hex(source, sizeof source, h, 32);
	free(bytes);
	char pattern[4200];
	snprintf(pattern, sizeof pattern, "%s/cache/*/%s.so", data_dir, source);
	glob_t g;
	CHECK_MSG(glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc == 1, "no compiled %s", pattern);
	const char *suffixes[] = {"", ".b2"};
	for (int i = 0; i < 2; i++) {
		char from[4300], to[4300];
		snprintf(from, sizeof from, "%s%s", g.gl_pathv[0], suffixes[i]);
		snprintf(to, sizeof to, "%.*s%s.so%s",
			 (int)(strrchr(g.gl_pathv[0], '/') + 1 - g.gl_pathv[0]), g.gl_pathv[0],
			 target, suffixes[i]);
		CHECK_EQ(wg_read_file(from, 64 << 20, &bytes, &len), 0);
		CHECK_EQ(wg_write_file_atomic(to, bytes, len, 0600), 0);
		free(bytes);
	}
	globfree(&g);
}

TEST_SLOW(e2e_redundancy_3_outvotes_a_worker_returning_wrong_results, 240)
{
	struct cluster c;
	memset(&c, 0, sizeof c);
	e2e_manager_start(&c.m, "manager", 0, NULL);
	snprintf(c.addr, sizeof c.addr, "127.0.0.1:%d", c.m.port);
	/* w3 holds t_echo's code under increment's hash: it answers N where N+1 is right,
	 * and answers first, since the honest workers still have to compile. */
	plant_wrong_program(e2e_data("w3"), e2e_program("increment"), e2e_program("t_echo"));
	c.workers[0] = e2e_worker_start("w1", c.addr, "--slots", "2", NULL);
	c.workers[1] = e2e_worker_start("w2", c.addr, "--slots", "2", NULL);
	c.workers[2] = e2e_worker_start("w3", c.addr, "--slots", "2", NULL);
	c.n_workers = 3;
	CHECK(e2e_wait_workers(c.m.api_port, "attached", 3, 20000));
	enum { N = 6 };
	const char **args = numbers(N, 10);
	char *job = e2e_submit(c.m.api, e2e_program("increment"), e2e_args_file("args", args, N),
			       "--redundancy", "3", NULL);
	CHECK_EQ(e2e_wait(c.m.api, job), 0);
	size_t n;
	struct e2e_result *r = e2e_results(c.m.api, job, &n);
	CHECK_EQ(n, N);
	char *bad = wg_test_node_id(e2e_data("w3"));
	for (size_t i = 0; i < N; i++) {
		char want[32];
		snprintf(want, sizeof want, "%ld\n", (long)i * 10 + 1);
		CHECK_STREQ(r[i].status, "completed");
		CHECK_STREQ(r[i].result, want);
		CHECK(strcmp(r[i].worker, bad) != 0);
		/* The honest pair makes the quorum; the liar, once outvoted, gets no more
		 * tasks of the job, so a later task may run on the honest two alone. */
		CHECK(r[i].attempts >= 2);
	}
	/* Its reputation says so. */
	CHECK(e2e_worker_outvoted(c.m.api_port, bad) >= 1);
	free(bad);
	e2e_results_free(r, n);
	free(job);
	free_args(args, N);
	cluster_stop(&c);
}

/* The same liar, on three replicated jobs: outvoted on each, it is quarantined and gets no
 * task of a fourth job; `wasmgrid workers` says why; cleared, it works again. */
TEST_SLOW(e2e_a_worker_outvoted_three_times_is_quarantined_until_cleared, 240)
{
	struct cluster c;
	memset(&c, 0, sizeof c);
	e2e_manager_start(&c.m, "manager", 0, NULL);
	snprintf(c.addr, sizeof c.addr, "127.0.0.1:%d", c.m.port);
	/* w3 holds t_echo's code under t_slow's hash: it answers "300" at once where the
	 * honest two answer "slept 300" after 300 ms, so it is always in before the quorum. */
	plant_wrong_program(e2e_data("w3"), e2e_program("t_slow"), e2e_program("t_echo"));
	for (int i = 0; i < 3; i++) {
		char name[16];
		snprintf(name, sizeof name, "w%d", i + 1);
		c.workers[i] = e2e_worker_start(name, c.addr, "--slots", "1", NULL);
	}
	c.n_workers = 3;
	CHECK(e2e_wait_workers(c.m.api_port, "attached", 3, 20000));
	char *bad = wg_test_node_id(e2e_data("w3"));
	const char *one[] = {"300"};
	for (int k = 0; k < 3; k++) {
		char *job = e2e_submit(c.m.api, e2e_program("t_slow"), e2e_args_file("one", one, 1),
				       "--redundancy", "3", NULL);
		CHECK_EQ(e2e_wait(c.m.api, job), 0);
		free(job);
	}
	CHECK_EQ(e2e_worker_outvoted(c.m.api_port, bad), 3);
	struct wg_buf out = {0};
	CHECK_EQ(wg_test_run(&out, NULL, "workers", "--api", c.m.api, NULL), 0);
	CHECK_CONTAINS(wg_buf_cstr(&out), "quarantined: 3 results outvoted by a quorum");
	/* A fourth job, of another program (one w3 runs honestly): nothing for it. */
	const char **args = numbers(12, 1);
	char *job =
	    e2e_submit(c.m.api, e2e_program("increment"), e2e_args_file("inc", args, 12), NULL);
	CHECK_EQ(e2e_wait(c.m.api, job), 0);
	size_t n;
	struct e2e_result *r = e2e_results(c.m.api, job, &n);
	for (size_t i = 0; i < n; i++)
		CHECK(strcmp(r[i].worker, bad) != 0);
	e2e_results_free(r, n);
	/* `explain` names the reason that worker takes nothing. */
	out.len = 0;
	CHECK_EQ(wg_test_run(&out, NULL, "explain", job, "--json", "--api", c.m.api, NULL), 0);
	CHECK_CONTAINS(wg_buf_cstr(&out), "\"verdict\":\"distrusted\"");
	CHECK_CONTAINS(wg_buf_cstr(&out), "quarantined: 3 results outvoted");
	free(job);
	/* Cleared (by the start of its id), it runs tasks again. */
	char prefix[17];
	snprintf(prefix, sizeof prefix, "%.16s", bad);
	out.len = 0;
	CHECK_EQ(wg_test_run(&out, NULL, "workers", "--clear", prefix, "--api", c.m.api, NULL), 0);
	CHECK_CONTAINS(wg_buf_cstr(&out), "cleared");
	bool ran = false;
	for (int round = 0; round < 5 && !ran; round++) {
		job = e2e_submit(c.m.api, e2e_program("increment"), e2e_args_file("inc", args, 12),
				 NULL);
		CHECK_EQ(e2e_wait(c.m.api, job), 0);
		r = e2e_results(c.m.api, job, &n);
		for (size_t i = 0; i < n; i++)
			ran |= strcmp(r[i].worker, bad) == 0;
		e2e_results_free(r, n);
		free(job);
	}
	CHECK_MSG(ran, "the cleared worker got no task");
	wg_buf_free(&out);
	free_args(args, 12);
	free(bad);
	cluster_stop(&c);
}

TEST_SLOW(e2e_results_wait_answers_the_moment_the_job_ends, 120)
{
	struct cluster c;
	cluster_start(&c, 1, "1");
	const char *args[] = {"400"};
	char *job =
	    e2e_submit(c.m.api, e2e_program("t_slow"), e2e_args_file("args", args, 1), NULL);
	char path[128];
	struct wg_buf body = {0};
	/* A malformed wait is refused. */
	snprintf(path, sizeof path, "/v1/jobs/%s/results?wait=soon", job);
	CHECK_EQ(wg_test_http_get(c.m.api_port, path, &body), 400);
	/* Held until the job ends, then answered with its results. */
	snprintf(path, sizeof path, "/v1/jobs/%s/results?wait=60000", job);
	CHECK_EQ(wg_test_http_get(c.m.api_port, path, &body), 200);
	CHECK_CONTAINS((char *)body.data, "\"state\":\"completed\"");
	CHECK_CONTAINS((char *)body.data, "slept 400");
	/* A finished job is answered at once. */
	snprintf(path, sizeof path, "/v1/jobs/%s?wait=60000", job);
	CHECK_EQ(wg_test_http_get(c.m.api_port, path, &body), 200);
	CHECK_CONTAINS((char *)body.data, "\"completed\":1");
	wg_buf_free(&body);
	free(job);
	cluster_stop(&c);
}

static void set_file_size_limit(pid_t pid, const char *limit)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "prlimit --pid %d --fsize=%s", (int)pid, limit);
	CHECK_MSG(system(cmd) == 0, "%s failed", cmd);
}

TEST_SLOW(e2e_full_disk_keeps_the_manager_running_and_loses_nothing, 180)
{
	struct cluster c;
	cluster_start(&c, 1, "1");
	const char *args[] = {"1", "2"};
	char *job1 =
	    e2e_submit(c.m.api, e2e_program("increment"), e2e_args_file("args", args, 2), NULL);
	CHECK_EQ(e2e_wait(c.m.api, job1), 0);
	/* The disk is full, as far as the manager can tell: no file of its may grow. */
	set_file_size_limit(c.m.pid, "1:unlimited");
	struct wg_buf out = {0}, err = {0};
	const char *argv[] = {"submit", e2e_program("increment"), "--arg", "5", "--api", c.m.api,
			      NULL};
	CHECK_EQ(wg_test_runv(&out, &err, argv), 1);
	CHECK_CONTAINS(wg_buf_cstr(&err), "the manager");
	/* Still running (its log cannot grow either: it is asked, not read), and saying why
	 * it cannot take jobs. */
	bool says_why = false;
	for (int waited = 0; !says_why && waited < 10000; waited += 200) {
		CHECK_EQ(kill(c.m.pid, 0), 0);
		err.len = 0;
		says_why = wg_test_run(NULL, &err, "status", job1, "--api", c.m.api, NULL) == 1 &&
			   strstr(wg_buf_cstr(&err), "disk full");
		if (!says_why)
			usleep(200000);
	}
	CHECK_MSG(says_why, "status said: %s", wg_buf_cstr(&err));
	/* Space again: the store reopens, the worker comes back, nothing committed is lost. */
	set_file_size_limit(c.m.pid, "unlimited");
	CHECK(wg_test_wait_log("manager", "the job store is back", 20000));
	size_t n;
	struct e2e_result *r = e2e_results(c.m.api, job1, &n);
	CHECK_EQ(n, 2);
	CHECK_STREQ(r[0].result, "2\n");
	CHECK_STREQ(r[1].result, "3\n");
	e2e_results_free(r, n);
	CHECK(e2e_wait_workers(c.m.api_port, "attached", 1, 20000));
	const char *args2[] = {"41"};
	char *job2 =
	    e2e_submit(c.m.api, e2e_program("increment"), e2e_args_file("args2", args2, 1), NULL);
	CHECK_EQ(e2e_wait(c.m.api, job2), 0);
	r = e2e_results(c.m.api, job2, &n);
	CHECK_EQ(n, 1);
	CHECK_STREQ(r[0].result, "42\n");
	e2e_results_free(r, n);
	wg_buf_free(&out);
	wg_buf_free(&err);
	free(job1);
	free(job2);
	cluster_stop(&c);
}
