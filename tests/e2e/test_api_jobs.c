/* The user's side of jobs, through the real CLI and HTTP API of a real manager with no
 * workers: every task stays queued, so what is checked is what the manager stores, lists,
 * pages, cancels and keeps across a crash, and how bad input is told to the user. */
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
#include "http/client.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/hex.h"

/* The smallest valid WebAssembly module: magic and version. */
static const char min_wasm[8] = {0, 'a', 's', 'm', 1, 0, 0, 0};

static const char *write_min_wasm(void)
{
	const char *path = wg_test_path("min.wasm");
	CHECK_EQ(wg_write_file_atomic(path, min_wasm, sizeof min_wasm, 0644), 0);
	return path;
}

/* Runs `wasmgrid ARGS...`; out and err are reset and NUL-terminated. */
#define RUN(out, err, ...)                                                                         \
	((out)->len = 0, (err)->len = 0, run_status = wg_test_run(out, err, __VA_ARGS__, NULL),    \
	 wg_buf_cstr(out), wg_buf_cstr(err), run_status)

static int run_status;

/* An HTTP request to the manager's API: returns the status, body NUL-terminated in resp. */
static long api_call(const struct e2e_manager *m, const char *method, const char *path,
		     const char *type, const void *body, size_t len, struct wg_buf *resp)
{
	long status = 0;
	resp->len = 0;
	CHECK_EQ(wg_http_request(m->api, method, path, type, body, len, &status, resp), 0);
	wg_buf_cstr(resp);
	return status;
}

static long post_json(const struct e2e_manager *m, const char *json, struct wg_buf *resp)
{
	return api_call(m, "POST", "/v1/jobs", "application/json", json, strlen(json), resp);
}

TEST_SLOW(e2e_submitted_job_is_listed_paged_and_cancelled, 60)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	const char *wasm = write_min_wasm();
	struct wg_buf out = {0}, err = {0};

	CHECK_EQ(RUN(&out, &err, "submit", wasm, "--arg", "a", "--arg", "b c", "--arg", "d",
		     "--priority", "-2", "--redundancy", "2", "--api", m.api),
		 0);
	CHECK_STREQ((char *)out.data, "1\n");
	CHECK_EQ(RUN(&out, &err, "status", "1", "--api", m.api), 0);
	CHECK_CONTAINS((char *)out.data, "job 1: running");
	CHECK_CONTAINS((char *)out.data, "3: 3 queued, 0 assigned, 0 running");
	CHECK_CONTAINS((char *)out.data, "priority -2");
	CHECK_CONTAINS((char *)out.data, "redundancy 2");
	CHECK_EQ(RUN(&out, &err, "status", "1", "--json", "--api", m.api), 0);
	CHECK_CONTAINS((char *)out.data, "\"queued\":3");
	CHECK_CONTAINS((char *)out.data, "\"finished_ms\":null");

	/* The program the CLI uploaded is stored under its BLAKE2b-256, which the job names. */
	uint8_t digest[32];
	char hex[65];
	crypto_generichash(digest, sizeof digest, (const uint8_t *)min_wasm, sizeof min_wasm, NULL,
			   0);
	wg_hex_encode(digest, sizeof digest, hex);
	CHECK_CONTAINS((char *)out.data, hex);

	/* A file:// URL: the CLI hashes the file itself, to the same hash. */
	char url[700];
	snprintf(url, sizeof url, "file://%s", wasm);
	CHECK_EQ(RUN(&out, &err, "submit", url, "--arg", "x", "--name", "sweep \xce\xb1=0.5",
		     "--api", m.api),
		 0);
	CHECK_STREQ((char *)out.data, "2\n");
	CHECK_EQ(RUN(&out, &err, "status", "2", "--api", m.api), 0);
	CHECK_CONTAINS((char *)out.data, hex);
	CHECK_CONTAINS((char *)out.data, "  name        sweep \xce\xb1=0.5\n");
	CHECK_EQ(RUN(&out, &err, "submit", url, "--arg", "x", "--name", "a\tb", "--api", m.api), 2);
	CHECK_CONTAINS((char *)err.data, "--name must be at most 128 bytes");

	CHECK_EQ(RUN(&out, &err, "status", "--api", m.api), 0);
	CHECK_CONTAINS((char *)out.data, "2 jobs");
	CHECK_CONTAINS((char *)out.data, "running");

	CHECK_EQ(RUN(&out, &err, "results", "1", "--api", m.api), 0);
	CHECK_STREQ((char *)out.data, "0 queued -\n1 queued -\n2 queued -\n");
	CHECK_EQ(RUN(&out, &err, "results", "1", "--json", "--api", m.api), 0);
	CHECK_CONTAINS((char *)out.data, "{\"index\":2,\"status\":\"queued\"");
	size_t lines = 0;
	for (char *p = (char *)out.data; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	CHECK_EQ(lines, 3);

	/* The job core's counts reach /metrics. */
	struct wg_buf body = {0};
	CHECK_EQ(api_call(&m, "GET", "/metrics", NULL, NULL, 0, &body), 200);
	CHECK_CONTAINS((char *)body.data, "wasmgrid_tasks{state=\"queued\"} 4");
	CHECK_CONTAINS((char *)body.data, "wasmgrid_jobs{state=\"running\"} 2");

	CHECK_EQ(RUN(&out, &err, "cancel", "1", "--api", m.api), 0);
	CHECK_CONTAINS((char *)out.data, "job 1 cancelled: 3 of 3 tasks cancelled");
	CHECK_EQ(RUN(&out, &err, "status", "1", "--api", m.api), 0);
	CHECK_CONTAINS((char *)out.data, "job 1: cancelled");
	/* Finished jobs stay listed; --state and --limit choose among them, newest first. */
	CHECK_EQ(RUN(&out, &err, "status", "--state", "cancelled", "--api", m.api), 0);
	CHECK_CONTAINS((char *)out.data, "1 job\n");
	CHECK_CONTAINS((char *)out.data, "cancelled");
	CHECK_EQ(RUN(&out, &err, "status", "--state", "running,completed", "--api", m.api), 0);
	CHECK_CONTAINS((char *)out.data, "sweep \xce\xb1=0.5\n1 job\n");
	CHECK_EQ(RUN(&out, &err, "status", "--limit", "1", "--json", "--api", m.api), 0);
	CHECK_CONTAINS((char *)out.data, "{\"jobs\":[{\"id\":2,\"name\":\"sweep \xce\xb1=0.5\"");
	CHECK(!strstr((char *)out.data, "\"id\":1"));
	CHECK_EQ(RUN(&out, &err, "status", "--state", "done", "--api", m.api), 2);
	CHECK_CONTAINS((char *)err.data, "--state takes job states");
	CHECK_EQ(api_call(&m, "GET", "/v1/jobs?state=finished", NULL, NULL, 0, &body), 400);
	CHECK_CONTAINS((char *)body.data, "not 'finished'");
	CHECK_EQ(RUN(&out, &err, "results", "1", "--api", m.api), 0);
	CHECK_CONTAINS((char *)out.data, "2 cancelled -");
	/* wait on a job that did not complete: exit 1 with a one-line summary. */
	CHECK_EQ(RUN(&out, &err, "wait", "1", "--api", m.api), 1);
	CHECK_CONTAINS((char *)err.data, "job 1 cancelled: 0 of 3 tasks completed");
	CHECK_EQ(api_call(&m, "GET", "/metrics", NULL, NULL, 0, &body), 200);
	CHECK_CONTAINS((char *)body.data, "wasmgrid_tasks{state=\"cancelled\"} 3");

	wg_buf_free(&body);
	wg_buf_free(&out);
	wg_buf_free(&err);
	wg_test_stop(m.pid, SIGTERM, 5000);
}

TEST_SLOW(e2e_jobs_survive_manager_sigkill, 60)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	const char *wasm = write_min_wasm();
	struct wg_buf out = {0}, err = {0};
	CHECK_EQ(RUN(&out, &err, "submit", wasm, "--arg", "1", "--arg", "2", "--api", m.api), 0);
	CHECK_EQ(RUN(&out, &err, "submit", wasm, "--arg", "3", "--api", m.api), 0);
	CHECK_EQ(RUN(&out, &err, "cancel", "2", "--api", m.api), 0);
	CHECK_EQ(wg_test_stop(m.pid, SIGKILL, 5000) & 0x7f, SIGKILL);

	e2e_manager_start(&m, "manager", 0, NULL);
	CHECK_EQ(RUN(&out, &err, "status", "1", "--api", m.api), 0);
	CHECK_CONTAINS((char *)out.data, "2: 2 queued");
	CHECK_EQ(RUN(&out, &err, "status", "2", "--api", m.api), 0);
	CHECK_CONTAINS((char *)out.data, "job 2: cancelled");
	CHECK_EQ(RUN(&out, &err, "results", "1", "--api", m.api), 0);
	CHECK_STREQ((char *)out.data, "0 queued -\n1 queued -\n");
	/* New jobs continue the numbering: ids are never reused. */
	CHECK_EQ(RUN(&out, &err, "submit", wasm, "--arg", "4", "--api", m.api), 0);
	CHECK_STREQ((char *)out.data, "3\n");
	wg_buf_free(&out);
	wg_buf_free(&err);
	wg_test_stop(m.pid, SIGTERM, 5000);
}

TEST_SLOW(e2e_submit_args_file_makes_one_task_per_line, 60)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	const char *wasm = write_min_wasm();
	struct wg_buf text = {0}, out = {0}, err = {0}, body = {0};
	/* Lines of any kind: one with spaces, one empty, one with a CR LF ending. */
	for (int i = 0; i < 1000; i++) {
		if (i == 10)
			wg_buf_appendf(&text, "two words\n");
		else if (i == 11)
			wg_buf_appendf(&text, "\n");
		else if (i == 12)
			wg_buf_appendf(&text, "crlf\r\n");
		else
			wg_buf_appendf(&text, "%d\n", i);
	}
	const char *args = wg_test_path("args.txt");
	CHECK_EQ(wg_write_file_atomic(args, text.data, text.len, 0644), 0);
	CHECK_EQ(RUN(&out, &err, "submit", wasm, "--args-file", args, "--api", m.api), 0);
	CHECK_STREQ((char *)out.data, "1\n");
	CHECK_EQ(RUN(&out, &err, "status", "1", "--api", m.api), 0);
	CHECK_CONTAINS((char *)out.data, "1000: 1000 queued");
	CHECK_EQ(RUN(&out, &err, "results", "1", "--api", m.api), 0);
	size_t lines = 0;
	for (char *p = (char *)out.data; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	CHECK_EQ(lines, 1000);
	CHECK_CONTAINS((char *)out.data, "\n999 queued -\n");

	/* Paging through the API: `next` says where the following page starts. */
	CHECK_EQ(api_call(&m, "GET", "/v1/jobs/1/results?from=990&limit=5", NULL, NULL, 0, &body),
		 200);
	CHECK_CONTAINS((char *)body.data, "{\"index\":990,");
	CHECK_CONTAINS((char *)body.data, "{\"index\":994,");
	CHECK(!strstr((char *)body.data, "\"index\":995"));
	CHECK_CONTAINS((char *)body.data, "\"next\":995");
	CHECK_EQ(api_call(&m, "GET", "/v1/jobs/1/results?from=995&limit=5", NULL, NULL, 0, &body),
		 200);
	CHECK_CONTAINS((char *)body.data, "\"next\":null");
	wg_buf_free(&text);
	wg_buf_free(&out);
	wg_buf_free(&err);
	wg_buf_free(&body);
	wg_test_stop(m.pid, SIGTERM, 5000);
}

TEST_SLOW(e2e_bad_job_input_gets_clear_errors, 60)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	const char *wasm = write_min_wasm();
	struct wg_buf out = {0}, err = {0}, body = {0};

	/* Usage errors: exit 2, saying what to give. */
	CHECK_EQ(RUN(&out, &err, "submit", wasm, "--api", m.api), 2);
	CHECK_CONTAINS((char *)err.data, "no arguments: give --arg A");
	CHECK_EQ(
	    RUN(&out, &err, "submit", "https://example.com/p.wasm", "--arg", "1", "--api", m.api),
	    2);
	CHECK_CONTAINS((char *)err.data, "needs --hash");
	CHECK_EQ(RUN(&out, &err, "submit", "https://example.com/p.wasm", "--hash", "12zz", "--arg",
		     "1", "--api", m.api),
		 2);
	CHECK_CONTAINS((char *)err.data, "--hash must be 64 hex digits");
	CHECK_EQ(RUN(&out, &err, "status", "abc", "--api", m.api), 2);
	CHECK_CONTAINS((char *)err.data, "'abc' is not a job id");

	/* A file that is not WebAssembly is refused by the manager. */
	const char *text = wg_test_path("notes.txt");
	CHECK_EQ(wg_write_file_atomic(text, "hello world\n", 12, 0644), 0);
	CHECK_EQ(RUN(&out, &err, "submit", text, "--arg", "1", "--api", m.api), 1);
	CHECK_CONTAINS((char *)err.data, "not a WebAssembly module");
	CHECK_EQ(
	    api_call(&m, "POST", "/v1/programs", "application/wasm", "\0asm\2\0\0\0", 8, &body),
	    400);
	CHECK_CONTAINS((char *)body.data, "version");

	/* Unknown jobs: 404, and the CLI names the manager and how to list jobs. */
	const char *cmds[] = {"status", "results", "cancel", "wait"};
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		CHECK_EQ(RUN(&out, &err, cmds[i], "42", "--api", m.api), 1);
		CHECK_CONTAINS((char *)err.data, "no job 42 on the manager at");
		CHECK_CONTAINS((char *)err.data, "wasmgrid status");
	}
	CHECK_EQ(api_call(&m, "GET", "/v1/jobs/42", NULL, NULL, 0, &body), 404);
	CHECK_CONTAINS((char *)body.data, "no job 42");
	CHECK_EQ(api_call(&m, "DELETE", "/v1/jobs/42", NULL, NULL, 0, &body), 404);
	CHECK_EQ(api_call(&m, "GET", "/v1/jobs/x1", NULL, NULL, 0, &body), 400);

	/* Malformed and invalid submissions through the API: 400 naming the field. */
	CHECK_EQ(post_json(&m, "{\"program\": ", &body), 400);
	CHECK_CONTAINS((char *)body.data, "not valid JSON");
	CHECK_EQ(post_json(&m, "[1,2]", &body), 400);
	CHECK_CONTAINS((char *)body.data, "JSON object");
	CHECK_EQ(post_json(&m, "{\"program\":\"abc\",\"arguments\":[\"1\"]}", &body), 400);
	CHECK_CONTAINS((char *)body.data, "64 hex digits");
	char json[512], zeros[65];
	memset(zeros, '0', 64);
	zeros[64] = 0;
	snprintf(json, sizeof json, "{\"program\":\"%s\",\"arguments\":[\"1\"]}", zeros);
	CHECK_EQ(post_json(&m, json, &body), 404);
	CHECK_CONTAINS((char *)body.data, "upload it first");
	CHECK_EQ(post_json(&m, "{\"arguments\":[\"1\"]}", &body), 400);
	CHECK_CONTAINS((char *)body.data, "say which program");
	CHECK_EQ(post_json(&m, "{\"address\":\"ftp://x/p.wasm\",\"arguments\":[\"1\"]}", &body),
		 400);
	CHECK_CONTAINS((char *)body.data, "'address' must be");
	CHECK_EQ(post_json(&m, "{\"address\":\"https://x/p.wasm\",\"arguments\":[\"1\"]}", &body),
		 400);
	CHECK_CONTAINS((char *)body.data, "'hash' is required");
	snprintf(json, sizeof json, "{\"address\":\"https://x/p.wasm\",\"hash\":\"%s\"}", zeros);
	CHECK_EQ(post_json(&m, json, &body), 400);
	CHECK_CONTAINS((char *)body.data, "'arguments' is missing");
	snprintf(json, sizeof json,
		 "{\"address\":\"https://x/p.wasm\",\"hash\":\"%s\",\"arguments\":[1]}", zeros);
	CHECK_EQ(post_json(&m, json, &body), 400);
	CHECK_CONTAINS((char *)body.data, "'arguments[0]' is not a string");
	snprintf(json, sizeof json,
		 "{\"address\":\"https://x/p.wasm\",\"hash\":\"%s\",\"arguments\":[\"1\"],"
		 "\"redundancy\":99}",
		 zeros);
	CHECK_EQ(post_json(&m, json, &body), 400);
	CHECK_CONTAINS((char *)body.data, "'redundancy' must be an integer from 1 to 16");
	snprintf(json, sizeof json,
		 "{\"address\":\"https://x/p.wasm\",\"hash\":\"%s\",\"arguments_base64\":[\"!!\"]}",
		 zeros);
	CHECK_EQ(post_json(&m, json, &body), 400);
	CHECK_CONTAINS((char *)body.data, "not valid base64");
	/* Nothing above was stored. */
	CHECK_EQ(api_call(&m, "GET", "/v1/jobs", NULL, NULL, 0, &body), 200);
	CHECK_STREQ((char *)body.data, "{\"jobs\":[]}");

	/* A valid address job with base64 arguments is taken. */
	snprintf(json, sizeof json,
		 "{\"address\":\"https://x/p.wasm\",\"hash\":\"%s\",\"arguments_base64\":"
		 "[\"AP8=\",\"\"],\"timeout_ms\":1500}",
		 zeros);
	CHECK_EQ(post_json(&m, json, &body), 201);
	CHECK_STREQ((char *)body.data, "{\"id\":1,\"tasks\":2}");
	/* A job of no task is complete at once, and `wait` says so with exit status 0. */
	snprintf(json, sizeof json,
		 "{\"address\":\"file:///p.wasm\",\"hash\":\"%s\",\"arguments\":[]}", zeros);
	CHECK_EQ(post_json(&m, json, &body), 201);
	CHECK_STREQ((char *)body.data, "{\"id\":2,\"tasks\":0}");
	CHECK_EQ(RUN(&out, &err, "wait", "2", "--api", m.api), 0);
	CHECK_STREQ((char *)err.data, "job 2 completed: 0 of 0 tasks completed, 0 failed, 0 "
				      "cancelled; 'wasmgrid results 2' shows them\n");

	/* Nothing listens: the user is told to check the manager. */
	wg_test_stop(m.pid, SIGTERM, 5000);
	CHECK_EQ(RUN(&out, &err, "status", "--api", m.api), 1);
	CHECK_CONTAINS((char *)err.data, "cannot connect to the manager");
	CHECK_EQ(RUN(&out, &err, "submit", wasm, "--arg", "1", "--api", m.api), 1);
	CHECK_CONTAINS((char *)err.data, "cannot connect to the manager");
	wg_buf_free(&out);
	wg_buf_free(&err);
	wg_buf_free(&body);
}

/* `wait` says within a second when the manager stops answering (here: stopped with
 * SIGSTOP, so its socket accepts and nothing answers), keeps trying, and says when it answers
 * again; the job's end is then reported as usual. */
TEST_SLOW(e2e_wait_says_at_once_when_the_manager_goes_silent, 60)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	const char *wasm = write_min_wasm();
	struct wg_buf out = {0}, err = {0};
	CHECK_EQ(RUN(&out, &err, "submit", wasm, "--arg", "1", "--api", m.api), 0);
	pid_t waiter = wg_test_start("wait", "wait", "1", "--api", m.api, NULL);
	usleep(300 * 1000);
	CHECK_EQ(kill(m.pid, SIGSTOP), 0);
	/* Well before the 30 s it keeps trying for (the message comes after 1 s). */
	CHECK(wg_test_wait_log("wait", "did not answer within 1000 ms; trying again for 30 s",
			       10000));
	CHECK_EQ(kill(m.pid, SIGCONT), 0);
	CHECK(wg_test_wait_log("wait", "answers again", 10000));
	CHECK_EQ(RUN(&out, &err, "cancel", "1", "--api", m.api), 0);
	int ws = wg_test_stop(waiter, 0, 10000);
	CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 1);
	char *log = wg_test_log("wait");
	CHECK_CONTAINS(log, "job 1 cancelled: 0 of 1 tasks completed");
	free(log);
	wg_buf_free(&out);
	wg_buf_free(&err);
	wg_test_stop(m.pid, SIGTERM, 5000);
}
