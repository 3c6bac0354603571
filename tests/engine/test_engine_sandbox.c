/* The seccomp filter, tested directly: WebAssembly code cannot make system calls, so these
 * tests put a hand-written "compiled program" in the cache that calls the kernel itself
 * in a task, inside the sandbox, as a bug in the runtime or the WASI layer might. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_helpers.h"
#include "harness/test.h"
#include "util/alloc.h"
#include "util/fs.h"
#include "wasmgrid.pb-c.h"

static const char program_template[] = "#include <stdint.h>\n"
				       "#include <sys/socket.h>\n"
				       "#include <unistd.h>\n"
				       "struct host { void *wasi; };\n"
				       "int wg_program_setup(void);\n"
				       "int wg_program_run(struct host *h);\n"
				       "int wg_program_setup(void)\n"
				       "{\n"
				       "	return 0;\n"
				       "}\n"
				       "int wg_program_run(struct host *h)\n"
				       "{\n"
				       "	%s;\n"
				       "	return 0;\n"
				       "}\n";

/* Builds the program doing `action` into the cache as the program `hash`, and runs it. */
static void run_forbidden(const char *action, const char *hash, struct task_result *r)
{
	const char *dir = wg_test_tmpdir();
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wg_engine *e;
	struct wg_engine_options o = {.data_dir = dir};
	CHECK(wg_engine_create(&loop, &o, &e) == 0); /* makes DATA/cache/KEY */

	char *src = wg_path_join(dir, "forbidden.c");
	char *text = wg_asprintf(program_template, action);
	CHECK(wg_write_file_atomic(src, text, strlen(text), 0600) == 0);
	char *cmd = wg_asprintf("cd %s/cache/* && cc -shared -fPIC -o %s.so %s && "
				"b2sum -l 256 %s.so | cut -c1-64 | tr -d '\\n' > %s.so.b2",
				dir, hash, src, hash, hash);
	CHECK_EQ(system(cmd), 0);

	const char *addresses[] = {"/nonexistent"};
	struct wg_engine_task t = test_task(addresses, hash, NULL, 0);
	memset(r, 0, sizeof *r);
	CHECK(wg_engine_submit(e, &t, NULL, test_on_done, r) == 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(r->done, 1);
	wg_engine_free(e);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	free(cmd);
	free(text);
	free(src);
}

TEST_SLOW(sandbox_kills_a_task_that_opens_a_socket, 60)
{
	struct task_result r;
	run_forbidden("socket(AF_INET, SOCK_STREAM, 0)",
		      "1111111111111111111111111111111111111111111111111111111111111111", &r);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__RUNNING_ERROR);
	CHECK_STREQ(r.detail, "killed by the sandbox (forbidden system call)");
	test_result_free(&r);
}

TEST_SLOW(sandbox_kills_a_task_that_forks, 60)
{
	struct task_result r;
	run_forbidden("fork()", "2222222222222222222222222222222222222222222222222222222222222222",
		      &r);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__RUNNING_ERROR);
	CHECK_STREQ(r.detail, "killed by the sandbox (forbidden system call)");
	test_result_free(&r);
}

TEST_SLOW(sandbox_lets_the_runtime_exit_normally, 60)
{
	/* The control: the same harness with a harmless action completes. */
	struct task_result r;
	run_forbidden("(void)h", "3333333333333333333333333333333333333333333333333333333333333333",
		      &r);
	CHECK_MSG(r.kind == 0, "kind %d: %s", r.kind, r.detail);
	test_result_free(&r);
}
