/* `make demo` (tools/demo.sh): the README's first command runs a manager, one worker per
 * core and a real job, shows its results and stops everything; it fails when the job does
 * not give every result. Run here against the binaries under test. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "harness/proc.h"
#include "harness/test.h"

TEST_SLOW(e2e_make_demo_runs_a_job_to_every_result_and_stops_cleanly, 300)
{
	const char *root = wg_test_source_root();
	CHECK_MSG(root, "the source tree was not found above %s", wg_test_bindir());
	char script[PATH_MAX + 32];
	snprintf(script, sizeof script, "%s/tools/demo.sh", root);
	struct wg_buf out = {0}, err = {0};
	const char *argv[] = {"bash", script, wg_test_bindir(), NULL};
	int status = wg_test_run_program(&out, &err, argv);
	const char *text = wg_buf_cstr(&out);
	if (status != 0)
		fprintf(stderr, "%s\n%s\n", text, wg_buf_cstr(&err));
	CHECK_MSG(status == 0, "the demo failed (exit %d)", status);
	CHECK_CONTAINS(text, "workers (one per core)");
	CHECK_CONTAINS(text, "300 of 300 tasks completed");
	CHECK_CONTAINS(text, "300 of 300 tasks completed with a result");
	/* The workers left with ManagerBye and the manager stopped. */
	CHECK_CONTAINS(text, "it said ManagerBye");
	CHECK_CONTAINS(text, "manager stopped");
	wg_buf_free(&out);
	wg_buf_free(&err);
}
