/* The engine running real WebAssembly programs (built from tests/programs/), one outcome each. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_helpers.h"
#include "harness/test.h"
#include "util/alloc.h"
#include "util/limits.h"
#include "wasmgrid.pb-c.h"

/* Runs bindir/examples/NAME.wasm with a text argument (or none) and default limits. */
static void run_program(const char *name, const char *arg, struct task_result *r)
{
	char *path = test_program_path(name);
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, arg, arg ? strlen(arg) : 0);
	test_run(test_shared_data_dir(), &t, r);
	free(path);
}

TEST_SLOW(engine_text_argument_is_argv1_and_stdout_is_the_result, 120)
{
	struct task_result r;
	run_program("t_argv", "hello world", &r);
	CHECK_EQ(r.kind, 0);
	CHECK_EQ(r.started, 1);
	CHECK_STREQ((char *)r.out.data, "argc=2 argv0=program argv1=hello world\n");
	test_result_free(&r);
}

TEST_SLOW(engine_binary_argument_arrives_intact_on_stdin_without_argv1, 120)
{
	uint8_t arg[512];
	for (size_t i = 0; i < sizeof arg; i++)
		arg[i] = (uint8_t)(i * 7); /* includes NUL and invalid UTF-8 */
	char *path = test_program_path("t_echo");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, arg, sizeof arg);
	struct task_result r;
	test_run(test_shared_data_dir(), &t, &r);
	CHECK_EQ(r.kind, 0);
	CHECK_EQ(r.out.len, sizeof arg);
	CHECK(memcmp(r.out.data, arg, sizeof arg) == 0);
	CHECK_STREQ((char *)r.err.data, "argc=1 argv1=none\n");
	test_result_free(&r);
	free(path);
}

TEST_SLOW(engine_one_mib_argument_arrives_intact_as_stdin_and_argv1, 120)
{
	size_t len = 1u << 20;
	char *arg = wg_malloc(len + 1);
	for (size_t i = 0; i < len; i++)
		arg[i] = (char)('a' + i % 26);
	arg[len] = 0;
	char *path = test_program_path("t_echo");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, arg, len);
	struct task_result r;
	test_run(test_shared_data_dir(), &t, &r);
	CHECK_MSG(r.kind == 0, "kind %d: %s", r.kind, r.detail);
	CHECK_EQ(r.out.len, len);
	CHECK(memcmp(r.out.data, arg, len) == 0);
	CHECK_STREQ((char *)r.err.data, "argc=2 argv1=same\n");
	test_result_free(&r);
	free(arg);
	free(path);
}

TEST_SLOW(engine_nonzero_exit_is_running_error_with_status_and_stderr, 120)
{
	struct task_result r;
	run_program("t_exit", "3", &r);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__RUNNING_ERROR);
	CHECK_STREQ(r.detail, "exit status 3");
	CHECK_STREQ((char *)r.err.data, "exiting with status 3\n");
	CHECK_STREQ((char *)r.out.data, "partial output\n");
	test_result_free(&r);
	run_program("t_exit", "0", &r);
	CHECK_EQ(r.kind, 0);
	test_result_free(&r);
}

TEST_SLOW(engine_traps_are_running_errors_with_the_trap_name, 120)
{
	static const char *const cases[][2] = {
	    {"oob", "Out-of-bounds access"},
	    {"div", "Integer divide by zero"},
	    {"unreachable", "Unreachable instruction"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct task_result r;
		run_program("t_trap", cases[i][0], &r);
		CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__RUNNING_ERROR);
		CHECK_CONTAINS(r.detail, "trap: ");
		CHECK_CONTAINS(r.detail, cases[i][1]);
		test_result_free(&r);
	}
}

TEST_SLOW(engine_deep_recursion_traps_call_stack_exhausted, 120)
{
	struct task_result r;
	run_program("t_trap", "recurse", &r);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__RUNNING_ERROR);
	CHECK_STREQ(r.detail, "trap: Call stack exhausted");
	test_result_free(&r);
}

TEST_SLOW(engine_infinite_loop_is_stopped_at_its_timeout, 120)
{
	char *path = test_program_path("t_loop");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, NULL, 0);
	t.timeout_ms = 300;
	struct task_result r;
	test_run(test_shared_data_dir(), &t, &r);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__TIMED_OUT);
	CHECK_STREQ(r.detail, "timed out after 300 ms");
	test_result_free(&r);
	free(path);
}

TEST_SLOW(engine_memory_bomb_sees_malloc_fail_at_the_memory_limit, 120)
{
	char *path = test_program_path("t_membomb");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, NULL, 0);
	t.memory_bytes = 32u << 20;
	struct task_result r;
	test_run(test_shared_data_dir(), &t, &r);
	CHECK_MSG(r.kind == 0, "kind %d: %s", r.kind, r.detail);
	/* 32 MiB of memory holds a little under 32 blocks of 1 MiB beside the program. */
	int mib = -1;
	CHECK(sscanf((char *)r.out.data, "allocated %d MiB", &mib) == 1);
	CHECK(mib >= 24 && mib < 32);
	test_result_free(&r);
	free(path);
}

TEST_SLOW(engine_output_flood_is_a_resource_limit, 120)
{
	char *path = test_program_path("t_flood");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, NULL, 0);
	t.result_bytes = 100000;
	struct task_result r;
	test_run(test_shared_data_dir(), &t, &r);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__RESOURCE_LIMIT);
	CHECK_CONTAINS(r.detail, "output exceeds the result limit of 100000 bytes");
	CHECK(r.out.len <= 100000);
	test_result_free(&r);
	free(path);
}

TEST_SLOW(engine_keeps_only_the_last_4_KiB_of_stderr, 120)
{
	struct task_result r;
	run_program("t_errflood", NULL, &r);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__RUNNING_ERROR);
	CHECK_EQ(r.err.len, WG_STDERR_TAIL_BYTES);
	const char *end = (char *)r.err.data + r.err.len - 12;
	CHECK_STREQ(end, "line 009999\n");
	test_result_free(&r);
}

static void run_random(uint64_t seed, struct task_result *r)
{
	char *path = test_program_path("t_random");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, NULL, 0);
	t.random_seed = seed;
	test_run(test_shared_data_dir(), &t, r);
	CHECK_EQ(r->kind, 0);
	CHECK_EQ(r->out.len, 129);
	free(path);
}

TEST_SLOW(engine_random_get_is_deterministic_for_a_seed, 120)
{
	struct task_result a, b, c;
	run_random(7, &a);
	run_random(7, &b);
	run_random(8, &c);
	CHECK_STREQ((char *)a.out.data, (char *)b.out.data);
	CHECK(strcmp((char *)a.out.data, (char *)c.out.data) != 0);
	test_result_free(&a);
	test_result_free(&b);
	test_result_free(&c);
}

TEST_SLOW(engine_program_sees_no_host_files_or_environment, 120)
{
	struct task_result r;
	run_program("t_sys", NULL, &r);
	CHECK_MSG(r.kind == 0, "kind %d: %s", r.kind, r.detail);
	CHECK_STREQ((char *)r.out.data, "passwd:denied create:denied root:denied proc:denied "
					"env:empty fd5:badf clock:moves year2020+:yes\n");
	test_result_free(&r);
}

TEST_SLOW(engine_initial_memory_over_the_limit_is_a_resource_limit, 120)
{
	char *path = test_program_path("t_argv");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, NULL, 0);
	t.memory_bytes = 65536; /* one page; the program starts with two */
	struct task_result r;
	test_run(test_shared_data_dir(), &t, &r);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__RESOURCE_LIMIT);
	CHECK_STREQ(r.detail, "initial memory exceeds the memory limit");
	test_result_free(&r);
	free(path);
}

TEST_SLOW(engine_wasi_errors_are_those_of_the_specification, 120)
{
	struct task_result r;
	run_program("t_errno", NULL, &r);
	CHECK_MSG(r.kind == 0, "kind %d: %s", r.kind, r.detail);
	/* WASI errno values: 8 badf, 28 inval, 54 notdir, 57 notsock, 70 spipe. */
	CHECK_STREQ((char *)r.out.data,
		    "sock_shutdown1:57 sock_accept0:57 sock_recv0:57 sock_send1:57 "
		    "sock_shutdown9:8 fd_seek1:70 fd_advise1:70 fd_allocate1:70 fd_sync1:28 "
		    "fd_advise9:8 path_open1:54 prestat3:8 \n");
	test_result_free(&r);
}
