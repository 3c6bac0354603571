/* The command line itself: version, help, unknown commands. */
#include <string.h>

#include "harness/proc.h"
#include "harness/test.h"
#include "util/version.h"

TEST(cli_version_help_and_unknown_commands)
{
	struct wg_buf out = {0}, err = {0};
	CHECK_EQ(wg_test_run(&out, &err, "--version", NULL), 0);
	CHECK_STREQ(wg_buf_cstr(&out), "wasmgrid " WG_VERSION "\n");
	out.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "help", NULL), 0);
	const char *help = wg_buf_cstr(&out);
	const char *commands[] = {"manager", "worker", "workers", "submit", "status",
				  "wait",    "results", "cancel", "run",     "--token-file"};
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		CHECK_CONTAINS(help, commands[i]);
	out.len = err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "frobnicate", NULL), 2);
	CHECK_CONTAINS(wg_buf_cstr(&err), "unknown command 'frobnicate'");
	wg_buf_free(&out);
	wg_buf_free(&err);
}
