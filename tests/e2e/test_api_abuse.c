/* The manager's HTTP API under abuse, against a real manager process: many half-open
 * connections from one client must not lock others out, and a job body built to be as
 * expensive as the size limit allows must not take the manager's memory. The memory
 * figures come from the manager's /proc/PID/status (VmHWM: peak resident set; VmRSS: now). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "e2e/cluster.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "http/client.h"
#include "http/http_fixture.h"
#include "util/buf.h"

#define HALF_OPEN 300
/* The manager's job body limit (WG_MAX_JOB_BODY_BYTES) and task limit (WG_MAX_TASKS). */
#define JOB_BODY_MAX (64u * 1024 * 1024)
#define MAX_TASKS 1000000
#define PEAK_BOUND_KIB (512L * 1024)
/* Under AddressSanitizer (the manager is built like this binary) freed memory is held in
 * quarantine and every block has red zones: the memory bounds are the production build's. */
#ifdef __SANITIZE_ADDRESS__
#define MEMORY_BOUNDS 0
#else
#define MEMORY_BOUNDS 1
#endif

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A field of /proc/PID/status in KiB ("VmHWM", "VmRSS"). */
static long proc_kib(pid_t pid, const char *field)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	CHECK_MSG(f != NULL, "%s: %s", path, strerror(errno));
	long kib = -1;
	size_t n = strlen(field);
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, field, n) && line[n] == ':')
			kib = strtol(line + n + 1, NULL, 10);
	fclose(f);
	CHECK_MSG(kib >= 0, "no %s in %s", field, path);
	return kib;
}

/* One GET /v1/jobs from the local address src_ip with a receive timeout: the status, or -1
 * when the manager closed, reset or did not answer within timeout_ms. */
static int get_jobs_from(const char *src_ip, int port, int timeout_ms)
{
	int fd = raw_connect_from(src_ip, port);
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = timeout_ms % 1000 * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	const char *req = "GET /v1/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	int status = -1;
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req)) {
		struct wg_buf carry = {0};
		status = raw_read_response(fd, &carry, NULL, NULL);
		wg_buf_free(&carry);
	}
	close(fd);
	return status;
}

/* Part of a head: the request line and one header, not the empty line that ends it. */
static void send_partial_head(int fd)
{
	const char *part = "GET /v1/jobs HTTP/1.1\r\nHost: x\r\n";
	(void)!send(fd, part, strlen(part), MSG_NOSIGNAL);
}

TEST_SLOW(e2e_api_answers_others_under_300_half_open_connections, 90)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	/* One client (127.0.0.1) opens 300 connections, each with part of a request head, more
	 * than the manager's 256 connections. Every connect has completed, so the manager
	 * accepts them (in order) before the other client's. */
	int fds[HALF_OPEN];
	for (int i = 0; i < HALF_OPEN; i++) {
		fds[i] = raw_connect_from("127.0.0.1", m.api_port);
		send_partial_head(fds[i]);
	}
	/* Another client (127.0.0.2) is answered at once (before the fix: refused for the
	 * 30 s request deadline). Retrying covers a refusal; a generous bound. */
	long long t0 = now_ms();
	int status = -1;
	while (status != 200 && now_ms() - t0 < 3000) {
		status = get_jobs_from("127.0.0.2", m.api_port, 1000);
		if (status != 200)
			usleep(50000);
	}
	long long took = now_ms() - t0;
	fprintf(stderr,
		"    GET /v1/jobs from another address under %d half-open connections: "
		"%d in %lld ms\n",
		HALF_OPEN, status, took);
	CHECK_MSG(status == 200, "no answer within %lld ms (status %d)", took, status);
	/* The half-open heads are cut at the head deadline (5 s; before: 30 s). */
	t0 = now_ms();
	for (int i = 0; i < HALF_OPEN; i++) {
		struct wg_buf carry = {0};
		raw_read_until_eof(fds[i], &carry);
		wg_buf_free(&carry);
		close(fds[i]);
	}
	took = now_ms() - t0;
	CHECK_MSG(took < 15000, "the half-open connections lasted %lld ms", took);
	/* The same from ten addresses (30 each, within the per-address limit) fills the
	 * manager: then the newcomer takes the place of the longest waiting. */
	for (int i = 0; i < HALF_OPEN; i++) {
		char ip[32];
		snprintf(ip, sizeof ip, "127.0.1.%d", 1 + i % 10);
		fds[i] = raw_connect_from(ip, m.api_port);
		send_partial_head(fds[i]);
	}
	t0 = now_ms();
	status = get_jobs_from("127.0.0.2", m.api_port, 3000);
	took = now_ms() - t0;
	fprintf(stderr, "    the same from 10 addresses: %d in %lld ms\n", status, took);
	CHECK_EQ(status, 200);
	for (int i = 0; i < HALF_OPEN; i++)
		close(fds[i]);
	wg_test_stop(m.pid, SIGTERM, 5000);
}

/* POSTs a job of `n` arguments, each the string `arg`, padded with white space to exactly
 * `pad_to` bytes when that is not 0. Returns the status; the answer is in *resp. */
static long post_args(const struct e2e_manager *m, size_t n, const char *arg, size_t pad_to,
		      struct wg_buf *resp)
{
	struct wg_buf body = {0};
	wg_buf_reserve(&body, pad_to ? pad_to : n * (strlen(arg) + 3) + 256);
	wg_buf_append_str(&body, "{\"address\":\"file:///p.wasm\",\"hash\":\"");
	for (int i = 0; i < 64; i++)
		wg_buf_append_str(&body, "0");
	wg_buf_append_str(&body, "\",\"arguments\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			wg_buf_append_str(&body, ",");
		wg_buf_appendf(&body, "\"%s\"", arg);
	}
	wg_buf_append_str(&body, "]}");
	CHECK(!pad_to || body.len <= pad_to);
	while (pad_to && body.len < pad_to)
		wg_buf_append_str(&body, " ");
	long status = 0;
	resp->len = 0;
	CHECK_EQ(wg_http_request(m->api, "POST", "/v1/jobs", "application/json", body.data,
				 body.len, &status, resp),
		 0);
	wg_buf_cstr(resp);
	wg_buf_free(&body);
	return status;
}

TEST_SLOW(e2e_maximal_job_body_is_refused_early_and_memory_is_given_back, 120)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	struct wg_buf resp = {0};
	CHECK_EQ(wg_test_http_get(m.api_port, "/v1/jobs", &resp), 200);
	long start = proc_kib(m.pid, "VmRSS");
	/* 64 MiB of empty strings: ~22 million values. */
	size_t n = (JOB_BODY_MAX - 200) / 3;
	long status = post_args(&m, n, "", JOB_BODY_MAX, &resp);
	/* The answer may leave before the handler has returned: a request after it waits. */
	CHECK_EQ(wg_test_http_get(m.api_port, "/v1/jobs", NULL), 200);
	long peak = proc_kib(m.pid, "VmHWM"), after = proc_kib(m.pid, "VmRSS");
	fprintf(stderr,
		"    %zu empty arguments in 64 MiB: %ld, RSS %ld MiB before, peak %ld MiB, "
		"%ld MiB after\n",
		n, status, start >> 10, peak >> 10, after >> 10);
	CHECK_EQ(status, 400);
	CHECK_CONTAINS((char *)resp.data, "1000000");
	CHECK_MSG(!MEMORY_BOUNDS || peak < PEAK_BOUND_KIB, "peak RSS %ld MiB", peak >> 10);
	CHECK_MSG(!MEMORY_BOUNDS || after < start + 32 * 1024, "RSS %ld MiB after, %ld MiB before",
		  after >> 10, start >> 10);
	/* The manager still works. */
	CHECK_EQ(post_args(&m, 3, "x", 0, &resp), 201);
	wg_buf_free(&resp);
	wg_test_stop(m.pid, SIGTERM, 5000);
}

TEST_SLOW(e2e_million_task_job_body_is_accepted_within_the_memory_bound, 180)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	struct wg_buf resp = {0};
	CHECK_EQ(wg_test_http_get(m.api_port, "/v1/jobs", &resp), 200);
	long start = proc_kib(m.pid, "VmRSS");
	long long t0 = now_ms();
	long status = post_args(&m, MAX_TASKS, "123456", 0, &resp);
	long long took = now_ms() - t0;
	/* The answer may leave before the handler has returned: a request after it waits. */
	CHECK_EQ(wg_test_http_get(m.api_port, "/v1/jobs", NULL), 200);
	long peak = proc_kib(m.pid, "VmHWM"), after = proc_kib(m.pid, "VmRSS");
	fprintf(stderr,
		"    %d arguments: %ld in %lld ms, RSS %ld MiB before, peak %ld MiB, "
		"%ld MiB after\n",
		MAX_TASKS, status, took, start >> 10, peak >> 10, after >> 10);
	CHECK_EQ(status, 201);
	CHECK_STREQ((char *)resp.data, "{\"id\":1,\"tasks\":1000000}");
	CHECK_MSG(!MEMORY_BOUNDS || peak < PEAK_BOUND_KIB, "peak RSS %ld MiB", peak >> 10);
	/* One more is one too many, and says so. */
	CHECK_EQ(post_args(&m, MAX_TASKS + 1, "", 0, &resp), 400);
	CHECK_CONTAINS((char *)resp.data, "1000000");
	wg_buf_free(&resp);
	wg_test_stop(m.pid, SIGTERM, 5000);
}
