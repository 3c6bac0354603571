/* What a user gets back from the CLI: `submit --results` prints the results once the job
 * ends, `results --output-dir` writes each result to its own file, byte for byte (binary
 * ones included), `--quorum` reaches the job, and `wasmgrid run` keeps its cache in the
 * user's cache directory, not in the current one. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "e2e/cluster.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "util/fs.h"

#define TILE0 "-2 -1 0 1 24 12 60"
#define TILE1 "0 -1 1 1 24 12 60"

TEST_SLOW(cli_submit_results_output_dir_and_quorum, 180)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	pid_t w1 = e2e_worker_start("w1", addr, NULL);
	pid_t w2 = e2e_worker_start("w2", addr, NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 2, 20000));

	/* --results: the job id, then one line per task; the summary says how to get them. */
	struct wg_buf out = {0}, err = {0};
	CHECK_EQ(wg_test_run(&out, &err, "submit", e2e_program("increment"), "--arg", "41", "--arg",
			     "1", "--results", "--api", m.api, NULL),
		 0);
	CHECK_STREQ(wg_buf_cstr(&out), "1\n0 completed 42\n1 completed 2\n");
	CHECK_CONTAINS(wg_buf_cstr(&err), "wasmgrid results 1");

	/* --quorum: two replicas that must agree, shown by status. */
	out.len = err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "submit", e2e_program("mandelbrot"), "--arg", TILE0,
			     "--arg", TILE1, "--redundancy", "2", "--quorum", "2", "--wait",
			     "--api", m.api, NULL),
		 0);
	CHECK_STREQ(wg_buf_cstr(&out), "2\n");
	out.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "status", "2", "--json", "--api", m.api, NULL), 0);
	CHECK_CONTAINS(wg_buf_cstr(&out), "\"quorum\":2");
	out.len = err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "submit", e2e_program("increment"), "--arg", "1",
			     "--redundancy", "2", "--quorum", "3", "--api", m.api, NULL),
		 2);
	CHECK_CONTAINS(wg_buf_cstr(&err), "--quorum");

	/* --output-dir: each result in its own file, the same bytes as a local run. */
	const char *dir = wg_test_path("tiles");
	out.len = err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "results", "2", "--output-dir", dir, "--api", m.api, NULL),
		 0);
	CHECK_CONTAINS(wg_buf_cstr(&out), "2 results written to");
	const char *tiles[] = {TILE0, TILE1};
	for (int i = 0; i < 2; i++) {
		char name[16];
		snprintf(name, sizeof name, "%d", i);
		char *path = wg_path_join(dir, name);
		uint8_t *data = NULL;
		size_t len = 0;
		CHECK_EQ(wg_read_file(path, 1 << 20, &data, &len), 0);
		struct wg_buf local = {0};
		CHECK_EQ(wg_test_run(&local, NULL, "run", e2e_program("mandelbrot"), tiles[i],
				     "--data", wg_test_path("run-data"), NULL),
			 0);
		CHECK_EQ(len, local.len);
		CHECK(memcmp(data, local.data, len) == 0);
		CHECK(len > 15 && memcmp(data, "P5\n24 12\n255\n", 13) == 0);
		wg_buf_free(&local);
		free(data);
		free(path);
	}
	wg_buf_free(&out);
	wg_buf_free(&err);
	wg_test_stop(w1, SIGTERM, 10000);
	wg_test_stop(w2, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

TEST(cli_run_keeps_its_cache_in_the_users_cache_directory)
{
	const char *home = wg_test_path("home"), *cwd = wg_test_path("cwd");
	CHECK_EQ(mkdir(home, 0700), 0);
	CHECK_EQ(mkdir(cwd, 0700), 0);
	CHECK_EQ(chdir(cwd), 0);
	setenv("HOME", home, 1);
	unsetenv("XDG_CACHE_HOME");
	struct wg_buf out = {0};
	CHECK_EQ(wg_test_run(&out, NULL, "run", e2e_program("increment"), "5", NULL), 0);
	CHECK_STREQ(wg_buf_cstr(&out), "6\n");
	struct stat st;
	CHECK(stat("wasmgrid-data", &st) != 0);
	char *cache = wg_path_join(home, ".cache/wasmgrid");
	CHECK(stat(cache, &st) == 0 && S_ISDIR(st.st_mode));
	free(cache);
	/* XDG_CACHE_HOME wins when set. */
	const char *xdg = wg_test_path("xdg");
	setenv("XDG_CACHE_HOME", xdg, 1);
	out.len = 0;
	CHECK_EQ(wg_test_run(&out, NULL, "run", e2e_program("increment"), "5", NULL), 0);
	cache = wg_path_join(xdg, "wasmgrid");
	CHECK(stat(cache, &st) == 0 && S_ISDIR(st.st_mode));
	free(cache);
	wg_buf_free(&out);
}
