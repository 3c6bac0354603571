/* The two tiers (docs/engine.md, "Two tiers"): a program runs on the quick tier (tcc) at
 * once while the optimising tier (cc -O2) builds; both give the same bytes for every
 * program; a task still running on the quick tier when the optimised one arrives is
 * restarted there; and the quick compiler is held to the same limits and falls back to
 * cc when it fails. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "engine/engine_helpers.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fs.h"
#include "wasmgrid.pb-c.h"

/* Every example and test program with arguments that reach its interesting paths; t_span
 * (which prints the time) is the one program left out. */
static const struct {
	const char *program, *argument;
	uint32_t timeout_ms;
} cases[] = {
    {"mandelbrot", "-2 -1.5 1 1.5 120 90 500", 0},
    {"mandelbrot", "-0.75 0.1 -0.74 0.11 64 48 3000", 0},
    {"hashsearch", "abc", 0},
    {"primes", "1 60000", 0},
    {"increment", "41", 0},
    {"t_float", "", 0},
    {"t_argv", "one two", 0},
    {"t_echo", "bytes in, bytes out", 0},
    {"t_errflood", "", 0},
    {"t_errno", "", 0},
    {"t_exit", "3", 0},
    {"t_flood", "", 0},
    {"t_loop", "", 300},
    {"t_membomb", "", 0},
    {"t_random", "", 0},
    {"t_slow", "1", 0},
    {"t_state", "", 0},
    {"t_sys", "", 0},
    {"t_trap", "oob", 0},
    {"t_trap", "div", 0},
    {"t_trap", "unreachable", 0},
    {"t_trap", "recurse", 0},
    {"t_badimport", "", 0},
};
#define N_CASES (sizeof cases / sizeof cases[0])

struct outcomes {
	struct task_result r[N_CASES];
	char *paths[N_CASES];
	char hashes[N_CASES][65];
};

/* Runs every case at once on one engine of the given tiers. */
static void run_cases(enum wg_engine_tiers tiers, const char *data_dir, struct outcomes *o)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e;
	struct wg_engine_options eo = {.data_dir = data_dir, .tiers = tiers};
	CHECK(wg_engine_create(&loop, &eo, &e) == 0);
	for (size_t i = 0; i < N_CASES; i++) {
		o->paths[i] = test_program_path(cases[i].program);
		test_program_hash(o->paths[i], o->hashes[i]);
		const char *addresses[] = {o->paths[i]};
		struct wg_engine_task t = test_task(addresses, o->hashes[i], cases[i].argument,
						    strlen(cases[i].argument));
		t.task_id = i + 1;
		if (cases[i].timeout_ms)
			t.timeout_ms = cases[i].timeout_ms;
		t.memory_bytes = 64u << 20; /* t_membomb stops at a known size */
		CHECK(wg_engine_submit(e, &t, test_on_started, test_on_done, &o->r[i]) == 0);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	struct wg_engine_stats st;
	wg_engine_get_stats(e, &st);
	if (tiers == WG_TIERS_QUICK) {
		CHECK_EQ(st.compilations, 0);
		CHECK(st.quick_compilations >= N_CASES - 6); /* programs named more than once */
	} else {
		CHECK_EQ(st.quick_compilations, 0);
	}
	wg_engine_free(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
}

TEST_SLOW(engine_tiers_give_byte_identical_outcomes_for_every_program, 600)
{
	struct outcomes *quick = wg_calloc(1, sizeof *quick);
	struct outcomes *opt = wg_calloc(1, sizeof *opt);
	run_cases(WG_TIERS_QUICK, wg_test_tmpdir(), quick);
	run_cases(WG_TIERS_OPTIMISED, test_shared_data_dir(), opt);
	for (size_t i = 0; i < N_CASES; i++) {
		struct task_result *q = &quick->r[i], *o = &opt->r[i];
		const char *name = cases[i].program;
		CHECK_MSG(q->done == 1 && o->done == 1, "%s: not done", name);
		CHECK_MSG(q->kind == o->kind, "%s %s: kind %d on the quick tier, %d optimised",
			  name, cases[i].argument, q->kind, o->kind);
		CHECK_MSG(!strcmp(q->detail, o->detail), "%s: '%s' quick, '%s' optimised", name,
			  q->detail, o->detail);
		CHECK_MSG(q->out.len == o->out.len &&
			      (!q->out.len || !memcmp(q->out.data, o->out.data, q->out.len)),
			  "%s %s: results differ (%zu and %zu bytes)", name, cases[i].argument,
			  q->out.len, o->out.len);
		CHECK_MSG(q->err.len == o->err.len &&
			      (!q->err.len || !memcmp(q->err.data, o->err.data, q->err.len)),
			  "%s: stderr differs", name);
		/* Not trivially equal: what each case is for did happen. */
		if (!strcmp(name, "mandelbrot") || !strcmp(name, "t_float"))
			CHECK_MSG(o->kind == 0 && o->out.len > 100, "%s: %s", name, o->detail);
		test_result_free(q);
		test_result_free(o);
		free(quick->paths[i]);
		free(opt->paths[i]);
	}
	CHECK_EQ(opt->r[12].kind, WASMGRID__ERROR_KIND__TIMED_OUT);
	CHECK_EQ(opt->r[18].kind, WASMGRID__ERROR_KIND__RUNNING_ERROR);
	free(quick);
	free(opt);
}

/* The loop runs until the test's condition holds (or 120 s pass). */
static int run_until(uv_loop_t *loop, const int *flag)
{
	for (int i = 0; i < 12000 && !*flag; i++) {
		uv_run(loop, UV_RUN_NOWAIT);
		usleep(10000);
	}
	return *flag;
}

TEST_SLOW(engine_first_task_runs_on_the_quick_tier_while_the_optimised_one_builds, 180)
{
	char *path = test_program_path("primes");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e;
	struct wg_engine_options o = {.data_dir = wg_test_tmpdir()};
	CHECK(wg_engine_create(&loop, &o, &e) == 0);
	struct task_result first = {0}, second = {0};
	struct wg_engine_task t = test_task(addresses, hash, "1 1000", 6);
	CHECK(wg_engine_submit(e, &t, test_on_started, test_on_done, &first) == 0);
	CHECK(run_until(&loop, &first.done));
	CHECK_EQ(first.kind, 0);
	CHECK_STREQ(wg_buf_cstr(&first.out), "168\n");
	struct wg_engine_stats st;
	wg_engine_get_stats(e, &st);
	/* It ran before the optimising compiler was done, which goes on. */
	CHECK_EQ(st.quick_compilations, 1);
	CHECK_EQ(st.compilations, 0);
	CHECK(wg_engine_building(e));
	while (wg_engine_building(e))
		uv_run(&loop, UV_RUN_ONCE);
	wg_engine_get_stats(e, &st);
	CHECK_EQ(st.compilations, 1);
	/* The next task runs optimised, in a new runner (the quick one was retired). */
	t.task_id = 2;
	uint64_t runners = st.runners_started;
	CHECK(wg_engine_submit(e, &t, test_on_started, test_on_done, &second) == 0);
	CHECK(run_until(&loop, &second.done));
	CHECK_STREQ(wg_buf_cstr(&second.out), "168\n");
	wg_engine_get_stats(e, &st);
	CHECK_EQ(st.runners_started, runners + 1);
	CHECK_EQ(st.tasks_restarted, 0);
	wg_engine_free(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
	/* A new engine finds the optimised tier in the cache: no quick tier at all. */
	struct task_result third = {0};
	test_run(wg_test_tmpdir(), &t, &third);
	CHECK_STREQ(wg_buf_cstr(&third.out), "168\n");
	test_result_free(&first);
	test_result_free(&second);
	test_result_free(&third);
	free(path);
}

TEST_SLOW(engine_task_on_the_quick_tier_is_restarted_on_the_optimised_one, 180)
{
	/* t_loop never ends: it is still running on the quick tier when the optimised tier is
	 * installed, so it must be moved, once, without a second started. */
	char *path = test_program_path("t_loop");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e;
	struct wg_engine_options o = {.data_dir = wg_test_tmpdir()};
	CHECK(wg_engine_create(&loop, &o, &e) == 0);
	struct task_result r = {0};
	struct wg_engine_task t = test_task(addresses, hash, NULL, 0);
	t.timeout_ms = 0;
	CHECK(wg_engine_submit(e, &t, test_on_started, test_on_done, &r) == 0);
	struct wg_engine_stats st = {0};
	for (int i = 0; i < 12000 && !st.tasks_restarted; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
		wg_engine_get_stats(e, &st);
	}
	CHECK_EQ(st.tasks_restarted, 1);
	CHECK_EQ(st.quick_compilations, 1);
	CHECK_EQ(st.compilations, 1);
	/* Running again: on a runner of the optimised tier. */
	for (int i = 0; i < 500 && st.tasks_running == 0; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
		wg_engine_get_stats(e, &st);
	}
	CHECK_EQ(st.tasks_running, 1);
	CHECK_EQ(st.runners_started, 2);
	CHECK_EQ(r.started, 1);
	CHECK_EQ(r.done, 0);
	CHECK_EQ(wg_engine_abort(e, 1), 0);
	CHECK(run_until(&loop, &r.done));
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__ABORTED);
	wg_engine_free(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
	test_result_free(&r);
	free(path);
}

/* A quick compiler that is a script: it spins (to meet the CPU limit) or fails. */
static char *fake_quick_cc(const char *name, const char *body)
{
	char *path = wg_strdup(wg_test_path(name));
	char *text = wg_asprintf("#!/bin/sh\n%s\n", body);
	CHECK(wg_write_file_atomic(path, text, strlen(text), 0755) == 0);
	free(text);
	return path;
}

TEST_SLOW(engine_quick_compiler_runs_within_the_compile_limits, 120)
{
	char *spin = fake_quick_cc("spin-tcc", "while :; do :; done");
	char *path = test_program_path("increment");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, "1", 1);
	struct wg_engine_options o = {.data_dir = wg_test_tmpdir(),
				      .tiers = WG_TIERS_QUICK,
				      .quick_cc = spin,
				      .compile_cpu_s = 1};
	struct task_result r;
	test_run_with(&o, &t, &r);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__INVALID_PROGRAM);
	CHECK_CONTAINS(r.detail, "compilation exceeded its CPU limit of 1 s");
	test_result_free(&r);
	free(spin);
	free(path);
}

TEST_SLOW(engine_quick_tier_failing_falls_back_to_the_optimising_compiler, 120)
{
	char *broken = fake_quick_cc("broken-tcc", "echo 'tcc: error: cannot' >&2; exit 1");
	char *path = test_program_path("increment");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, "41", 2);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e;
	struct wg_engine_options o = {.data_dir = wg_test_tmpdir(), .quick_cc = broken};
	CHECK(wg_engine_create(&loop, &o, &e) == 0);
	struct task_result r = {0};
	CHECK(wg_engine_submit(e, &t, test_on_started, test_on_done, &r) == 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(r.kind, 0);
	CHECK_STREQ(wg_buf_cstr(&r.out), "42\n");
	struct wg_engine_stats st;
	wg_engine_get_stats(e, &st);
	CHECK_EQ(st.quick_compilations, 0);
	CHECK_EQ(st.compilations, 1);
	wg_engine_free(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
	test_result_free(&r);
	free(broken);
	free(path);
}

TEST(engine_quick_tier_only_without_tcc_is_refused)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e = NULL;
	struct wg_engine_options o = {
	    .data_dir = wg_test_tmpdir(), .tiers = WG_TIERS_QUICK, .quick_cc = "/nonexistent/tcc"};
	CHECK_EQ(wg_engine_create(&loop, &o, &e), WG_ENOTFOUND);
	CHECK(uv_loop_close(&loop) == 0);
}

/* The optimised object of hash in DATA's cache (any toolchain key). */
static bool optimised_cached(void *arg)
{
	const char *want = arg;
	char *cmd =
	    wg_asprintf("ls %s/cache/*/%s.so.b2 >/dev/null 2>&1", wg_test_path("data"), want);
	int rc = system(cmd);
	free(cmd);
	return rc == 0;
}

TEST_SLOW(run_on_an_empty_cache_answers_at_once_and_leaves_the_optimised_build_behind, 180)
{
	char *path = test_program_path("primes");
	char hash[65];
	test_program_hash(path, hash);
	const char *data = wg_test_path("data");
	struct wg_buf out = {0}, err = {0};
	CHECK_EQ(wg_test_run(&out, &err, "run", path, "1 1000", "--data", data, NULL), 0);
	CHECK_STREQ(wg_buf_cstr(&out), "168\n");
	/* Not built by run itself (it answered from the quick tier), but by the compile it
	 * left running, which needs no terminal. */
	CHECK(wg_test_wait_for(optimised_cached, hash, 120000));
	wg_buf_free(&out);
	CHECK_EQ(wg_test_run(&out, NULL, "run", path, "1 1000", "--data", data, NULL), 0);
	CHECK_STREQ(wg_buf_cstr(&out), "168\n");
	wg_buf_free(&out);
	wg_buf_free(&err);
	free(path);
}

TEST_SLOW(compile_puts_the_optimised_tier_in_the_cache_one_at_a_time, 180)
{
	char *path = test_program_path("increment");
	char hash[65];
	test_program_hash(path, hash);
	const char *data = wg_test_path("data");
	CHECK(wg_mkdir_p(wg_test_path("data/cache")) == 0);
	/* While another compile holds the data directory's lock, a second one says so. */
	int fd = open(wg_test_path("data/cache/compile.lock"), O_RDWR | O_CREAT, 0600);
	CHECK(fd >= 0 && flock(fd, LOCK_EX) == 0);
	struct wg_buf err = {0};
	CHECK_EQ(wg_test_run(NULL, &err, "compile", path, "--data", data, NULL), 1);
	CHECK_CONTAINS(wg_buf_cstr(&err), "another compile is running");
	close(fd);
	wg_buf_free(&err);
	CHECK(!optimised_cached(hash));
	CHECK_EQ(wg_test_run(NULL, &err, "compile", path, "--data", data, NULL), 0);
	CHECK(optimised_cached(hash));
	CHECK_EQ(wg_test_run(NULL, &err, "compile", "/nonexistent.wasm", "--data", data, NULL), 1);
	CHECK_CONTAINS(wg_buf_cstr(&err), "cannot read /nonexistent.wasm");
	wg_buf_free(&err);
	free(path);
}
