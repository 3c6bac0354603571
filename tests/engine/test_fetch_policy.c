/* The fetch policy (a worker's --fetch): what a worker may fetch programs from. A refusal
 * says so and tells nothing about the worker's files; what is allowed still works. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine_helpers.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fs.h"
#include "wasmgrid.pb-c.h"

#define REFUSED "not allowed by this worker's fetch policy"

/* Runs one task of the program at `address` (whose hash is `hash`) under `spec`. */
static void run_under(const char *spec, const char *address, const char *hash,
		      struct task_result *r)
{
	struct wg_fetch_policy p = {0};
	char why[256];
	CHECK_MSG(wg_fetch_policy_add(&p, spec, why, sizeof why) == 0, "%s", why);
	const char *addresses[] = {address};
	struct wg_engine_task t = test_task(addresses, hash, "x", 1);
	/* A fresh data directory each time: nothing comes from the cache. */
	static int n;
	char dir[64];
	snprintf(dir, sizeof dir, "data%d", n++);
	struct wg_engine_options o = {.data_dir = wg_test_path(dir), .fetch_policy = &p};
	test_run_with(&o, &t, r);
	wg_fetch_policy_free(&p);
}

TEST_SLOW(fetch_policy_local_files_only_under_named_directories_and_say_nothing, 120)
{
	char *program = test_program_path("t_argv");
	char hash[65];
	test_program_hash(program, hash);
	/* The program, copied into a directory the operator allows. */
	const char *allowed = wg_test_path("programs");
	CHECK_EQ(wg_mkdir_p(allowed), 0);
	uint8_t *bytes;
	size_t len;
	CHECK_EQ(wg_read_file(program, 64u << 20, &bytes, &len), 0);
	char *inside = wg_asprintf("%s/t_argv.wasm", allowed);
	CHECK_EQ(wg_write_file_atomic(inside, bytes, len, 0644), 0);
	char *spec = wg_asprintf("wasmgrid,https,file:%s", allowed);
	char *url = wg_asprintf("file://%s", inside);
	struct task_result r;
	run_under(spec, url, hash, &r);
	CHECK_MSG(r.kind == 0, "kind %d: %s", r.kind, r.detail);
	test_result_free(&r);

	/* Outside it: a secret file, a missing one, a way out with "..", and a link that
	 * points out: each refused with the same words, none read. */
	char *link = wg_asprintf("%s/escape.wasm", allowed);
	CHECK_EQ(symlink(program, link), 0);
	char *dotdot = wg_asprintf("file://%s/../../../../etc/shadow", allowed);
	char *linked = wg_asprintf("file://%s", link);
	const char *outside[] = {"file:///etc/shadow", "file:///etc/no-such-file", dotdot, linked,
				 "/etc/passwd"};
	for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
		run_under(spec, outside[i], hash, &r);
		CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__DOWNLOAD_ERROR);
		CHECK_CONTAINS(r.detail, REFUSED);
		CHECK_MSG(!strstr(r.detail, "No such") && !strstr(r.detail, "ermission") &&
			      !strstr(r.detail, "hash"),
			  "the refusal says more than it should: %s", r.detail);
		test_result_free(&r);
	}
	/* The default policy reads no file at all. */
	run_under(WG_FETCH_POLICY_DEFAULT, url, hash, &r);
	CHECK_CONTAINS(r.detail, REFUSED);
	test_result_free(&r);
	free(dotdot);
	free(linked);
	free(link);
	free(spec);
	free(url);
	free(inside);
	free(bytes);
	free(program);
}

TEST_SLOW(fetch_policy_http_and_private_addresses_only_when_allowed, 120)
{
	char *program = test_program_path("t_argv");
	uint8_t *bytes;
	size_t len;
	CHECK_EQ(wg_read_file(program, 64u << 20, &bytes, &len), 0);
	char hash[65];
	wg_engine_hash_hex(bytes, len, hash);
	int port;
	pid_t server = test_serve_http(bytes, len, &port);
	char *http = wg_asprintf("http://127.0.0.1:%d/t_argv.wasm", port);
	char *named = wg_asprintf("http://localhost:%d/t_argv.wasm", port);
	char *https = wg_asprintf("https://127.0.0.1:%d/t_argv.wasm", port);
	struct task_result r;
	/* http:// is off by default; allowed, a loopback (private) address still is not,
	 * whether written as an address or as a name that resolves to one. */
	const char *refused[][2] = {
	    {WG_FETCH_POLICY_DEFAULT, http}, {"http", http}, {"http", named}, {"https", https}};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		run_under(refused[i][0], refused[i][1], hash, &r);
		CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__DOWNLOAD_ERROR);
		CHECK_CONTAINS(r.detail, REFUSED);
		test_result_free(&r);
	}
	/* With both, it is fetched (the name pinned to the address checked). */
	run_under("http,private", named, hash, &r);
	CHECK_MSG(r.kind == 0, "kind %d: %s", r.kind, r.detail);
	test_result_free(&r);
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	free(http);
	free(named);
	free(https);
	free(bytes);
	free(program);
}

TEST(fetch_policy_lists_are_checked)
{
	struct wg_fetch_policy p = {0};
	char why[256];
	CHECK_EQ(wg_fetch_policy_add(&p, "https,wasmgrid", why, sizeof why), 0);
	CHECK(p.https && p.registered && !p.http && !p.private_hosts && !p.any_file);
	CHECK_EQ(wg_fetch_policy_add(&p, "ftp", why, sizeof why), WG_EINVAL);
	CHECK_CONTAINS(why, "unknown 'ftp'");
	CHECK_EQ(wg_fetch_policy_add(&p, "file:/no/such/dir", why, sizeof why), WG_EINVAL);
	CHECK_CONTAINS(why, "no such directory");
	CHECK_EQ(wg_fetch_policy_add(&p, "all", why, sizeof why), 0);
	CHECK(p.http && p.private_hosts && p.any_file);
	wg_fetch_policy_free(&p);
}
