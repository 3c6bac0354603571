/* Compiling an untrusted module is bounded: a generated module that costs the C compiler
 * many seconds is stopped at the engine's CPU limit and reported as InvalidProgram, a
 * compilation no task needs any more is killed with everything it started, and other
 * programs run meanwhile. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine_helpers.h"
#include "wasmgrid.pb-c.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/fs.h"

/* A valid WASI command module of `funcs` functions of `ops` arithmetic steps each: cheap to
 * validate, costly to optimise. Returns its path (written with wabt's wat2wasm). */
static char *compile_bomb(int funcs, int ops)
{
	struct wg_buf wat = {0};
	wg_buf_append_str(&wat, "(module (memory (export \"memory\") 1)\n");
	for (int f = 0; f < funcs; f++) {
		wg_buf_appendf(&wat, "(func $f%d (export \"f%d\") (param $x i32) (result i32)\n", f,
			       f);
		for (int i = 0; i < ops; i++)
			wg_buf_appendf(&wat,
				       " local.get $x i32.const %d i32.mul i32.const %d i32.xor"
				       " local.set $x\n",
				       i * 7 + f, i ^ f);
		wg_buf_append_str(&wat, " local.get $x)\n");
	}
	wg_buf_append_str(&wat, "(func (export \"_start\") (drop (call $f0 (i32.const 1)))))\n");
	const char *src = wg_test_path("bomb.wat");
	char *out = wg_strdup(wg_test_path("bomb.wasm"));
	CHECK_EQ(wg_write_file_atomic(src, wat.data, wat.len, 0644), 0);
	wg_buf_free(&wat);
	const char *argv[] = {"wat2wasm", src, "-o", out, NULL};
	struct wg_buf err = {0};
	CHECK_MSG(wg_test_run_program(NULL, &err, argv) == 0, "wat2wasm: %s", wg_buf_cstr(&err));
	wg_buf_free(&err);
	return out;
}

/* Processes whose command line names the test's directory: the compilers of its engine. */
static int compilers_alive(void)
{
	int n = 0;
	DIR *d = opendir("/proc");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		char path[300];
		snprintf(path, sizeof path, "/proc/%s/cmdline", de->d_name);
		uint8_t *cmd = NULL;
		size_t len = 0;
		if (wg_read_file(path, 1 << 16, &cmd, &len) == 0) {
			for (size_t i = 0; i < len; i++)
				if (!cmd[i])
					cmd[i] = ' ';
			if (strstr((char *)cmd, wg_test_tmpdir()) && strstr((char *)cmd, "build-"))
				n++;
		}
		free(cmd);
	}
	if (d)
		closedir(d);
	return n;
}

struct two {
	struct task_result bomb, small;
};

TEST_SLOW(engine_compile_over_its_cpu_limit_is_an_invalid_program, 120)
{
	char *path = compile_bomb(300, 300);
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e;
	struct wg_engine_options o = {
	    .data_dir = wg_test_tmpdir(), .compile_cpu_s = 1, .tiers = WG_TIERS_OPTIMISED};
	CHECK(wg_engine_create(&loop, &o, &e) == 0);
	struct task_result r = {0};
	struct wg_engine_task t = test_task(addresses, hash, NULL, 0);
	CHECK(wg_engine_submit(e, &t, test_on_started, test_on_done, &r) == 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(r.done, 1);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__INVALID_PROGRAM);
	CHECK_CONTAINS(r.detail, "compilation exceeded its CPU limit of 1 s");
	CHECK_EQ(compilers_alive(), 0);
	wg_engine_free(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
	test_result_free(&r);
	free(path);
}

TEST_SLOW(engine_compile_over_its_memory_limit_is_an_invalid_program, 120)
{
	char *path = compile_bomb(300, 300); /* cc1 needs ~330 MB for it */
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e;
	struct wg_engine_options o = {
	    .data_dir = wg_test_tmpdir(), .compile_memory_mib = 128, .tiers = WG_TIERS_OPTIMISED};
	CHECK(wg_engine_create(&loop, &o, &e) == 0);
	struct task_result r = {0};
	struct wg_engine_task t = test_task(addresses, hash, NULL, 0);
	CHECK(wg_engine_submit(e, &t, test_on_started, test_on_done, &r) == 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(r.done, 1);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__INVALID_PROGRAM);
	CHECK_CONTAINS(r.detail, "compilation exceeded its memory limit of 128 MiB");
	wg_engine_free(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
	test_result_free(&r);
	free(path);
}

static void abort_bomb(uv_timer_t *timer)
{
	struct wg_engine *e = timer->data;
	CHECK_MSG(compilers_alive() > 0, "the module was not being compiled");
	CHECK_EQ(wg_engine_abort(e, 1), 0);
	uv_close((uv_handle_t *)timer, NULL);
}

TEST_SLOW(engine_compile_no_task_needs_is_killed_and_others_run_meanwhile, 120)
{
	char *bomb = compile_bomb(300, 300);
	char *small = test_program_path("t_echo");
	char bomb_hash[65], small_hash[65];
	test_program_hash(bomb, bomb_hash);
	test_program_hash(small, small_hash);
	const char *bomb_addr[] = {bomb}, *small_addr[] = {small};
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e;
	/* The optimising compiler: tcc would be done with the bomb at once. */
	struct wg_engine_options o = {.data_dir = wg_test_tmpdir(), .tiers = WG_TIERS_OPTIMISED};
	CHECK(wg_engine_create(&loop, &o, &e) == 0);
	struct two r = {0};
	struct wg_engine_task tb = test_task(bomb_addr, bomb_hash, NULL, 0);
	struct wg_engine_task ts = test_task(small_addr, small_hash, "still served", 12);
	ts.task_id = 2;
	CHECK(wg_engine_submit(e, &tb, test_on_started, test_on_done, &r.bomb) == 0);
	CHECK(wg_engine_submit(e, &ts, test_on_started, test_on_done, &r.small) == 0);
	/* Once the small program has run (its own compilation included), the bomb is still
	 * compiling: its only task is aborted then. */
	uv_timer_t timer;
	uv_timer_init(&loop, &timer);
	timer.data = e;
	while (!r.small.done)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK_EQ(r.small.kind, 0);
	CHECK_STREQ(wg_buf_cstr(&r.small.out), "still served");
	CHECK_EQ(r.bomb.done, 0);
	uv_timer_start(&timer, abort_bomb, 10, 0);
	while (!r.bomb.done)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK_EQ(r.bomb.kind, WASMGRID__ERROR_KIND__ABORTED);
	/* The compilers (wasm2c or cc, and cc1) are gone with it. */
	for (int i = 0; i < 100 && compilers_alive() > 0; i++)
		uv_run(&loop, UV_RUN_NOWAIT), usleep(20000);
	CHECK_EQ(compilers_alive(), 0);
	wg_engine_free(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
	test_result_free(&r.bomb);
	test_result_free(&r.small);
	free(bomb);
	free(small);
}

TEST_SLOW(engine_optimising_tier_over_its_limit_leaves_the_program_on_the_quick_tier, 120)
{
	char *path = compile_bomb(300, 300);
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e;
	struct wg_engine_options o = {.data_dir = wg_test_tmpdir(), .compile_cpu_s = 1};
	CHECK(wg_engine_create(&loop, &o, &e) == 0);
	struct task_result r = {0}, again = {0};
	struct wg_engine_task t = test_task(addresses, hash, NULL, 0);
	CHECK(wg_engine_submit(e, &t, test_on_started, test_on_done, &r) == 0);
	uv_run(&loop, UV_RUN_DEFAULT); /* until cc has hit its limit too */
	CHECK_EQ(r.done, 1);
	CHECK_EQ(r.kind, 0);
	CHECK_EQ(compilers_alive(), 0);
	struct wg_engine_stats st;
	wg_engine_get_stats(e, &st);
	CHECK_EQ(st.quick_compilations, 1);
	CHECK_EQ(st.compilations, 0);
	/* The program stays runnable, on the quick tier. */
	t.task_id = 2;
	CHECK(wg_engine_submit(e, &t, test_on_started, test_on_done, &again) == 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(again.kind, 0);
	wg_engine_free(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&loop) == 0);
	test_result_free(&r);
	test_result_free(&again);
	free(path);
}
