/* The engine's program handling: addresses, hashes, compilation once, the cache, aborts,
 * and `wasmgrid run` as a user sees it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine_helpers.h"
#include "harness/test.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fs.h"
#include "wasmgrid.pb-c.h"

TEST(engine_hash_mismatch_is_a_download_error)
{
	char *path = test_program_path("t_argv");
	char hash[65];
	test_program_hash(path, hash);
	hash[0] = hash[0] == '0' ? '1' : '0';
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, "x", 1);
	struct task_result r;
	test_run(wg_test_tmpdir(), &t, &r);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__DOWNLOAD_ERROR);
	CHECK_CONTAINS(r.detail, "hash mismatch");
	CHECK_EQ(r.started, 0);
	test_result_free(&r);
	free(path);
}

TEST(engine_unreachable_address_is_a_download_error)
{
	const char *addresses[] = {"/nonexistent/prog.wasm", "http://127.0.0.1:1/prog.wasm"};
	struct wg_engine_task t = test_task(addresses,
					    "00000000000000000000000000000000"
					    "00000000000000000000000000000000",
					    NULL, 0);
	t.n_addresses = 2;
	struct task_result r;
	test_run(wg_test_tmpdir(), &t, &r);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__DOWNLOAD_ERROR);
	CHECK_CONTAINS(r.detail, "/nonexistent/prog.wasm: not found");
	CHECK_CONTAINS(r.detail, "http://127.0.0.1:1/prog.wasm: ");
	test_result_free(&r);
}

TEST(engine_malformed_module_is_an_invalid_program)
{
	char *path = wg_path_join(wg_test_tmpdir(), "bad.wasm");
	static const char junk[] = "\0asm\x01\0\0\0\x7f garbage";
	CHECK(wg_write_file_atomic(path, junk, sizeof junk - 1, 0600) == 0);
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, NULL, 0);
	struct task_result r;
	test_run(wg_test_tmpdir(), &t, &r);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__INVALID_PROGRAM);
	CHECK_CONTAINS(r.detail, "wasm2c: ");
	test_result_free(&r);
	free(path);
}

TEST_SLOW(engine_unknown_import_is_an_invalid_program, 60)
{
	char *path = test_program_path("t_badimport");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, NULL, 0);
	struct task_result r;
	test_run(wg_test_tmpdir(), &t, &r);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__INVALID_PROGRAM);
	CHECK_STREQ(r.detail, "unsupported import env.host_secret");
	test_result_free(&r);
	free(path);
}

TEST_SLOW(engine_many_tasks_of_one_program_share_one_compilation, 120)
{
	enum { N = 8 };
	char *path = test_program_path("t_argv");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e;
	struct wg_engine_options o = {.data_dir = wg_test_tmpdir()};
	CHECK(wg_engine_create(&loop, &o, &e) == 0);
	struct task_result r[N];
	char args[N][16];
	memset(r, 0, sizeof r);
	for (int i = 0; i < N; i++) {
		snprintf(args[i], sizeof args[i], "task%d", i);
		struct wg_engine_task t = test_task(addresses, hash, args[i], strlen(args[i]));
		t.task_id = (uint64_t)i + 100;
		CHECK(wg_engine_submit(e, &t, test_on_started, test_on_done, &r[i]) == 0);
	}
	struct wg_engine_task dup = test_task(addresses, hash, NULL, 0);
	dup.task_id = 100;
	CHECK_EQ(wg_engine_submit(e, &dup, NULL, test_on_done, &r[0]), WG_EEXISTS);
	uv_run(&loop, UV_RUN_DEFAULT);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(r[i].done, 1);
		CHECK_EQ(r[i].kind, 0);
		char want[64];
		snprintf(want, sizeof want, "argc=2 argv0=program argv1=task%d\n", i);
		CHECK_STREQ(wg_buf_cstr(&r[i].out), want);
		test_result_free(&r[i]);
	}
	struct wg_engine_stats st;
	wg_engine_get_stats(e, &st);
	CHECK_EQ(st.compilations, 1);
	CHECK_EQ(st.tasks_run, N);
	CHECK_EQ(st.tasks_running, 0);
	CHECK(wg_engine_has_program(e, hash));
	wg_engine_free(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
	free(path);
}

/* Runs t_argv once on a fresh engine over dir and returns its statistics. */
static struct wg_engine_stats run_counting(const char *dir, const char *path, const char *hash)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e;
	struct wg_engine_options o = {.data_dir = dir};
	CHECK(wg_engine_create(&loop, &o, &e) == 0);
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, "again", 5);
	struct task_result r;
	memset(&r, 0, sizeof r);
	CHECK(wg_engine_submit(e, &t, NULL, test_on_done, &r) == 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(r.kind, 0);
	CHECK_STREQ(wg_buf_cstr(&r.out), "argc=2 argv0=program argv1=again\n");
	test_result_free(&r);
	struct wg_engine_stats st;
	wg_engine_get_stats(e, &st);
	wg_engine_free(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return st;
}

/* The one compiled object under DIR/cache/KEY/, found by its suffix. */
static char *find_compiled(const char *dir, const char *hash)
{
	char *cmd = wg_asprintf("ls %s/cache/*/%s.so", dir, hash);
	FILE *f = popen(cmd, "r");
	char line[1024] = "";
	CHECK(f && fgets(line, sizeof line, f));
	pclose(f);
	free(cmd);
	line[strcspn(line, "\n")] = 0;
	return wg_strdup(line);
}

TEST_SLOW(engine_corrupted_cache_entry_is_detected_and_rebuilt, 120)
{
	const char *dir = wg_test_tmpdir();
	char *path = test_program_path("t_argv");
	char hash[65];
	test_program_hash(path, hash);
	struct wg_engine_stats st = run_counting(dir, path, hash);
	CHECK_EQ(st.compilations, 1);
	CHECK_EQ(st.downloads, 1);
	st = run_counting(dir, path, hash);
	CHECK_EQ(st.compilations, 0);
	CHECK_EQ(st.cache_hits, 1);
	CHECK_EQ(st.downloads, 0);

	/* Flip bytes in the middle of the shared object, as a bad disk or a crash would. */
	char *so = find_compiled(dir, hash);
	uint8_t *bytes;
	size_t len;
	CHECK(wg_read_file(so, 1u << 30, &bytes, &len) == 0);
	for (size_t i = len / 2; i < len / 2 + 64 && i < len; i++)
		bytes[i] ^= 0x5a;
	CHECK(wg_write_file_atomic(so, bytes, len, 0600) == 0);
	free(bytes);

	st = run_counting(dir, path, hash);
	CHECK_EQ(st.cache_rejected, 1);
	CHECK_EQ(st.compilations, 1);
	st = run_counting(dir, path, hash);
	CHECK_EQ(st.cache_hits, 1);
	CHECK_EQ(st.compilations, 0);
	free(so);
	free(path);
}

struct abort_ctx {
	struct wg_engine *engine;
	struct task_result result;
};

static void abort_on_start(void *user, uint64_t task_id, uint64_t unix_ms)
{
	struct abort_ctx *c = user;
	c->result.started++;
	CHECK_EQ(wg_engine_abort(c->engine, task_id), 0);
}

static void abort_done(void *user, uint64_t task_id, const struct wg_engine_outcome *o)
{
	struct abort_ctx *c = user;
	test_on_done(&c->result, task_id, o);
}

TEST_SLOW(engine_abort_kills_a_running_task_and_reports_aborted, 60)
{
	char *path = test_program_path("t_loop");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct abort_ctx c;
	memset(&c, 0, sizeof c);
	struct wg_engine_options o = {.data_dir = test_shared_data_dir()};
	CHECK(wg_engine_create(&loop, &o, &c.engine) == 0);
	struct wg_engine_task t = test_task(addresses, hash, NULL, 0);
	t.timeout_ms = 0; /* only the abort can end it */
	CHECK(wg_engine_submit(c.engine, &t, abort_on_start, abort_done, &c) == 0);
	CHECK_EQ(wg_engine_abort(c.engine, 999), WG_ENOTFOUND);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(c.result.started, 1);
	CHECK_EQ(c.result.done, 1);
	CHECK_EQ(c.result.kind, WASMGRID__ERROR_KIND__ABORTED);
	test_result_free(&c.result);
	wg_engine_free(c.engine);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
	free(path);
}

/* A fetcher for "test://" addresses that serves the file named after the scheme. */
static void file_fetcher(void *user, const char *address, const char *hash_hex,
			 wg_engine_fetched_cb done, void *fetch_ctx)
{
	uint8_t *bytes;
	size_t len;
	int rc = wg_read_file(address + strlen("test://"), 64u << 20, &bytes, &len);
	done(fetch_ctx, rc, rc ? NULL : bytes, rc ? 0 : len);
	if (!rc)
		free(bytes);
	(*(int *)user)++;
}

TEST_SLOW(engine_fetcher_supplies_programs_for_its_scheme, 60)
{
	char *path = test_program_path("t_argv");
	char *address = wg_asprintf("test://%s", path);
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {address};
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e;
	struct wg_engine_options o = {.data_dir = wg_test_tmpdir()};
	CHECK(wg_engine_create(&loop, &o, &e) == 0);
	int calls = 0;
	wg_engine_set_fetcher(e, "test", file_fetcher, &calls);
	struct wg_engine_task t = test_task(addresses, hash, "fetched", 7);
	struct task_result r;
	memset(&r, 0, sizeof r);
	CHECK(wg_engine_submit(e, &t, NULL, test_on_done, &r) == 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(calls, 1);
	CHECK_MSG(r.kind == 0, "kind %d: %s", r.kind, r.detail);
	CHECK_STREQ(wg_buf_cstr(&r.out), "argc=2 argv0=program argv1=fetched\n");
	test_result_free(&r);
	wg_engine_free(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(address);
	free(path);
}

TEST_SLOW(engine_downloads_over_http_and_checks_the_hash, 60)
{
	char *path = test_program_path("t_argv");
	uint8_t *bytes;
	size_t len;
	CHECK(wg_read_file(path, 64u << 20, &bytes, &len) == 0);
	char hash[65];
	wg_engine_hash_hex(bytes, len, hash);
	int port;
	pid_t server = test_serve_http(bytes, len, &port);
	char *url = wg_asprintf("http://127.0.0.1:%d/t_argv.wasm", port);
	const char *addresses[] = {url};
	struct wg_engine_task t = test_task(addresses, hash, "web", 3);
	struct task_result r;
	test_run(test_shared_data_dir(), &t, &r);
	CHECK_MSG(r.kind == 0, "kind %d: %s", r.kind, r.detail);
	CHECK_STREQ((char *)r.out.data, "argc=2 argv0=program argv1=web\n");
	test_result_free(&r);

	/* The same bytes under another hash are refused. */
	char other[65];
	wg_engine_hash_hex((const uint8_t *)"other", 5, other);
	t.hash_hex = other;
	test_run(wg_test_tmpdir(), &t, &r);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__DOWNLOAD_ERROR);
	CHECK_CONTAINS(r.detail, "hash mismatch");
	test_result_free(&r);
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	free(url);
	free(bytes);
	free(path);
}

/* Runs the wasmgrid binary and returns its exit status; stdout goes to out_path. */
static int run_cli(const char *args, const char *out_path)
{
	char *cmd = wg_asprintf("%s/wasmgrid run --data %s %s >%s 2>%s.err", wg_test_bindir(),
				test_shared_data_dir(), args, out_path, out_path);
	int st = system(cmd);
	free(cmd);
	CHECK(WIFEXITED(st));
	return WEXITSTATUS(st);
}

TEST_SLOW(run_command_exit_codes_follow_the_error_kind, 120)
{
	char *out = wg_path_join(wg_test_tmpdir(), "out");
	char *argv_prog = test_program_path("t_argv");
	char *exit_prog = test_program_path("t_exit");
	char *loop_prog = test_program_path("t_loop");
	char *flood_prog = test_program_path("t_flood");
	char *args;

	args = wg_asprintf("%s 'two words'", argv_prog);
	CHECK_EQ(run_cli(args, out), 0);
	free(args);
	uint8_t *text;
	size_t len;
	CHECK(wg_read_file(out, 1000, &text, &len) == 0);
	CHECK_STREQ((char *)text, "argc=2 argv0=program argv1=two words\n");
	free(text);

	args = wg_asprintf("%s 5", exit_prog);
	CHECK_EQ(run_cli(args, out), 4);
	free(args);
	char *err = wg_asprintf("%s.err", out);
	CHECK(wg_read_file(err, 10000, &text, &len) == 0);
	CHECK_CONTAINS((char *)text, "wasmgrid run: RunningError: exit status 5\n");
	free(text);

	args = wg_asprintf("%s --timeout 0.3", loop_prog);
	CHECK_EQ(run_cli(args, out), 5);
	free(args);
	args = wg_asprintf("%s", flood_prog);
	CHECK_EQ(run_cli(args, out), 6);
	free(args);
	CHECK_EQ(run_cli("/nonexistent.wasm", out), 3);
	CHECK_EQ(run_cli("", out), 2);
	args = wg_asprintf("%s --memory lots", argv_prog);
	CHECK_EQ(run_cli(args, out), 2);
	free(args);
	free(err);
	free(out);
	free(argv_prog);
	free(exit_prog);
	free(loop_prog);
	free(flood_prog);
}

TEST(engine_missing_compiler_fails_the_task_not_the_worker)
{
	char *path = test_program_path("t_argv");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e;
	struct wg_engine_options o = {.data_dir = wg_test_tmpdir(),
				      .wasm2c = "/nonexistent/wasm2c"};
	CHECK(wg_engine_create(&loop, &o, &e) == 0);
	struct wg_engine_task t = test_task(addresses, hash, NULL, 0);
	struct task_result r;
	memset(&r, 0, sizeof r);
	CHECK(wg_engine_submit(e, &t, NULL, test_on_done, &r) == 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(r.done, 1);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__INVALID_PROGRAM);
	CHECK_STREQ(r.detail, "cannot run wasm2c (is wabt installed?)");
	test_result_free(&r);
	wg_engine_free(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
	free(path);
}

static void count_done(void *user, uint64_t task_id, const struct wg_engine_outcome *o)
{
	(*(int *)user)++;
}

static void count_started(void *user, uint64_t task_id, uint64_t unix_ms)
{
	(*(int *)user) += 1000;
}

/* Freeing the engine while one program compiles and another task runs forever must kill
 * both, call no callback, and leave the loop with nothing to wait for. */
TEST_SLOW(engine_free_stops_compilers_and_children_without_callbacks, 60)
{
	char *loop_prog = test_program_path("t_loop");
	char *argv_prog = test_program_path("t_argv");
	char loop_hash[65], argv_hash[65];
	test_program_hash(loop_prog, loop_hash);
	test_program_hash(argv_prog, argv_hash);
	/* t_loop is compiled already in the shared cache; t_argv is not in this one. */
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e;
	struct wg_engine_options o = {.data_dir = test_shared_data_dir()};
	CHECK(wg_engine_create(&loop, &o, &e) == 0);
	int events = 0;
	const char *a1[] = {loop_prog};
	struct wg_engine_task t1 = test_task(a1, loop_hash, NULL, 0);
	t1.timeout_ms = 0;
	CHECK(wg_engine_submit(e, &t1, count_started, count_done, &events) == 0);
	while (events == 0)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK_EQ(events, 1000); /* started, not done */

	char *fresh = wg_path_join(wg_test_tmpdir(), "fresh");
	struct wg_engine *e2;
	struct wg_engine_options o2 = {.data_dir = fresh};
	CHECK(wg_engine_create(&loop, &o2, &e2) == 0);
	const char *a2[] = {argv_prog};
	struct wg_engine_task t2 = test_task(a2, argv_hash, NULL, 0);
	CHECK(wg_engine_submit(e2, &t2, count_started, count_done, &events) == 0);
	struct wg_engine_stats st;
	do {
		uv_run(&loop, UV_RUN_NOWAIT);
		wg_engine_get_stats(e2, &st);
		usleep(10000);
	} while (!st.downloads); /* now compiling */

	wg_engine_free(e);
	wg_engine_free(e2);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(events, 1000);
	CHECK(uv_loop_close(&loop) == 0);
	free(fresh);
	free(loop_prog);
	free(argv_prog);
}

TEST_SLOW(run_command_reads_a_binary_argument_from_a_file, 60)
{
	char *arg = wg_path_join(wg_test_tmpdir(), "arg.bin");
	char *out = wg_path_join(wg_test_tmpdir(), "out");
	uint8_t data[300000];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (uint8_t)(i * 31 + i / 256);
	CHECK(wg_write_file_atomic(arg, data, sizeof data, 0600) == 0);
	char *prog = test_program_path("t_echo");
	char *args = wg_asprintf("%s --arg-file %s", prog, arg);
	CHECK_EQ(run_cli(args, out), 0);
	uint8_t *got;
	size_t len;
	CHECK(wg_read_file(out, 1u << 20, &got, &len) == 0);
	CHECK_EQ(len, sizeof data);
	CHECK(memcmp(got, data, len) == 0);
	free(got);
	free(args);
	free(prog);
	free(out);
	free(arg);
}
