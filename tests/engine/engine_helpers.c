#include "engine/engine_helpers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/test.h"
#include "util/alloc.h"
#include "util/fs.h"

char *test_program_path(const char *name)
{
	return wg_asprintf("%s/examples/%s.wasm", wg_test_bindir(), name);
}

void test_program_hash(const char *path, char hash[65])
{
	uint8_t *bytes;
	size_t len;
	CHECK_MSG(wg_read_file(path, 64u << 20, &bytes, &len) == 0, "cannot read %s", path);
	wg_engine_hash_hex(bytes, len, hash);
	free(bytes);
}

const char *test_shared_data_dir(void)
{
	static char *dir;
	if (!dir) {
		dir = wg_path_join(wg_test_bindir(), "engine-test-data");
		CHECK(wg_mkdir_p(dir) == 0);
	}
	return dir;
}

struct wg_engine_task test_task(const char *const *address, const char *hash, const void *argument,
				size_t len)
{
	struct wg_engine_task t = {
	    .task_id = 1,
	    .addresses = address,
	    .n_addresses = 1,
	    .hash_hex = hash,
	    .argument = argument,
	    .argument_len = len,
	    .timeout_ms = 20000,
	};
	return t;
}

void test_on_started(void *user, uint64_t task_id, uint64_t unix_ms)
{
	struct task_result *r = user;
	r->started++;
}

void test_on_done(void *user, uint64_t task_id, const struct wg_engine_outcome *o)
{
	struct task_result *r = user;
	r->done++;
	r->kind = o->error_kind;
	snprintf(r->detail, sizeof r->detail, "%s", o->detail);
	if (o->result_len)
		wg_buf_append(&r->out, o->result, o->result_len);
	if (o->stderr_tail_len)
		wg_buf_append(&r->err, o->stderr_tail, o->stderr_tail_len);
}

void test_run(const char *data_dir, const struct wg_engine_task *t, struct task_result *r)
{
	struct wg_engine_options o = {.data_dir = data_dir};
	test_run_with(&o, t, r);
}

void test_run_with(const struct wg_engine_options *o, const struct wg_engine_task *t,
		   struct task_result *r)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e;
	CHECK(wg_engine_create(&loop, o, &e) == 0);
	memset(r, 0, sizeof *r);
	CHECK(wg_engine_submit(e, t, test_on_started, test_on_done, r) == 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(r->done, 1);
	wg_engine_free(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
	wg_buf_cstr(&r->out);
	wg_buf_cstr(&r->err);
}

void test_result_free(struct task_result *r)
{
	wg_buf_free(&r->out);
	wg_buf_free(&r->err);
}

/* A one-file HTTP server in a child process; returns its pid, sets *port. */
pid_t test_serve_http(const uint8_t *body, size_t len, int *port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	CHECK(bind(s, (struct sockaddr *)&a, sizeof a) == 0 && listen(s, 8) == 0);
	CHECK(getsockname(s, (struct sockaddr *)&a, &alen) == 0);
	*port = ntohs(a.sin_port);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid > 0) {
		close(s);
		return pid;
	}
	for (;;) {
		int c = accept(s, NULL, NULL);
		if (c < 0)
			_exit(0);
		char req[4096];
		size_t got = 0;
		ssize_t n;
		while (got < sizeof req - 1 && (n = read(c, req + got, sizeof req - 1 - got)) > 0) {
			got += (size_t)n;
			req[got] = 0;
			if (strstr(req, "\r\n\r\n"))
				break;
		}
		char head[128];
		int hl = snprintf(head, sizeof head,
				  "HTTP/1.0 200 OK\r\nContent-Length: %zu\r\n\r\n", len);
		if (write(c, head, (size_t)hl) < 0 || write(c, body, len) < 0)
			_exit(1);
		close(c);
	}
}
